"""The CronJob's pod on a real kube-apiserver with the admission a cluster runs: Pod Security and ServiceAccount.

A server of its own, with the ServiceAccount admission plugin on (the shared test server turns it off, see
testenv.py), so what a kubelet would mount is decided here exactly as in a cluster. PodSecurity is on by default
in kube-apiserver 1.34; the namespace carries the labels playbooks/pre.yaml gives it (read from the role's task).
Pods are created for real: nothing schedules or runs them, but admission has spoken when the server stores one.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.testenv import KubeTestEnv

REPO = Path(__file__).resolve().parents[2]
NAMESPACE_TASK = REPO / "playbooks" / "roles" / "report_exporter" / "tasks" / "namespace.yaml"
TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
_NAMES = itertools.count()


@pytest.fixture(scope="module")
def cluster(k8s_bin_dir: Path) -> Iterator[KubeTestEnv]:
    with KubeTestEnv(k8s_bin_dir, extra_apiserver_args=["--disable-admission-plugins="]) as env:
        yield env


def namespace_labels() -> dict[str, str]:
    """The labels the playbooks give the namespace (static values: nothing to template)."""
    (task,) = yaml.safe_load(NAMESPACE_TASK.read_text())
    labels = task["kubernetes.core.k8s"]["definition"]["metadata"]["labels"]
    assert all("{{" not in value for value in labels.values())
    return dict(labels)


@pytest.fixture(scope="module")
def namespace(cluster: KubeTestEnv) -> str:
    """A namespace as pre.yaml makes it, with the ServiceAccount the CronJob names."""
    name = "report-exporter-pss"
    status, body = cluster.request("POST", "/api/v1/namespaces", {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": namespace_labels()},
    })  # fmt: skip
    assert status == 201, body
    cluster.create_service_account(name, "report-exporter")
    return name


def cronjob_pod(namespace: str) -> dict[str, Any]:
    template = yaml.safe_load((REPO / "cronjob" / "cronjob.yaml").read_text())["spec"]["jobTemplate"]["spec"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"report-exporter-{next(_NAMES)}", "namespace": namespace,
                         "labels": template["template"]["metadata"]["labels"]},
            "spec": copy.deepcopy(template["template"]["spec"])}  # fmt: skip


def create(cluster: KubeTestEnv, pod: dict[str, Any], *, dry_run: bool = False) -> tuple[int, Any]:
    query = "?fieldValidation=Strict" + ("&dryRun=All" if dry_run else "")
    return cluster.request("POST", f"/api/v1/namespaces/{pod['metadata']['namespace']}/pods{query}", pod)


def test_the_namespace_enforces_pod_security_restricted() -> None:
    labels = namespace_labels()
    assert {mode: labels.get(f"pod-security.kubernetes.io/{mode}") for mode in ("enforce", "audit", "warn")} == {
        "enforce": "restricted", "audit": "restricted", "warn": "restricted"
    }  # fmt: skip


def test_the_cronjob_pod_is_admitted_under_restricted(cluster: KubeTestEnv, namespace: str) -> None:
    status, body = create(cluster, cronjob_pod(namespace))
    assert status == 201, body
    stored = cluster.request("GET", f"/api/v1/namespaces/{namespace}/pods/{body['metadata']['name']}")
    assert stored.status == 200, "created for real, not a dry run"


@pytest.mark.parametrize("dry_run", [False, True], ids=["created", "dry-run"])
@pytest.mark.parametrize(
    "breach",
    ["privilege escalation", "root allowed", "capabilities kept", "no seccomp profile", "host path"],
)
def test_a_pod_that_breaks_restricted_is_refused(
    cluster: KubeTestEnv, namespace: str, breach: str, dry_run: bool
) -> None:
    """What proves the admission runs (on dry runs too) and that the labels make it refuse, not merely warn."""
    pod = cronjob_pod(namespace)
    spec = pod["spec"]
    uploader = spec["containers"][0]
    if breach == "privilege escalation":
        uploader["securityContext"]["allowPrivilegeEscalation"] = True
    elif breach == "root allowed":
        del spec["securityContext"]["runAsNonRoot"]
    elif breach == "capabilities kept":
        del uploader["securityContext"]["capabilities"]
    elif breach == "no seccomp profile":
        del spec["securityContext"]["seccompProfile"]
    else:
        spec["volumes"].append({"name": "host", "hostPath": {"path": "/etc"}})
    status, body = create(cluster, pod, dry_run=dry_run)
    assert status == 403, body
    assert 'violates PodSecurity "restricted:latest"' in body["message"]


def test_only_the_getter_has_the_service_account_token(cluster: KubeTestEnv, namespace: str) -> None:
    """With the ServiceAccount admission on, as in a cluster: no token is injected, the getter keeps its own."""
    status, pod = create(cluster, cronjob_pod(namespace))
    assert status == 201, pod
    (getter,), (uploader,) = pod["spec"]["initContainers"], pod["spec"]["containers"]
    assert [m["name"] for m in getter["volumeMounts"] if m["mountPath"] == TOKEN_PATH] == ["kube-api-access"]
    assert not any(m["mountPath"].startswith("/var/run/secrets") for m in uploader["volumeMounts"])
    assert not [v["name"] for v in pod["spec"]["volumes"] if v["name"].startswith("kube-api-access-")]


def test_without_the_opt_out_the_admission_would_give_the_uploader_a_token(
    cluster: KubeTestEnv, namespace: str
) -> None:
    """The control: the same pod without automountServiceAccountToken: false gets the token in every container."""
    pod = cronjob_pod(namespace)
    del pod["spec"]["automountServiceAccountToken"]
    status, body = create(cluster, pod, dry_run=True)
    assert status == 201, body
    assert any(m["mountPath"] == TOKEN_PATH for m in body["spec"]["containers"][0]["volumeMounts"])
