"""The getter and its least-privilege RBAC, proven against a real kube-apiserver with etcd.

Trivy-operator's kinds are its real CRDs. Kubescape's kinds are served by an aggregated API server in real
clusters; here CRDs with the same group, version, names and scope stand in for it (the "list without payload,
then GET" path of that server is covered against the HTTP stand-in in tests/test_getter_cluster.py).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.catalog import CATALOG, ReportKind, Scanner, resolve
from exporter.config import load_settings
from exporter.errors import ExitCode
from exporter.filesource import FileScan, iter_report_objects
from exporter.getter import GetResult, get_from_cluster
from exporter.kube.listing import collection_path
from exporter.pipeline import run_outcome
from exporter.progress import JsonReporter
from exporter.rundir import reader
from exporter.samples import sample_cluster_dir
from samplegen import synthetic
from tests.k8s.reports import create_report, kubescape_crd
from tests.k8s.testenv import KubeTestEnv

REPO = Path(__file__).resolve().parents[2]
RBAC = REPO / "cronjob" / "rbac.yaml"
NAMESPACES = ("team-00", "team-01", "team-02")
VULNS = resolve("vulnerabilityreports")
MANY = 2_000
NOT_INSTALLED = "sbomsyftfiltereds"  # a kind whose CRD is left out: the getter must call it absent


def server_objects(env: KubeTestEnv, kind: ReportKind) -> dict[tuple[str, str], dict[str, Any]]:
    """What the API serves for a kind, in one unpaged admin list, managedFields dropped as the contract says."""
    status, body = env.request("GET", collection_path(kind))
    assert status == 200, body
    served = {}
    for item in body["items"]:
        item["metadata"].pop("managedFields", None)
        served[(item["metadata"].get("namespace", ""), item["metadata"]["name"])] = item
    return served


@pytest.fixture(scope="session")
def report_cluster(kube_env: KubeTestEnv, tmp_path_factory: pytest.TempPathFactory) -> KubeTestEnv:
    """The bundled sample cluster (every kind, several namespaces, cluster scope) plus MANY VulnerabilityReports."""
    crd_dir = tmp_path_factory.mktemp("kubescape-crds")
    crds = [kubescape_crd(k) for k in CATALOG if k.scanner is Scanner.KUBESCAPE and k.plural != NOT_INSTALLED]
    (crd_dir / "kubescape.yaml").write_text(yaml.safe_dump_all(crds))
    kube_env.apply_crds([crd_dir / "kubescape.yaml"])
    sample = [(kind, obj) for kind, obj in iter_report_objects(sample_cluster_dir(), FileScan())
              if kind.plural != NOT_INSTALLED]  # fmt: skip
    many = [(VULNS, synthetic.vulnerability_report(NAMESPACES[i % 3], i, target_bytes=6_000)) for i in range(MANY)]
    namespaces = {obj["metadata"]["namespace"] for _, obj in sample + many if obj["metadata"].get("namespace")}
    for namespace in sorted(namespaces):
        if kube_env.request("GET", f"/api/v1/namespaces/{namespace}").status == 404:
            kube_env.create_namespace(namespace)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda pair: create_report(kube_env, *pair), sample + many))
    return kube_env


Get = Callable[..., GetResult]


@pytest.fixture
def get(tmp_path: Path) -> Get:
    def run(kubeconfig: Path, **flags: Any) -> GetResult:
        settings = load_settings(environ={}, flags={"kube.kubeconfig": kubeconfig, **flags})
        return get_from_cluster(settings, tmp_path / "out", JsonReporter(io.StringIO()))

    return run


def test_get_with_small_pages_returns_exactly_what_the_api_serves(report_cluster: KubeTestEnv, get: Get) -> None:
    result = get(report_cluster.kubeconfig, **{"kube.page_size": 50})
    assert run_outcome(result.manifest).exit_code is ExitCode.OK, result.manifest
    assert reader.verify(result.run_dir) == []
    entries = {entry["plural"]: entry for entry in result.manifest["kinds"]}
    assert entries["vulnerabilityreports"]["objects"] >= MANY
    assert entries[NOT_INSTALLED]["status"] == "absent"
    for kind in CATALOG:
        if kind.plural == NOT_INSTALLED:
            continue
        stored = list(reader.iter_objects(result.run_dir, entries[kind.plural]))
        assert all(obj["apiVersion"] == kind.api_version and obj["kind"] == kind.kind for obj in stored)
        by_key = {(obj["metadata"].get("namespace", ""), obj["metadata"]["name"]): obj for obj in stored}
        assert len(by_key) == len(stored), f"{kind.plural}: an object was written twice"
        assert by_key == server_objects(report_cluster, kind), kind.plural
    assert result.manifest["kubernetes_version"] == "v1.34.3"


@pytest.fixture(scope="session")
def exporter_account(report_cluster: KubeTestEnv) -> str:
    """The shipped ServiceAccount, ClusterRole and binding, applied as a user would apply cronjob/rbac.yaml."""
    if report_cluster.request("GET", "/api/v1/namespaces/report-exporter").status == 404:
        report_cluster.create_namespace("report-exporter")
    report_cluster.apply_rbac(RBAC)
    report_cluster.create_service_account("report-exporter", "unbound")
    return report_cluster.sa_token("report-exporter", "report-exporter")


def test_the_service_account_runs_get_completely_through_the_cli(
    report_cluster: KubeTestEnv, exporter_account: str, tmp_path: Path
) -> None:
    kubeconfig = report_cluster.sa_kubeconfig("report-exporter", "report-exporter", tmp_path / "sa.kubeconfig")
    completed = subprocess.run(
        [sys.executable, "-m", "exporter", "get", "--out", str(tmp_path / "out"), "--kubeconfig", str(kubeconfig),
         "--page-size", "200", "--log-format", "json"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    manifest = reader.read_manifest(Path(completed.stdout.strip()))
    statuses = {entry["plural"]: entry["status"] for entry in manifest["kinds"]}
    assert statuses.pop(NOT_INSTALLED) == "absent"
    assert set(statuses.values()) == {"complete"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/namespaces/shop/secrets",
        "/api/v1/secrets",
        "/api/v1/namespaces/shop/configmaps",
        "/api/v1/pods",
        "/apis/apps/v1/deployments",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    ],
)
def test_the_service_account_can_read_nothing_else(
    report_cluster: KubeTestEnv, exporter_account: str, path: str
) -> None:
    assert report_cluster.request("GET", path, token=exporter_account).status == 403


def test_the_service_account_cannot_write_reports(report_cluster: KubeTestEnv, exporter_account: str) -> None:
    path = "/apis/aquasecurity.github.io/v1alpha1/namespaces/shop/vulnerabilityreports"
    body = {"apiVersion": "aquasecurity.github.io/v1alpha1", "kind": "VulnerabilityReport",
            "metadata": {"name": "injected"}, "report": {}}  # fmt: skip
    assert report_cluster.request("POST", path, body, token=exporter_account).status == 403


def _rules(env: KubeTestEnv, token: str) -> set[tuple[str, str, str]]:
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {"namespace": "shop"}}
    status, body = env.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", review, token=token)
    assert status == 201, body
    return {
        (group, resource, verb)
        for rule in body["status"]["resourceRules"]
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule["verbs"]
    }


def test_rules_review_shows_exactly_get_and_list_on_the_catalog(
    report_cluster: KubeTestEnv, exporter_account: str
) -> None:
    baseline = _rules(report_cluster, report_cluster.sa_token("report-exporter", "unbound"))
    granted = _rules(report_cluster, exporter_account) - baseline
    assert granted == {(k.group, k.plural, verb) for k in CATALOG for verb in ("get", "list")}


@pytest.fixture(scope="session")
def partial_account(report_cluster: KubeTestEnv) -> Iterator[tuple[str, str]]:
    """A ServiceAccount whose role forgot configauditreports: the kind must fail, naming the permission."""
    namespace, name = "report-exporter", "forgetful"
    report_cluster.create_service_account(namespace, name)
    rules = yaml.safe_load_all(RBAC.read_text())
    role = next(doc for doc in rules if doc["kind"] == "ClusterRole")
    role["metadata"]["name"] = name
    for rule in role["rules"]:
        rule["resources"] = [r for r in rule["resources"] if r != "configauditreports"]
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
               "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]}  # fmt: skip
    for path, body in (("clusterroles", role), ("clusterrolebindings", binding)):
        status, answer = report_cluster.request("POST", f"/apis/rbac.authorization.k8s.io/v1/{path}", body)
        assert status == 201, answer
    yield namespace, name


def test_a_kind_the_token_may_not_list_fails_and_the_run_is_partial(
    report_cluster: KubeTestEnv, partial_account: tuple[str, str], get: Get, tmp_path: Path
) -> None:
    kubeconfig = report_cluster.sa_kubeconfig(*partial_account, tmp_path / "forgetful.kubeconfig")
    result = get(kubeconfig, **{"filters.exclude_kinds": ["vulnerabilityreports"]})
    entries = {entry["plural"]: entry for entry in result.manifest["kinds"]}
    failed = entries["configauditreports"]
    assert failed["status"] == "failed"
    assert "lacks the RBAC verb 'list' on resource 'configauditreports'" in failed["error"]
    assert 'cannot list resource "configauditreports"' in failed["error"]
    assert entries["clusterconfigauditreports"]["status"] == "complete"
    assert run_outcome(result.manifest).exit_code is ExitCode.PARTIAL
    assert json.loads((result.run_dir / "manifest.json").read_text())["status"] == "partial"


def test_in_cluster_the_service_account_token_is_used(
    report_cluster: KubeTestEnv, exporter_account: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the CronJob's pod sees: KUBERNETES_SERVICE_HOST/PORT and the mounted token and CA, no kubeconfig."""
    from kubernetes.config import incluster_config

    assert report_cluster._pki is not None
    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text(exporter_account)
    ca.write_bytes(report_cluster._pki.ca_cert.read_bytes())
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(report_cluster.port))
    settings = load_settings(environ={}, flags={"kube.in_cluster": True, "filters.kinds": ["configauditreports"]})
    result = get_from_cluster(settings, tmp_path / "out", JsonReporter(io.StringIO()))
    assert run_outcome(result.manifest).exit_code is ExitCode.OK
    assert result.manifest["source"]["server"] == f"https://127.0.0.1:{report_cluster.port}"
    assert result.manifest["kinds"][0]["objects"] > 0


