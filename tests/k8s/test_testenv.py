"""The test environment is a real, correctly configured API server.

These tests pin down what later tests rely on: the pinned version, the
trivy-operator CRDs served with paging, and ServiceAccount tokens that RBAC
judges like any other caller.
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

from tests.k8s.testenv import KubeTestEnv

PINNED_KUBERNETES_VERSION = "v1.34.3"
TRIVY_GROUP_VERSION = "aquasecurity.github.io/v1alpha1"
READ_VULNERABILITY_REPORTS = {
    "apiGroups": ["aquasecurity.github.io"],
    "resources": ["vulnerabilityreports"],
    "verbs": ["get", "list"],
}


def fresh_namespace(kube_env: KubeTestEnv) -> str:
    """A namespace no other test uses: deletion never completes without a controller-manager."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube_env.create_namespace(name)
    return name


def vulnerability_report(name: str) -> dict[str, Any]:
    """A minimal VulnerabilityReport that passes the CRD's schema."""
    return {
        "apiVersion": TRIVY_GROUP_VERSION,
        "kind": "VulnerabilityReport",
        "metadata": {"name": name, "labels": {"trivy-operator.resource.kind": "ReplicaSet"}},
        "report": {
            "updateTimestamp": "2026-11-23T02:00:00Z",
            "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "0.60.0"},
            "registry": {"server": "index.docker.io"},
            "artifact": {"repository": "library/nginx", "tag": "1.27"},
            "os": {"family": "debian", "name": "12.8"},
            "summary": {
                "criticalCount": 0,
                "highCount": 1,
                "mediumCount": 0,
                "lowCount": 0,
                "unknownCount": 0,
                "noneCount": 0,
            },
            "vulnerabilities": [
                {
                    "vulnerabilityID": "CVE-2026-0001",
                    "resource": "openssl",
                    "installedVersion": "3.0.15",
                    "fixedVersion": "3.0.16",
                    "severity": "HIGH",
                    "title": "example",
                    "primaryLink": "",
                    "score": 7.5,
                    "target": "",
                    "publishedDate": "2026-01-01T00:00:00Z",
                    "lastModifiedDate": "2026-01-02T00:00:00Z",
                }
            ],
        },
    }


def bind_role(kube_env: KubeTestEnv, namespace: str, service_account: str, rules: list[dict[str, Any]]) -> None:
    """Grant a ServiceAccount these rules through a Role and RoleBinding of the same name."""
    rbac = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}"
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": service_account}}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": service_account},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": service_account},
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
    }
    for path, obj in ((f"{rbac}/roles", {**role, "rules": rules}), (f"{rbac}/rolebindings", binding)):
        status, body = kube_env.request("POST", path, obj)
        assert status == 201, body


def test_version_endpoint_reports_the_pinned_release(kube_env: KubeTestEnv) -> None:
    status, version = kube_env.request("GET", "/version")

    assert status == 200
    assert version["gitVersion"] == PINNED_KUBERNETES_VERSION
    assert version["gitTreeState"] == "clean"


def test_every_trivy_crd_is_established(kube_env: KubeTestEnv, trivy_crd_paths: list[Path]) -> None:
    _, crds = kube_env.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")

    trivy = [crd for crd in crds["items"] if crd["spec"]["group"] == "aquasecurity.github.io"]
    assert len(trivy) == len(trivy_crd_paths)
    for crd in trivy:
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions.get("Established") == "True", crd["metadata"]["name"]


def test_vulnerability_reports_list_page_by_page(kube_env: KubeTestEnv) -> None:
    namespace = fresh_namespace(kube_env)
    collection = f"/apis/{TRIVY_GROUP_VERSION}/namespaces/{namespace}/vulnerabilityreports"
    created = {f"replicaset-app-{i}-nginx" for i in range(5)}
    for name in created:
        status, body = kube_env.request("POST", collection, vulnerability_report(name))
        assert status == 201, body

    listed: list[str] = []
    pages = 0
    continue_token = ""
    while True:
        query = urllib.parse.urlencode({"limit": 2, **({"continue": continue_token} if continue_token else {})})
        status, page = kube_env.request("GET", f"{collection}?{query}")
        assert status == 200, page
        pages += 1
        listed += [item["metadata"]["name"] for item in page["items"]]
        continue_token = page["metadata"].get("continue", "")
        if not continue_token:
            break

    assert pages == 3
    assert sorted(listed) == sorted(created)


def test_service_account_token_authenticates_but_cannot_read_secrets(kube_env: KubeTestEnv) -> None:
    namespace = fresh_namespace(kube_env)
    kube_env.create_service_account(namespace, "reader")
    token = kube_env.sa_token(namespace, "reader")

    status, review = kube_env.request(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        token=token,
    )
    assert status == 201, review
    assert review["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:reader"

    status, denial = kube_env.request("GET", f"/api/v1/namespaces/{namespace}/secrets", token=token)
    assert status == 403, denial
    assert denial["reason"] == "Forbidden"


def test_self_subject_rules_review_reflects_a_role_binding(kube_env: KubeTestEnv) -> None:
    namespace = fresh_namespace(kube_env)
    kube_env.create_service_account(namespace, "exporter")
    bind_role(kube_env, namespace, "exporter", [READ_VULNERABILITY_REPORTS])
    token = kube_env.sa_token(namespace, "exporter")

    status, review = kube_env.request(
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {"namespace": namespace}},
        token=token,
    )

    assert status == 201, review
    granted = {
        (group, resource, verb)
        for rule in review["status"]["resourceRules"]
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule["verbs"]
    }
    assert {("aquasecurity.github.io", "vulnerabilityreports", verb) for verb in ("get", "list")} <= granted
    assert not {triple for triple in granted if triple[1] == "secrets"}
    assert review["status"]["incomplete"] is False


def test_kubeconfigs_work_with_kubectl(kube_env: KubeTestEnv, k8s_bin_dir: Path, tmp_path: Path) -> None:
    namespace = fresh_namespace(kube_env)
    kube_env.create_service_account(namespace, "viewer")
    sa_kubeconfig = kube_env.sa_kubeconfig(namespace, "viewer", tmp_path / "viewer.kubeconfig")

    def whoami(kubeconfig: Path) -> str:
        result = subprocess.run(
            [str(k8s_bin_dir / "kubectl"), "--kubeconfig", str(kubeconfig), "auth", "whoami", "-o", "json"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return str(json.loads(result.stdout)["status"]["userInfo"]["username"])

    assert whoami(kube_env.kubeconfig) == "testenv-admin"
    assert whoami(sa_kubeconfig) == f"system:serviceaccount:{namespace}:viewer"
