"""The playbooks against a real kube-apiserver, run as users run them (`ansible-playbook -i inventory ...`).

A server of its own, so "creates every object" starts from an empty cluster (with the report CRDs installed, as
the operators would have). The example inventory is used as shipped; extra vars point it at this server and give
it credentials. The operators' charts are stand-ins written here (a ConfigMap echoing the values): what is proven
is the helm wiring (chart source, values files merged with inline values, a disabled operator left alone,
idempotence) and the whole stack in order. The operators' real charts: tests/k8s/test_operators_real.py; the
credentials from a real Vault-API server: tests/k8s/test_vault_real.py.
"""

from __future__ import annotations

import base64
import functools
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.catalog import CATALOG, Scanner
from exporter.config import load_settings
from exporter.kube.listing import collection_path
from tests.k8s.reports import kubescape_crd
from tests.k8s.testenv import KubeTestEnv
from tests.playbook_runner import PLAYBOOKS, PlaybookRun, run_playbook

HOST = "prod-eu-1"  # the example inventory's cluster
NAMESPACE = "report-exporter"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIAPLAYBOOKTEST", "AWS_SECRET_ACCESS_KEY": "s3cr3t-never-printed",
               "DD_API_KEY": "dd-key-never-printed"}  # fmt: skip
CHARTS = {"trivy-operator": ("0.34.0", "0.32.0"), "kubescape-operator": ("1.40.3", "1.40.3")}
_VALUES_TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-values
data:
  values.yaml: |
{{ toYaml .Values | indent 4 }}
"""


@pytest.fixture(scope="module")
def cluster(
    k8s_bin_dir: Path, trivy_crd_paths: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KubeTestEnv]:
    crd_file = tmp_path_factory.mktemp("kubescape-crds") / "kubescape.yaml"
    crd_file.write_text(yaml.safe_dump_all([kubescape_crd(k) for k in CATALOG if k.scanner is Scanner.KUBESCAPE]))
    with KubeTestEnv(k8s_bin_dir) as env:
        env.apply_crds([*trivy_crd_paths, crd_file])
        yield env


@pytest.fixture(scope="module")
def base_vars(cluster: KubeTestEnv) -> dict[str, Any]:
    return {
        "report_exporter_kubeconfig": str(cluster.kubeconfig),
        "report_exporter_context": "",
        "report_exporter_credentials_source": "vars",
        "report_exporter_aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "report_exporter_aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "report_exporter_dd_api_key": CREDENTIALS["DD_API_KEY"],
    }


@pytest.fixture(scope="module")
def deployed(base_vars: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, PlaybookRun]:
    """pre.yaml then deploy_cron.yaml, each twice, as a user would on the first day and the next."""
    work = tmp_path_factory.mktemp("deploy")
    runs = {}
    for name in ("pre", "pre-again", "cron", "cron-again"):
        playbook = "pre.yaml" if name.startswith("pre") else "deploy_cron.yaml"
        runs[name] = run_playbook(playbook, work, base_vars, args=("-v",))
        assert runs[name].returncode == 0, runs[name].tail()
    return runs


def get(cluster: KubeTestEnv, path: str) -> dict[str, Any]:
    status, body = cluster.request("GET", path)
    assert status == 200, (path, body)
    return dict(body)


def test_pre_writes_the_credentials_secret_and_never_prints_it(
    cluster: KubeTestEnv, deployed: dict[str, PlaybookRun]
) -> None:
    secret = get(cluster, f"/api/v1/namespaces/{NAMESPACE}/secrets/report-exporter-credentials")
    assert {key: base64.b64decode(value).decode() for key, value in secret["data"].items()} == CREDENTIALS
    assert deployed["pre"].changed(HOST) == 2, "the namespace and the Secret"
    for run in deployed.values():
        for value in CREDENTIALS.values():
            assert value not in run.output


def test_pre_labels_the_namespace_to_enforce_pod_security_restricted(
    cluster: KubeTestEnv, deployed: dict[str, PlaybookRun]
) -> None:
    labels = get(cluster, f"/api/v1/namespaces/{NAMESPACE}")["metadata"]["labels"]
    assert {mode: labels.get(f"pod-security.kubernetes.io/{mode}") for mode in ("enforce", "audit", "warn")} == {
        "enforce": "restricted", "audit": "restricted", "warn": "restricted"
    }  # fmt: skip


def test_deploy_cron_creates_every_object(cluster: KubeTestEnv, deployed: dict[str, PlaybookRun]) -> None:
    cronjob = get(cluster, f"/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs/report-exporter")
    assert cronjob["spec"]["schedule"] == "30 2 * * *"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert {c["image"] for c in pod["initContainers"] + pod["containers"]} == {
        "registry.example.com/report-exporter:0.1.0"
    }
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "report-exporter-credentials"}}]
    get(cluster, f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/report-exporter")
    get(cluster, "/apis/rbac.authorization.k8s.io/v1/clusterroles/report-exporter-reader")
    binding = get(cluster, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/report-exporter-reader")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "report-exporter", "namespace": NAMESPACE}]
    policy = get(cluster, f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/networkpolicies/report-exporter")
    assert [peer["ipBlock"]["cidr"] for rule in policy["spec"]["egress"][1:] for peer in rule["to"]] == [
        "192.0.2.1/32", "192.0.2.10/32", "192.0.2.20/32"
    ]  # fmt: skip
    assert deployed["cron"].changed(HOST) == 1, "the apply task (a loop over the four manifests)"


def test_a_second_run_changes_nothing(deployed: dict[str, PlaybookRun]) -> None:
    assert deployed["pre-again"].changed(HOST) == 0, deployed["pre-again"].tail()
    assert deployed["cron-again"].changed(HOST) == 0, deployed["cron-again"].tail()


def test_the_deployed_settings_validate(cluster: KubeTestEnv, deployed: dict[str, PlaybookRun], tmp_path: Path) -> None:
    config_map = get(cluster, f"/api/v1/namespaces/{NAMESPACE}/configmaps/report-exporter")
    (tmp_path / "config.yaml").write_text(config_map["data"]["config.yaml"])
    settings = load_settings(config_file=tmp_path / "config.yaml", environ={})
    assert settings.cluster == HOST
    assert settings.archive.destination == "s3://security-reports/nightly"
    assert settings.dojo.url == "https://defectdojo.example.com"


def test_a_job_made_from_the_deployed_cronjob_is_accepted(
    cluster: KubeTestEnv, deployed: dict[str, PlaybookRun]
) -> None:
    template = get(cluster, f"/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs/report-exporter")["spec"]["jobTemplate"]
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "first-run", "namespace": NAMESPACE},
           "spec": template["spec"]}  # fmt: skip
    path = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs?dryRun=All&fieldValidation=Strict"
    status, body = cluster.request("POST", path, job)
    assert status == 201, body


def test_the_cronjob_service_account_lists_every_report_kind_and_reads_no_secret(
    cluster: KubeTestEnv, deployed: dict[str, PlaybookRun]
) -> None:
    token = cluster.sa_token(NAMESPACE, "report-exporter")
    for kind in CATALOG:
        status, body = cluster.request("GET", collection_path(kind) + "?limit=1", token=token)
        assert status == 200, (kind.plural, body)
    for path in (f"/api/v1/namespaces/{NAMESPACE}/secrets", "/api/v1/secrets", "/api/v1/configmaps"):
        assert cluster.request("GET", path, token=token).status == 403, path


def test_a_changed_variable_is_applied(
    cluster: KubeTestEnv, base_vars: dict[str, Any], deployed: dict[str, PlaybookRun], tmp_path: Path
) -> None:
    run = run_playbook("deploy_cron.yaml", tmp_path, {**base_vars, "report_exporter_schedule": "15 1 * * *"})
    assert run.returncode == 0, run.tail()
    assert run.changed(HOST) == 1
    assert get(cluster, f"/apis/batch/v1/namespaces/{NAMESPACE}/cronjobs/report-exporter")["spec"]["schedule"] == (
        "15 1 * * *"
    )
    run = run_playbook("deploy_cron.yaml", tmp_path, base_vars)
    assert run.returncode == 0 and run.changed(HOST) == 1, run.tail()


# ------------------------------------------------------------------------------------------------- operators


@pytest.fixture(scope="module")
def charts(helm_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both charts as local directories, and packaged into a chart repository directory (with index.yaml)."""
    root = tmp_path_factory.mktemp("charts")
    paths = {}
    for name, (version, app_version) in CHARTS.items():
        chart = root / name
        (chart / "templates").mkdir(parents=True)
        (chart / "Chart.yaml").write_text(
            yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version, "appVersion": app_version})
        )
        (chart / "templates" / "values.yaml").write_text(_VALUES_TEMPLATE)
        paths[name] = chart
    repo = root / "repo"
    for chart in paths.values():
        subprocess.run([str(helm_binary), "package", str(chart), "-d", str(repo)], check=True, capture_output=True)
    subprocess.run([str(helm_binary), "repo", "index", str(repo)], check=True, capture_output=True)
    return {**paths, "repo": repo}