def test_check_reports_every_kind_the_service_account_may_read(
    report_cluster: KubeTestEnv, exporter_account: str, partial_account: tuple[str, str], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from exporter.cli import app

    archive = (tmp_path / "archive").as_uri()
    good = report_cluster.sa_kubeconfig("report-exporter", "report-exporter", tmp_path / "good.kubeconfig")
    result = CliRunner().invoke(app, ["check", "--kubeconfig", str(good), "--archive", archive, "--log-format", "json"],
                                env={"DD_URL": ""})  # fmt: skip
    rows = [line.split() for line in result.stdout.splitlines()]
    kube = [row for row in rows if row[0] == "kubernetes"]
    assert len(kube) == 2 * len(CATALOG) and all(row[3] == "ok" for row in kube), result.stdout
    archive_rows = [row for row in rows if row[0] == "archive"]
    assert len(archive_rows) == 4 and all("ok" in row and "FAILED" not in row for row in archive_rows)
    assert any(row[0] == "defectdojo" and "skipped" in row for row in rows)
    assert result.exit_code == 0, result.stdout

    forgetful = report_cluster.sa_kubeconfig(*partial_account, tmp_path / "forgetful.kubeconfig")
    result = CliRunner().invoke(app, ["check", "--kubeconfig", str(forgetful), "--log-format", "json"])
    failed = [line for line in result.stdout.splitlines() if " FAILED " in line]
    assert [line.split()[2] for line in failed] == ["configauditreports.aquasecurity.github.io"] * 2
    assert all("apply cronjob/rbac.yaml" in line for line in failed)
    assert result.exit_code == 1
