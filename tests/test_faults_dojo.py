"""DefectDojo's rows of the fault matrix (docs/reliability.md): the DefectDojo stand-in behind the fault proxy
(tests/fault_proxy.py), the archive a directory, nights run with `report-exporter run --from-files` as an operator
would. Each test injects one fault into a night that would change findings, and asserts what the product does: the
exit code, one error line naming the cause, the run archived and retention applied, no finding of a test that was not
imported closed, the next night completing, and the API key never printed.

The cluster: three namespaces with one Deployment each, four vulnerabilities apiece. A later night fixes one of them
everywhere, so a reimport closes exactly one finding per test: anything else closed is closed wrongly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.archive import runs as archived
from exporter.archive.filestore import FileStore
from tests.cli_outcomes import CliOutcome, assert_clean, invoke, isolate_environment
from tests.dojo_harness import cve, report
from tests.dojo_standin import DojoStandin, nginx_page
from tests.fault_proxy import FaultProxy

TOKEN = "dojo-token-never-printed-7f3a"
REIMPORT = r"^/api/v2/reimport-scan/$"
NAMESPACES = ("payments", "search", "shop")
CVES = [cve(f"CVE-2024-{n:04d}", f"pkg{n}") for n in range(4)]


def cluster(*, fixed: int = 0, big: int = 0) -> list[dict[str, Any]]:
    """One report per namespace, `fixed` vulnerabilities fixed everywhere; `big` more Deployments in shop with
    fifteen low vulnerabilities each (a document too large for one upload, split by workload)."""
    objects = [report(namespace, f"{namespace}-6d4cf56db6", *CVES[fixed:]) for namespace in NAMESPACES]
    extra = [cve(f"CVE-2023-{n:04d}", f"lib{n}", "LOW") for n in range(15)]
    return objects + [report("shop", f"worker{n}-6d4cf56db6", *extra) for n in range(big)]


class Nights:
    """Nights of one cluster into a directory archive (keep_last 1) and DefectDojo behind the proxy."""

    def __init__(self, tmp_path: Path, dojo: DojoStandin, proxy: FaultProxy) -> None:
        self.tmp_path, self.dojo, self.proxy = tmp_path, dojo, proxy
        self.archive = (tmp_path / "archive").as_uri()
        self.count = 0

    def night(self, objects: list[dict[str, Any]], **dojo: Any) -> CliOutcome:
        if self.count:
            time.sleep(1.1)  # run ids sort by their start second
        self.count += 1
        source = self.tmp_path / f"cluster-{self.count}"
        source.mkdir()
        (source / "reports.yaml").write_text(yaml.safe_dump_all(objects))
        config = self.tmp_path / "settings.yaml"
        dojo = {"url": self.proxy.url, "retries": 1, "backoff_factor": 0, "concurrency": 1, **dojo}
        archive = {"destination": self.archive, "retention": {"keep_last": 1}}
        settings = {"cluster": "prod", "log_format": "json", "archive": archive, "dojo": dojo}
        config.write_text(yaml.safe_dump(settings))
        outcome = invoke(["run", "--from-files", str(source), "--out", str(self.tmp_path / "runs"),
                          "--config", str(config)], env={"DD_API_KEY": TOKEN})  # fmt: skip
        assert_clean(outcome, TOKEN)
        return outcome

    def findings(self) -> dict[str, dict[str, bool]]:
        """Test title -> vulnerability id -> active, as DefectDojo holds them."""
        titles = {test["id"]: test["title"] for test in self.dojo.tests()}
        held: dict[str, dict[str, bool]] = {}
        for finding in self.dojo.findings():
            vulnerability = finding["vulnerability_ids"][0]["vulnerability_id"]
            held.setdefault(titles[finding["test"]], {})[vulnerability] = finding["active"]
        return held

    def archived(self) -> list[str]:
        return [f"{run.run_id} {run.status}" for run in archived.list_runs(FileStore(self.archive), "prod")]


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_environment(monkeypatch, tmp_path)


@pytest.fixture
def dojo() -> Iterator[DojoStandin]:
    with DojoStandin(token=TOKEN) as standin:
        yield standin


@pytest.fixture
def nights(tmp_path: Path, dojo: DojoStandin) -> Iterator[Nights]:
    with FaultProxy(dojo.url) as proxy:
        yield Nights(tmp_path, dojo, proxy)


def open_everywhere(*, fixed: int = 0) -> dict[str, dict[str, bool]]:
    """What DefectDojo holds when every test was reimported with `cluster(fixed=...)`."""
    return {f"vulnerability {namespace}": {c["vulnerabilityID"]: index >= fixed for index, c in enumerate(CVES)}
            for namespace in NAMESPACES}  # fmt: skip


def failed_tests(outcome: CliOutcome) -> list[str]:
    return [str(line["test"]) for line in outcome.events("dojo_failed")]


def title_of(key: str) -> str:
    """`trivy-operator/vulnerability/shop` -> `vulnerability shop`."""
    _, family, scope = key.split("#", 1)[0].split("/")
    return f"{family} {scope}"


def assert_archived_and_pruned(nights: Nights, outcome: CliOutcome) -> None:
    assert outcome.events("upload_finished"), "the run is archived whatever DefectDojo does"
    [pruned] = outcome.events("prune_finished")
    assert nights.archived() == [f"{Path(outcome.stdout.strip()).name} complete"], "retention ran: keep_last 1"
    assert pruned["deleted_runs"], pruned


def test_a_500_on_one_reimport_fails_that_test_alone_and_closes_none_of_its_findings(nights: Nights) -> None:
    assert nights.night(cluster()).code == 0
    nights.proxy.add(method="POST", path=REIMPORT, status=500, content_type="application/json",
                     body=b'{"message": "Internal server error"}', times=2)  # fmt: skip
    second = nights.night(cluster(fixed=1))
    assert second.code == 3, second.stderr
    [failed] = failed_tests(second)
    [error] = second.errors()
    assert "HTTP 500" in error and failed in error, error
    assert len(nights.proxy.hurt()) == 2, "retried once (dojo.retries 1), then given up"
    expected = open_everywhere(fixed=1) | {title_of(failed): open_everywhere()[title_of(failed)]}
    assert nights.findings() == expected, "only the tests DefectDojo imported closed their fixed finding"
    assert_archived_and_pruned(nights, second)
    third = nights.night(cluster(fixed=1))
    assert third.code == 0, third.stderr
    assert nights.findings() == open_everywhere(fixed=1), "the failed test is sent again the next night"


def test_a_429_with_retry_after_is_waited_for_and_the_night_completes(nights: Nights) -> None:
    nights.proxy.add(method="POST", path=REIMPORT, status=429, headers=(("Retry-After", "2"),),
                     content_type="application/json", body=b'{"detail": "Request was throttled."}')  # fmt: skip
    started = time.monotonic()
    night = nights.night(cluster())
    assert night.code == 0, night.stderr
    assert time.monotonic() - started >= 2
    assert nights.findings() == open_everywhere()


def test_a_reimport_done_but_its_answer_lost_is_sent_again_without_changing_the_outcome(nights: Nights) -> None:
    assert nights.night(cluster()).code == 0
    nights.proxy.add(method="POST", path=REIMPORT, reset_response_after=0)
    second = nights.night(cluster(fixed=1))
    assert second.code == 0, second.stderr
    reimports = [request for request in nights.dojo.requests if request.path == "/api/v2/reimport-scan/"]
    assert len(reimports) == 3 + 4, "three the first night, four the second: one of them twice"
    assert nights.findings() == open_everywhere(fixed=1)


def test_an_answer_cut_short_fails_the_test_and_the_next_night_sends_it_again(nights: Nights) -> None:
    assert nights.night(cluster()).code == 0
    nights.proxy.add(method="POST", path=REIMPORT, truncate_response=10)
    second = nights.night(cluster(fixed=1))
    assert second.code == 3, second.stderr
    [failed] = failed_tests(second)
    assert_archived_and_pruned(nights, second)
    third = nights.night(cluster(fixed=1))
    assert third.code == 0 and failed not in json.dumps(third.events("dojo_failed")), third.stderr
    assert nights.findings() == open_everywhere(fixed=1)


def test_a_413_for_a_large_document_fails_that_test_and_a_lower_max_document_bytes_gets_it_through(
    nights: Nights,
) -> None:
    nights.proxy.add(method="POST", path=REIMPORT, min_body=60_000, status=413, content_type="text/html",
                     body=nginx_page(413), times=None)  # fmt: skip
    first = nights.night(cluster(big=40))
    assert first.code == 3, first.stderr
    assert failed_tests(first) == ["trivy-operator/vulnerability/shop"]
    [error] = first.errors()
    assert "the document is too large (413); lower dojo.max_document_bytes" in error, error
    assert set(nights.findings()) == {"vulnerability payments", "vulnerability search"}
    second = nights.night(cluster(big=40), max_document_bytes=40_000)
    assert second.code == 0, second.stderr
    parts = {test["id"] for test in nights.dojo.tests() if test["title"].startswith("vulnerability shop (part ")}
    shop = [finding for finding in nights.dojo.findings(active=True) if finding["test"] in parts]
    assert len(parts) > 1 and len(shop) == 4 + 40 * 15, "split into parts, every finding sent"


def test_a_non_json_answer_fails_the_test_and_the_next_night_sends_it_again(nights: Nights) -> None:
    assert nights.night(cluster()).code == 0
    nights.proxy.add(method="POST", path=REIMPORT, status=200, content_type="text/html",
                     body=b"<html><body>Please log in</body></html>")  # fmt: skip
    second = nights.night(cluster(fixed=1))
    assert second.code == 3, second.stderr
    [failed] = failed_tests(second)
    [error] = second.errors()
    assert "with non-JSON" in error, error
    assert nights.findings()[title_of(failed)] == open_everywhere()[title_of(failed)]
    third = nights.night(cluster(fixed=1))
    assert third.code == 0, third.stderr
    assert nights.findings() == open_everywhere(fixed=1)


def test_a_json_answer_that_is_no_reimport_result_is_not_taken_for_an_import(nights: Nights) -> None:
    """A 200 with JSON that names no test (a gateway's or maintenance page's answer) did not import anything: the
    test must count as failed and be sent again, not be recorded as accepted and skipped as unchanged for good."""
    assert nights.night(cluster()).code == 0
    nights.proxy.add(method="POST", path=REIMPORT, status=200, content_type="application/json",
                     body=b'{"status": "maintenance"}')  # fmt: skip
    second = nights.night(cluster(fixed=1))
    assert second.code == 3, "DefectDojo imported nothing for one test: the night is not complete"
    third = nights.night(cluster(fixed=1))
    assert third.code == 0, third.stderr
    assert nights.findings() == open_everywhere(fixed=1), "the fixed finding of that test is closed, at the latest now"


GARBAGE_PAGE = b'{"count": 1, "next": null, "results": "garbage"}'


def test_garbage_in_a_list_answer_fails_the_sync_in_words_and_retention_still_runs(nights: Nights) -> None:
    assert nights.night(cluster()).code == 0
    nights.proxy.add(method="GET", path=r"^/api/v2/tests/", status=200, content_type="application/json",
                     body=GARBAGE_PAGE, times=None)  # fmt: skip
    second = nights.night(cluster(fixed=1))
    assert second.code == 3, second.stderr
    assert second.errors() and all(error.startswith("DefectDojo") for error in second.errors()), second.errors()
    assert nights.findings() == open_everywhere(), "nothing closed on a night DefectDojo's answers made no sense"
    assert_archived_and_pruned(nights, second)


def test_garbage_in_a_list_answer_is_one_line_from_dojo_sync_too(nights: Nights) -> None:
    """`dojo sync` has no night around it to catch what the sync did not foresee: a list answer of the wrong shape
    must still end as DefectDojo errors in words (exit 3), not a TypeError's traceback (exit 1)."""
    assert nights.night(cluster()).code == 0
    nights.proxy.add(method="GET", path=r"^/api/v2/tests/", status=200, content_type="application/json",
                     body=GARBAGE_PAGE, times=None)  # fmt: skip
    source, config = nights.tmp_path / "fixed", str(nights.tmp_path / "settings.yaml")
    source.mkdir()
    (source / "reports.yaml").write_text(yaml.safe_dump_all(cluster(fixed=1)))
    got = invoke(["get", "--from-files", str(source), "--out", str(nights.tmp_path / "fixed-runs"), "--config", config])
    assert got.code == 0, got.stderr
    synced = invoke(["dojo", "sync", got.stdout.strip(), "--config", config], env={"DD_API_KEY": TOKEN})
    assert_clean(synced, TOKEN)
    assert synced.code == 3 and synced.errors(), synced.stderr
    assert nights.findings() == open_everywhere()


@pytest.mark.parametrize("fault", ["reset", "hang"])
def test_a_dojo_that_resets_or_hangs_is_given_up_on_quickly_and_retention_runs(nights: Nights, fault: str) -> None:
    """Connection refused (DefectDojo down) is tests/test_dojo_sync.py::test_dojo_down_archives_the_run_and_exits_
    non_zero; these are a DefectDojo that takes the connection and resets it, or never answers (dojo.timeout 1 s)."""
    assert nights.night(cluster()).code == 0
    if fault == "reset":
        nights.proxy.add(reset_request_after=0, times=None)
    else:
        nights.proxy.add(delay=30, times=None)
    started = time.monotonic()
    second = nights.night(cluster(fixed=1), timeout=1, max_connection_failures=3)
    elapsed = time.monotonic() - started
    assert second.code == 3, second.stderr
    assert elapsed < 20, elapsed
    assert len(nights.proxy.hurt()) <= 3 * 2, "the breaker opened after 3 failed calls of 2 attempts each"
    assert second.events("dojo_unreachable")
    assert nights.findings() == open_everywhere()
    assert_archived_and_pruned(nights, second)
