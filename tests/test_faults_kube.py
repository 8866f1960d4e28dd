"""The Kubernetes API's rows of the fault matrix (docs/reliability.md), through the command line: `report-exporter
run` against the Kubernetes stand-in (tests/kube_standin.py) serving the bundled sample cluster, a directory archive
and the DefectDojo stand-in. The getter's own tests (tests/test_getter_cluster.py) prove each fault at the getter;
these prove the night around it: the exit code, the run archived (partial when a kind failed), the families of a
failed kind held in DefectDojo with none of their findings closed, no traceback and no token printed, and the next
night complete.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.archive import runs as archived
from exporter.archive.filestore import FileStore
from exporter.catalog import CATALOG, Scanner
from exporter.filesource import FileScan, iter_report_objects
from exporter.samples import sample_cluster_dir
from tests.cli_outcomes import CliOutcome, assert_clean, invoke, isolate_environment
from tests.dojo_standin import DojoStandin
from tests.kube_standin import KubeStandin, ServedResource, StandinFactory

KUBE_TOKEN = "kube-token-never-printed-4c1d"
DOJO_TOKEN = "dojo-token-never-printed-9e2b"
AGGREGATED = "vulnerabilitymanifests"  # kubescape's aggregated API server (storage), not a CRD


@pytest.fixture
def cluster() -> Iterator[KubeStandin]:
    """The bundled sample as a cluster serves it: CRDs for trivy-operator, kubescape's aggregated storage."""
    factory = StandinFactory()
    standin = factory([ServedResource(k.group, k.version, k.plural, k.kind, k.namespaced,
                                      list_items_carry_type=k.scanner is Scanner.TRIVY) for k in CATALOG],
                      token=KUBE_TOKEN)  # fmt: skip
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for kind, obj in iter_report_objects(sample_cluster_dir(), FileScan()):
        by_kind[kind.plural].append(dict(obj))
    for plural, objects in by_kind.items():
        standin.add_objects(plural, objects)
    yield standin
    factory.close_all()


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_environment(monkeypatch, tmp_path)


@pytest.fixture
def dojo() -> Iterator[DojoStandin]:
    with DojoStandin(token=DOJO_TOKEN) as standin:
        yield standin


class Nights:
    def __init__(self, tmp_path: Path, cluster: KubeStandin, dojo: DojoStandin) -> None:
        self.tmp_path, self.cluster, self.dojo, self.count = tmp_path, cluster, dojo, 0
        self.archive = (tmp_path / "archive").as_uri()
        config = tmp_path / "settings.yaml"
        config.write_text(yaml.safe_dump({
            "cluster": "night", "log_format": "json",
            "kube": {"kubeconfig": str(cluster.write_kubeconfig(tmp_path / "kubeconfig")), "page_size": 5,
                     "retries": 2, "backoff_factor": 0},
            "archive": {"destination": self.archive}, "dojo": {"url": dojo.url, "retries": 1, "backoff_factor": 0},
        }))  # fmt: skip
        self.config = str(config)

    def night(self) -> CliOutcome:
        if self.count:
            time.sleep(1.1)  # run ids sort by their start second
        self.count += 1
        outcome = invoke(["run", "--out", str(self.tmp_path / "runs"), "--config", self.config],
                         env={"DD_API_KEY": DOJO_TOKEN})  # fmt: skip
        assert_clean(outcome, KUBE_TOKEN, DOJO_TOKEN)
        return outcome

    def latest(self) -> dict[str, Any]:
        store = FileStore(self.archive)
        return archived.read_archived_manifest(store, "night", archived.list_runs(store, "night")[-1].run_id)

    def kinds(self) -> dict[str, str]:
        return {entry["plural"]: entry["status"] for entry in self.latest()["kinds"]}

    def active_by_test(self) -> dict[str, int]:
        titles = {test["id"]: test["title"] for test in self.dojo.tests()}
        counts: dict[str, int] = defaultdict(int)
        for finding in self.dojo.findings(active=True):
            counts[titles[finding["test"]]] += 1
        return dict(counts)


@pytest.fixture
def nights(tmp_path: Path, cluster: KubeStandin, dojo: DojoStandin) -> Nights:
    return Nights(tmp_path, cluster, dojo)


RETRIED: dict[str, Callable[[KubeStandin], Any]] = {
    "429 with Retry-After on a list page": lambda c: c.fail("vulnerabilityreports", 429, retry_after=1, on_page=2,
                                                             body="text"),
    "410 Expired on a continue page": lambda c: c.expire_continue("vulnerabilityreports"),
    "503 from the aggregated API, twice": lambda c: c.fail(AGGREGATED, 503, times=2),
    "a connection reset on a continue page, once": lambda c: c.reset_continue("configauditreports", times=1),
}  # fmt: skip


@pytest.mark.parametrize("fault", RETRIED)
def test_a_transient_api_fault_is_retried_and_the_night_completes(nights: Nights, fault: str) -> None:
    RETRIED[fault](nights.cluster)
    night = nights.night()
    assert night.code == 0, night.stderr
    assert set(nights.kinds().values()) == {"complete"}
    if not fault.startswith("410"):
        assert night.events("kube_retry"), "the fault was met, and said in a warning"
    else:
        [entry] = [e for e in nights.latest()["kinds"] if e["plural"] == "vulnerabilityreports"]
        assert entry["list_restarts"] == 1 and entry["objects"] == 12


PERSISTENT: dict[str, tuple[str, str, Callable[[KubeStandin], Any]]] = {
    "503 from the aggregated API on every page": (AGGREGATED, "kubescape/vulnerability",
                                                  lambda c: c.fail(AGGREGATED, 503, times=100)),
    "a connection reset on every continue page": ("configauditreports", "trivy-operator/config-audit",
                                                  lambda c: c.reset_continue("configauditreports")),
    "500 after the first page (etcd timing out)": ("vulnerabilityreports", "trivy-operator/vulnerability",
                                                   lambda c: c.fail_after_pages("vulnerabilityreports", 1)),
}  # fmt: skip


@pytest.mark.parametrize("fault", PERSISTENT)
def test_a_kind_failing_for_good_is_archived_partial_and_its_findings_stay_open(nights: Nights, fault: str) -> None:
    plural, family, inject = PERSISTENT[fault]
    assert nights.night().code == 0
    before = nights.active_by_test()
    inject(nights.cluster)
    night = nights.night()
    assert night.code == 3, night.stderr
    assert {kind: status for kind, status in nights.kinds().items() if status == "failed"} == {plural: "failed"}
    assert any(family in line["message"] for line in night.events("dojo_held")), night.events("dojo_held")
    assert nights.active_by_test() == before, "no finding closed for want of the kind that could not be read"
    assert night.events("upload_finished") and nights.latest()["status"] == "partial"
    nights.cluster.clear_faults()
    again = nights.night()
    assert again.code == 0, again.stderr
    assert nights.active_by_test() == before
