"""deploy_operators.yaml with the operators' real Helm charts, onto a real kube-apiserver.

The charts are the ones their repositories publish (trivy-operator 0.34.0, kubescape-operator 1.40.3), from
../shared/charts: served as a chart repository on 127.0.0.1 (the role's default source, with its pinned versions)
and installed by path (a mirror's .tgz). Each source gets an empty cluster of its own: helm installs the charts'
CRDs itself, and kubescape's cluster-scoped objects (its APIService, webhook, ClusterRoles) can exist once only.

What the test cluster cannot do, and the choices it forces (none changes what is rendered):

* No kubelet or controllers run, so no Deployment or DaemonSet ever becomes ready: the runs set
  report_exporter_helm_wait false (the role then also leaves out --atomic, which would turn waiting back on).
* kubescape's storage is an aggregated API (APIService v1beta1.spdx.softwarecomposition.kubescape.io) whose
  Service has no endpoints here: the APIService is created and stays unavailable, so its report kinds are not
  served. That is also why this module has a cluster of its own: the getter's tests install kubescape's kinds as
  CRDs, whose automatic APIService of the same name would collide with the chart's.
"""

from __future__ import annotations

import functools
import http.server
import json
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.catalog import CATALOG, Scanner
from exporter.kube.listing import collection_path
from tests.k8s.testenv import KubeTestEnv
from tests.playbook_runner import PLAYBOOKS, REPO, PlaybookRun, run_playbook

HOST = "prod-eu-1"  # the example inventory's cluster
SHARED_CHARTS = REPO.parent / "shared" / "charts"
CHART_FILES = {"trivy-operator": "trivy-operator-0.34.0.tgz", "kubescape-operator": "kubescape-operator-1.40.3.tgz"}
APISERVICE = "v1beta1.spdx.softwarecomposition.kubescape.io"
# trivy-operator-config's OPERATOR_<scanner>_ENABLED: one per report family the exporter archives
TRIVY_SCANNERS = (
    "VULNERABILITY_SCANNER",
    "CONFIG_AUDIT_SCANNER",
    "RBAC_ASSESSMENT_SCANNER",
    "INFRA_ASSESSMENT_SCANNER",
    "EXPOSED_SECRET_SCANNER",
    "SBOM_GENERATION",
    "CLUSTER_COMPLIANCE",
)
KUBESCAPE_CAPABILITIES = {"configurationScan": "enable", "vulnerabilityScan": "enable", "relevancy": "enable",
                          "continuousScan": "disable"}  # fmt: skip


@dataclass(frozen=True)
class Source:
    """Where the charts come from, and the namespaces they go to."""

    name: str
    trivy_namespace: str
    kubescape_namespace: str

    def chart_vars(self, repository_url: str) -> dict[str, Any]:
        if self.name == "repository":  # names and pinned versions: the role's defaults
            return {"report_exporter_trivy_operator_chart_repo_url": repository_url,
                    "report_exporter_kubescape_operator_chart_repo_url": repository_url}  # fmt: skip
        return {
            "report_exporter_trivy_operator_chart_ref": str(SHARED_CHARTS / CHART_FILES["trivy-operator"]),
            "report_exporter_trivy_operator_chart_repo_url": "",
            "report_exporter_trivy_operator_chart_version": "",
            "report_exporter_kubescape_operator_chart_ref": str(SHARED_CHARTS / CHART_FILES["kubescape-operator"]),
            "report_exporter_kubescape_operator_chart_repo_url": "",
            "report_exporter_kubescape_operator_chart_version": "",
            "report_exporter_trivy_operator_namespace": self.trivy_namespace,
            "report_exporter_kubescape_operator_namespace": self.kubescape_namespace,
        }


# The mirror installs both operators into one namespace other than the defaults: kubescape's chart places its
# objects by its own ksNamespace value, which the role sets from the release namespace.
SOURCES = [Source("repository", "trivy-system", "kubescape"), Source("path", "security", "security")]


