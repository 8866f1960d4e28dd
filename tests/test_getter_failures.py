"""When the getter gives up, against the HTTP stand-in of the Kubernetes API: a list whose continue token keeps
expiring is restarted `kube.max_list_restarts` times, not forever; an API that is gone for good fails the kinds not
listed yet at once, each saying so, instead of each waiting out its own retries."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.config import Settings
from exporter.getter import GetResult, get_from_cluster
from exporter.progress import JsonReporter
from tests.kube_standin import KubeStandin, StandinFactory
from tests.report_objects import vulnerability_report
from tests.test_getter_cluster import entry, served

REPORTS = "vulnerabilityreports"
KINDS = [REPORTS, "configauditreports", "exposedsecretreports", "rbacassessmentreports", "infraassessmentreports"]


@pytest.fixture
def cluster() -> Iterator[KubeStandin]:
    """Seven VulnerabilityReports and three ConfigAuditReports, listed two a page."""
    standins = StandinFactory()
    standin = standins(served())
    standin.add_objects(REPORTS, [vulnerability_report(f"ns{i % 3}", f"r{i}") for i in range(7)])
    audit = [{**vulnerability_report("ns0", f"a{i}"), "kind": "ConfigAuditReport"} for i in range(3)]
    standin.add_objects("configauditreports", audit)
    yield standin
    standins.close_all()


def get(cluster: KubeStandin, tmp_path: Path, settings_with: Callable[..., Settings], reporter: JsonReporter,
        **flags: Any) -> GetResult:  # fmt: skip
    kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
    settings = settings_with(kube__kubeconfig=kubeconfig, kube__page_size=2, kube__retries=1, kube__backoff_factor=0,
                             filters__kinds=KINDS, **flags)  # fmt: skip
    return get_from_cluster(settings, tmp_path / "out", reporter)


@pytest.mark.parametrize("restarts", [0, 2])
def test_a_list_that_keeps_expiring_is_restarted_max_list_restarts_times_then_failed(
    cluster: KubeStandin, tmp_path: Path, settings_with: Callable[..., Settings], restarts: int
) -> None:
    cluster.expire_continue(REPORTS, times=20)
    result = get(cluster, tmp_path, settings_with, JsonReporter(io.StringIO()), kube__max_list_restarts=restarts)
    failed = entry(result, REPORTS)
    assert (failed["status"], failed["list_restarts"]) == ("failed", restarts)
    assert f"the list expired (410 Gone) {restarts + 1} times" in failed["error"]
    expired = [r for r in cluster.requests if r.path.endswith(f"/{REPORTS}") and r.status == 410]
    assert len(expired) == restarts + 1, "one first page and one expired continue per attempt, then it gives up"
    assert entry(result, "configauditreports")["status"] == "complete", "the next kinds are listed as usual"


def test_a_list_that_expires_fewer_times_than_allowed_completes(
    cluster: KubeStandin, tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    cluster.expire_continue(REPORTS, times=2)
    result = get(cluster, tmp_path, settings_with, JsonReporter(io.StringIO()), kube__max_list_restarts=2)
    assert (entry(result, REPORTS)["status"], entry(result, REPORTS)["objects"]) == ("complete", 7)
    assert entry(result, REPORTS)["list_restarts"] == 2


class _ApiGoneAfter(JsonReporter):
    """Shuts the stand-in down for good as soon as `kind` is listed: the API is lost between two kinds."""

    def __init__(self, cluster: KubeStandin, kind: str) -> None:
        self.log = io.StringIO()
        super().__init__(self.log)
        self.cluster, self.kind = cluster, kind

    def kind_finished(self, name: str, status: str, objects: int, detail: str = "") -> None:
        super().kind_finished(name, status, objects, detail)
        if name == self.kind:
            self.cluster.close()


def test_when_the_api_is_really_gone_the_remaining_kinds_are_failed_as_not_listed(
    cluster: KubeStandin, tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    reporter = _ApiGoneAfter(cluster, REPORTS)
    result = get(cluster, tmp_path, settings_with, reporter)
    statuses = {e["plural"]: (e["status"], e.get("error") or "") for e in result.manifest["kinds"]}
    assert statuses.pop(REPORTS) == ("complete", "")
    first_failed, error = statuses.pop("configauditreports")
    assert first_failed == "failed" and error.startswith("cannot reach the Kubernetes API"), error
    assert set(statuses) == set(KINDS[2:])
    for plural, (status, error) in statuses.items():
        assert status == "failed" and error.startswith("not listed: cannot reach the Kubernetes API"), plural
    log = [json.loads(line) for line in reporter.log.getvalue().splitlines()]
    assert not any(line["event"] == "api_still_reachable" for line in log)
    assert result.manifest["status"] == "partial" and (result.run_dir / "manifest.json").is_file()
