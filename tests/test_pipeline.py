"""The night as the CronJob runs it: a partial night is archived and imported with its failed families held, and
`report-exporter run` ends exactly as the getter and uploader containers do in sequence.

The cluster is the HTTP stand-in serving the bundled sample, the archive a directory, DefectDojo the stand-in that
parses like DefectDojo's parsers; tests/k8s/test_cronjob_night_real.py runs the same night on the real servers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from exporter.archive import runs as archived
from exporter.archive.filestore import FileStore
from exporter.catalog import CATALOG, Scanner
from exporter.cli import app
from exporter.filesource import FileScan, iter_report_objects
from exporter.samples import sample_cluster_dir
from tests.dojo_standin import DojoStandin
from tests.kube_standin import KubeStandin, ServedResource, StandinFactory

TOKEN = "pipeline-token"
CLUSTER = "night"
TRIVY = Scanner.TRIVY


@pytest.fixture
def dojo() -> Iterator[DojoStandin]:
    with DojoStandin(token=TOKEN) as standin:
        yield standin


@pytest.fixture
def sample_cluster() -> Iterator[KubeStandin]:
    """Every catalog kind served as a cluster serves it, holding the bundled sample's objects."""
    factory = StandinFactory()
    resources = [
        ServedResource(
            k.group, k.version, k.plural, k.kind, k.namespaced, list_items_carry_type=k.scanner is Scanner.TRIVY
        )
        for k in CATALOG
    ]
    standin = factory(resources)
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for kind, obj in iter_report_objects(sample_cluster_dir(), FileScan()):
        by_kind[kind.plural].append(dict(obj))
    for plural, objects in by_kind.items():
        standin.add_objects(plural, objects)
    yield standin
    factory.close_all()


class Night:
    """Runs the CLI as the CronJob's containers or as `run`, against one cluster, archive and DefectDojo."""

    def __init__(self, tmp_path: Path, cluster: KubeStandin, dojo: DojoStandin) -> None:
        self.tmp_path = tmp_path
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.archive = (tmp_path / "archive").as_uri()
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        config = tmp_path / "config.yaml"
        config.write_text(json.dumps({"kube": {"retries": 0, "backoff_factor": 0, "page_size": 50},
                                      "dojo": {"retries": 1, "backoff_factor": 0}}))  # fmt: skip
        self.env = {
            "KUBECONFIG": str(kubeconfig), "REPORT_EXPORTER_CONFIG": str(config), "REPORT_EXPORTER_CLUSTER": CLUSTER,
            "REPORT_EXPORTER_ARCHIVE": self.archive, "DD_URL": dojo.url, "DD_API_KEY": TOKEN,
            "REPORT_EXPORTER_LOG_FORMAT": "json",
        }  # fmt: skip
        self.nights = 0

    def invoke(self, *arguments: str) -> Result:
        return CliRunner().invoke(app, list(arguments), env=self.env)

    def containers(self) -> tuple[int, int | None]:
        """The getter (init container), then, only if it exited 0, the uploader: the kubelet's rule."""
        data = self._data_dir()
        getter = self.invoke("get", "--out", str(data), "--exit-zero-on-manifest")
        if getter.exit_code != 0:
            return getter.exit_code, None
        return 0, self.invoke("upload", "--from", str(data)).exit_code

    def run(self) -> Result:
        return self.invoke("run", "--out", str(self._data_dir()))

    def archived_runs(self) -> list[archived.ArchivedRun]:
        return archived.list_runs(FileStore(self.archive), CLUSTER)

    def latest_manifest(self) -> dict[str, Any]:
        store = FileStore(self.archive)
        return archived.read_archived_manifest(store, CLUSTER, self.archived_runs()[-1].run_id)

    def _data_dir(self) -> Path:
        """A fresh emptyDir per pod."""
        self.nights += 1
        return self.tmp_path / f"pod-{self.nights}"


@pytest.fixture
def night(tmp_path: Path, sample_cluster: KubeStandin, dojo: DojoStandin) -> Night:
    return Night(tmp_path, sample_cluster, dojo)


def active_by_test(dojo: DojoStandin) -> dict[str, int]:
    titles = {test["id"]: test["title"] for test in dojo.tests()}
    counts: dict[str, int] = defaultdict(int)
    for finding in dojo.findings(active=True):
        counts[titles[finding["test"]]] += 1
    return dict(counts)