@pytest.fixture(scope="module")
def chart_repository(charts: dict[str, Path]) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(charts["repo"]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def released_values(cluster: KubeTestEnv, namespace: str, release: str) -> dict[str, Any]:
    config_map = get(cluster, f"/api/v1/namespaces/{namespace}/configmaps/{release}-values")
    return dict(yaml.safe_load(config_map["data"]["values.yaml"]))


def local_chart_vars(charts: dict[str, Path], helm_binary: Path) -> dict[str, Any]:
    return {
        "report_exporter_helm_binary": str(helm_binary),
        "report_exporter_trivy_operator_chart_ref": str(charts["trivy-operator"]),
        "report_exporter_trivy_operator_chart_repo_url": "",
        "report_exporter_trivy_operator_chart_version": "",
        "report_exporter_kubescape_operator_chart_ref": str(charts["kubescape-operator"]),
        "report_exporter_kubescape_operator_chart_repo_url": "",
        "report_exporter_kubescape_operator_chart_version": "",
    }


@pytest.fixture(scope="module")
def operators(
    cluster: KubeTestEnv, base_vars: dict[str, Any], charts: dict[str, Path], helm_binary: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> list[PlaybookRun]:  # fmt: skip
    """deploy_operators.yaml from local chart directories (an air-gapped site's mirror), twice."""
    work = tmp_path_factory.mktemp("operators")
    extra = {**base_vars, **local_chart_vars(charts, helm_binary)}
    runs = [run_playbook("deploy_operators.yaml", work, extra) for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.tail()
    return runs


def test_deploy_operators_installs_both_charts_with_the_repository_values(
    cluster: KubeTestEnv, operators: list[PlaybookRun]
) -> None:
    trivy = released_values(cluster, "trivy-system", "trivy-operator")
    assert trivy == yaml.safe_load((PLAYBOOKS / "values" / "trivy-operator.yaml").read_text())
    kubescape = released_values(cluster, "kubescape", "kubescape")
    expected = yaml.safe_load((PLAYBOOKS / "values" / "kubescape-operator.yaml").read_text())
    assert kubescape == {**expected, "clusterName": HOST, "ksNamespace": "kubescape"}, (
        "values file merged with the inline values: the cluster name, and the chart's namespace set to the release's"
    )
    for release in ("trivy-operator", "kubescape"):
        assert f"changed: [{HOST}] => (item={release})" in operators[0].output


def test_deploy_operators_a_second_time_changes_nothing(operators: list[PlaybookRun]) -> None:
    assert operators[1].changed(HOST) == 0, operators[1].tail()
    for release in ("trivy-operator", "kubescape"):
        assert f"ok: [{HOST}] => (item={release})" in operators[1].output


def test_deploy_operators_from_a_chart_repository_url(
    cluster: KubeTestEnv, base_vars: dict[str, Any], chart_repository: str, helm_binary: Path,
    operators: list[PlaybookRun], tmp_path: Path,
) -> None:  # fmt: skip
    kubescape_path = "/api/v1/namespaces/kubescape/configmaps/kubescape-values"
    kubescape_before = get(cluster, kubescape_path)["metadata"]["resourceVersion"]
    extra = {
        **base_vars,
        "report_exporter_helm_binary": str(helm_binary),
        "report_exporter_kubescape_operator_enabled": False,
        "report_exporter_trivy_operator_release": "trivy-from-repo",
        "report_exporter_trivy_operator_namespace": "trivy-from-repo",
        "report_exporter_trivy_operator_chart_repo_url": chart_repository,
        "report_exporter_trivy_operator_values": {"operator": {"scanJobsConcurrentLimit": 1}},
    }
    run = run_playbook("deploy_operators.yaml", tmp_path, extra)
    assert run.returncode == 0, run.tail()
    values = released_values(cluster, "trivy-from-repo", "trivy-from-repo")
    assert values["operator"]["scanJobsConcurrentLimit"] == 1, "inline values win over the values file"
    assert values["operator"]["scannerReportTTL"] == "48h", "and are merged into it, not replacing it"
    assert get(cluster, kubescape_path)["metadata"]["resourceVersion"] == kubescape_before, "disabled: left alone"


def test_caas_runs_the_whole_stack_in_order_and_changes_nothing_deployed(
    base_vars: dict[str, Any], charts: dict[str, Path], helm_binary: Path, deployed: dict[str, PlaybookRun],
    operators: list[PlaybookRun], tmp_path: Path,
) -> None:  # fmt: skip
    run = run_playbook("caas.yaml", tmp_path, {**base_vars, **local_chart_vars(charts, helm_binary)})
    assert run.returncode == 0, run.tail()
    plays = [line for line in run.output.splitlines() if line.startswith("PLAY [")]
    assert [play.split("[")[1].split("]")[0] for play in plays] == [
        "Namespace and credentials for report-exporter", "Trivy and Kubescape operators",
        "The report-exporter CronJob",
    ]  # fmt: skip
    assert run.changed(HOST) == 0, run.tail()