@dataclass(frozen=True)
class Deployment:
    source: Source
    cluster: KubeTestEnv
    runs: list[PlaybookRun]

    def get(self, path: str) -> dict[str, Any]:
        status, body = self.cluster.request("GET", path)
        assert status == 200, (path, body)
        return dict(body)

    def config_map(self, namespace: str, name: str) -> dict[str, str]:
        return dict(self.get(f"/api/v1/namespaces/{namespace}/configmaps/{name}")["data"])


@pytest.fixture(scope="module")
def shared_charts() -> Path:
    for chart in (*CHART_FILES.values(), "index.yaml"):
        if not (SHARED_CHARTS / chart).is_file():
            pytest.fail(f"{SHARED_CHARTS / chart} is missing: the operators' charts are shared next to the repository")
    return SHARED_CHARTS


@pytest.fixture(scope="module")
def chart_repository(shared_charts: Path) -> Iterator[str]:
    """../shared/charts as a Helm chart repository (its index.yaml) over HTTP on 127.0.0.1."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(shared_charts))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module", params=SOURCES, ids=lambda source: source.name)
def deployment(
    request: pytest.FixtureRequest, k8s_bin_dir: Path, helm_binary: Path, chart_repository: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:  # fmt: skip
    """deploy_operators.yaml twice onto an empty cluster, as on the first day and the next."""
    source: Source = request.param
    work = tmp_path_factory.mktemp(f"operators-{source.name}")
    extra = {
        "report_exporter_kubeconfig": "",  # set below, once the cluster runs
        "report_exporter_context": "",
        "report_exporter_helm_binary": str(helm_binary),
        "report_exporter_helm_wait": False,  # no kubelet: nothing would ever become ready
        **source.chart_vars(chart_repository),
    }
    # helm's repository cache and config stay in the work directory, not in ~/.cache/helm
    helm_env = {f"HELM_{kind}_HOME": str(work / f"helm-{kind.lower()}") for kind in ("CACHE", "CONFIG", "DATA")}
    with KubeTestEnv(k8s_bin_dir) as cluster:
        extra["report_exporter_kubeconfig"] = str(cluster.kubeconfig)
        runs = [run_playbook("deploy_operators.yaml", work, extra, env=helm_env, args=("-v",)) for _ in range(2)]
        for run in runs:
            assert run.returncode == 0, run.tail()
        yield Deployment(source, cluster, runs)


def test_both_charts_install_and_helm_reports_them_deployed(deployment: Deployment) -> None:
    for release, namespace in (("trivy-operator", deployment.source.trivy_namespace),
                               ("kubescape", deployment.source.kubescape_namespace)):  # fmt: skip
        assert f"changed: [{HOST}] => (item={release})" in deployment.runs[0].output
        path = f"/api/v1/namespaces/{namespace}/secrets?labelSelector=owner%3Dhelm,name%3D{release}"
        revisions = deployment.get(path)["items"]
        assert [item["metadata"]["labels"]["status"] for item in revisions] == ["deployed"], (
            "one revision, deployed: the second run upgraded nothing"
        )


def test_a_second_run_changes_nothing(deployment: Deployment) -> None:
    assert deployment.runs[1].changed(HOST) == 0, deployment.runs[1].tail()
    for release in ("trivy-operator", "kubescape"):
        assert f"ok: [{HOST}] => (item={release})" in deployment.runs[1].output


def test_trivy_operator_serves_every_report_kind_the_exporter_reads(deployment: Deployment) -> None:
    namespace = deployment.source.trivy_namespace
    deployment.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/trivy-operator")
    for kind in CATALOG:
        if kind.scanner is Scanner.TRIVY:  # the chart's own CRDs, installed by helm
            status, body = deployment.cluster.request("GET", collection_path(kind) + "?limit=1")
            assert status == 200, (kind.plural, body)


def test_trivy_operator_settings_follow_the_values_file(deployment: Deployment) -> None:
    namespace = deployment.source.trivy_namespace
    operator = deployment.config_map(namespace, "trivy-operator-config")
    assert operator["OPERATOR_SCANNER_REPORT_TTL"] == "48h", "the chart's default is 24h"
    assert operator["OPERATOR_CONCURRENT_SCAN_JOBS_LIMIT"] == "3", "the chart's default is 10"
    for scanner in TRIVY_SCANNERS:
        assert operator[f"OPERATOR_{scanner}_ENABLED"] == "true", scanner
    trivy = deployment.config_map(namespace, "trivy-operator-trivy-config")
    assert trivy["trivy.severity"] == "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL"
    assert "trivy.ignoreUnfixed" not in trivy, "false: unfixed vulnerabilities are reported"
    assert deployment.config_map(namespace, "trivy-operator")["vulnerabilityReports.scanner"] == "Trivy"


def test_kubescape_capabilities_follow_the_values_file(deployment: Deployment) -> None:
    namespace = deployment.source.kubescape_namespace
    document = json.loads(deployment.config_map(namespace, "ks-capabilities")["capabilities"])
    capabilities = {key: document["capabilities"][key] for key in KUBESCAPE_CAPABILITIES}
    assert capabilities == KUBESCAPE_CAPABILITIES
    components = document["components"]
    for component in ("kubescape", "kubevuln", "storage", "nodeAgent"):
        assert components[component]["enabled"] is True, component
    cluster_data = json.loads(deployment.config_map(namespace, "ks-cloud-config")["clusterData"])
    assert cluster_data["clusterName"] == HOST, "from report_exporter_cluster_name"
    assert cluster_data["namespace"] == namespace
    assert cluster_data["postureScanEnabled"] is True
    assert cluster_data["imageVulnerabilitiesScanningEnabled"] is True
    assert cluster_data["relevantImageVulnerabilitiesEnabled"] is True


def test_kubescape_workloads_and_storage_api_are_created_in_the_release_namespace(deployment: Deployment) -> None:
    namespace = deployment.source.kubescape_namespace
    for name in ("kubescape", "kubevuln", "operator", "storage"):
        deployment.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
    deployment.get(f"/apis/apps/v1/namespaces/{namespace}/daemonsets/node-agent")
    for name in ("kubescape-scheduler", "kubevuln-scheduler"):
        deployment.get(f"/apis/batch/v1/namespaces/{namespace}/cronjobs/{name}")
    api_service = deployment.get(f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}")
    assert api_service["spec"]["service"] == {"name": "storage", "namespace": namespace, "port": 443}
    # The exporter reads kubescape's report kinds from exactly this group and version
    assert {(kind.group, kind.version) for kind in CATALOG if kind.scanner is Scanner.KUBESCAPE} == {
        (api_service["spec"]["group"], api_service["spec"]["version"])
    }


@pytest.mark.parametrize("chart", sorted(CHART_FILES))
def test_the_values_file_names_only_keys_the_chart_has(shared_charts: Path, chart: str) -> None:
    """A misspelt key is ignored by helm without a word: every key set in playbooks/values/ must be a chart value."""
    with tarfile.open(shared_charts / CHART_FILES[chart]) as archive:
        member = archive.extractfile(f"{chart}/values.yaml")
        assert member is not None
        defaults = yaml.safe_load(member)
    ours = yaml.safe_load((PLAYBOOKS / "values" / f"{chart}.yaml").read_text())
    assert [key for key in leaf_keys(ours) if not has_key(defaults, key)] == []


def leaf_keys(values: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in values.items():
        if isinstance(value, dict) and value:
            yield from leaf_keys(value, (*prefix, key))
        else:
            yield (*prefix, key)


def has_key(values: Any, key: tuple[str, ...]) -> bool:
    for part in key:
        if not isinstance(values, dict) or part not in values:
            return False
        values = values[part]
    return True