def test_a_forbidden_kind_is_archived_as_failed_and_its_findings_stay_open(
    night: Night, sample_cluster: KubeStandin, dojo: DojoStandin
) -> None:
    assert night.containers() == (0, 0), "a complete night"
    before = active_by_test(dojo)
    config_audit = {title: count for title, count in before.items() if title.startswith("config-audit ")}
    assert config_audit and sum(config_audit.values()) > 10, "the sample has config audit findings to lose"

    sample_cluster.forbid("configauditreports", "list")
    assert night.containers() == (0, 3), "the getter hands over, the uploader says partial"
    manifest = night.latest_manifest()
    failed = {entry["plural"]: entry["error"] for entry in manifest["kinds"] if entry["status"] == "failed"}
    assert list(failed) == ["configauditreports"] and "lacks the RBAC verb 'list'" in failed["configauditreports"]
    assert [run.complete for run in night.archived_runs()] == [True, True], "the partial night is archived"
    assert active_by_test(dojo) == before, "no finding was closed for the kind that could not be read"


def test_the_families_that_were_read_reach_dojo_on_a_partial_night(
    night: Night, sample_cluster: KubeStandin, dojo: DojoStandin
) -> None:
    sample_cluster.forbid("configauditreports", "list")
    assert night.containers() == (0, 3)
    engagements = {engagement["id"]: engagement["name"] for engagement in dojo.engagements()}
    families = {(engagements[test["engagement"]], test["title"].split(" ")[0]) for test in dojo.tests()}
    assert families == {
        ("trivy-operator", "vulnerability"),
        ("trivy-operator", "exposed-secret"),
        ("trivy-operator", "rbac-assessment"),
        ("trivy-operator", "infra-assessment"),
        ("trivy-operator", "compliance"),
        ("kubescape", "vulnerability"),
        ("kubescape", "config-audit"),
    }, "every family that was read arrives; trivy-operator's config-audit is held, not sent empty"
    assert dojo.findings(active=True), "findings of the other families were imported"


def test_a_getter_that_cannot_reach_the_api_stops_the_pod_and_nothing_is_archived(
    night: Night, sample_cluster: KubeStandin
) -> None:
    sample_cluster.close()
    assert night.containers() == (1, None)
    assert not (night.tmp_path / "archive").exists(), "the uploader never ran"


@pytest.mark.parametrize("fault", ["none", "forbidden kind", "dojo down", "unfetched payload"])
def test_run_ends_exactly_like_the_two_containers_in_sequence(
    tmp_path: Path, sample_cluster: KubeStandin, dojo: DojoStandin, fault: str
) -> None:
    if fault == "forbidden kind":
        sample_cluster.forbid("rbacassessmentreports", "list")
    elif fault == "dojo down":
        dojo.down()
    elif fault == "unfetched payload":
        sample_cluster.strip_spec_in_list("vulnerabilitymanifests", honour_full_spec=False)
        sample_cluster.forbid("vulnerabilitymanifests", "get")
    as_containers = Night(tmp_path / "containers", sample_cluster, dojo)
    in_one_process = Night(tmp_path / "process", sample_cluster, dojo)
    getter, uploader = as_containers.containers()
    ran = in_one_process.run()
    assert getter == 0 and ran.exit_code == uploader, ran.stderr[-2000:]
    expected = {"none": 0, "forbidden kind": 3, "dojo down": 3, "unfetched payload": 3}[fault]
    assert uploader == expected
    statuses = [(entry["plural"], entry["status"]) for entry in as_containers.latest_manifest()["kinds"]]
    assert statuses == [(entry["plural"], entry["status"]) for entry in in_one_process.latest_manifest()["kinds"]]


def test_the_nights_summary_is_archived_beside_the_manifest_and_its_metrics_written(
    night: Night, sample_cluster: KubeStandin, tmp_path: Path
) -> None:
    sample_cluster.forbid("configauditreports", "list")
    data = tmp_path / "pod"
    assert night.invoke("get", "--out", str(data), "--exit-zero-on-manifest").exit_code == 0
    metrics_file = tmp_path / "night.prom"
    assert night.invoke("upload", "--from", str(data), "--metrics-file", str(metrics_file)).exit_code == 3
    run = night.archived_runs()[-1]
    store = FileStore(night.archive)
    summary = json.loads(store.get_bytes(f"{CLUSTER}/runs/{run.run_id[:4]}/{run.run_id[4:6]}/{run.run_id[6:8]}/"
                                         f"{run.run_id}/summary.json"))  # fmt: skip
    assert (summary["run_id"], summary["outcome"], summary["failed_kinds"]) == (run.run_id, "partial",
                                                                               ["configauditreports"])  # fmt: skip
    assert summary["findings"]["new"]["critical"] > 0 and summary["dojo"]["tests"]["held"] == 1
    text = metrics_file.read_text()
    assert 'report_exporter_night_outcome{cluster="night",outcome="partial"} 1.0' in text
    assert "report_exporter_last_complete_night_timestamp_seconds" not in text, "a partial night is not complete"
