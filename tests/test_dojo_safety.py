"""DefectDojo closes only what is known to be fixed, and never churns: the sync against the stand-in.

- the mass-close valve holds a reimport that would close too many of a test's (or the cluster's) findings;
- tests the state promises are checked, one list call per engagement, and sent again when DefectDojo lost them;
- an outage costs a few attempts, not every test's retry budget, and leaves the state and the archive standing.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3.util.connection
from typer.testing import CliRunner

from exporter import pipeline
from exporter.archive import keys
from exporter.cli import app
from exporter.config import load_settings
from exporter.dojo.client import DojoClient, DojoUnreachableError
from exporter.errors import DojoError
from exporter.getter import get_from_files
from exporter.progress import JsonReporter
from exporter.samples import sample_cluster_dir
from tests.dojo_harness import TOKEN, Harness, cve, events, report, shop
from tests.dojo_standin import DojoStandin

SHOP = "trivy-operator/vulnerability/shop"
PAYMENTS = "trivy-operator/vulnerability/payments"
CVES = [cve(f"CVE-2024-{n:04d}", f"pkg{n}") for n in range(10)]
HELD_SUFFIX = ": held; pass --allow-mass-close if that is right"


def state_of(harness: Harness) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(harness.store.get_bytes(keys.dojo_state_key("prod")))
    return document["tests"]


def rewrite_state(harness: Harness, change: Any) -> None:
    document = json.loads(harness.store.get_bytes(keys.dojo_state_key("prod")))
    for entry in document["tests"].values():
        change(entry)
    harness.store.put_bytes(json.dumps(document).encode(), keys.dojo_state_key("prod"))


# --- (10) the mass-close valve ---------------------------------------------------------------------------------


def test_a_reimport_closing_most_of_a_test_is_held_and_closes_nothing(harness: Harness) -> None:
    harness.sync([shop(*CVES)])
    reimports = harness.reimports()
    result = harness.sync([shop(*CVES[:2])])
    assert result.valve_held == [f"{SHOP} would close 8 of 10 findings (80 % > 50 %){HELD_SUFFIX}"]
    assert result.reimported == [] and harness.reimports() == reimports
    assert len(harness.dojo.findings(active=True)) == 10 and harness.dojo.findings(active=False) == []
    [held] = events(harness, "dojo_mass_close_held")
    assert held["level"] == "error" and held["test"] == SHOP and "8 of 10" in held["message"]
    again = harness.sync([shop(*CVES[:2])])
    assert again.valve_held == result.valve_held, "held until allowed: the state still holds the last accepted test"


def test_allow_mass_close_sends_what_the_valve_would_hold(harness: Harness) -> None:
    harness.sync([shop(*CVES)])
    result = harness.sync([shop(*CVES[:2])], allow_mass_close=True)
    assert result.valve_held == [] and result.reimported == [SHOP]
    assert len(harness.dojo.findings(active=True)) == 2 and len(harness.dojo.findings(active=False)) == 8
    [allowed] = events(harness, "dojo_mass_close_allowed")
    assert "would close 8 of 10 findings" in allowed["message"]


def test_an_emptied_scope_counts_as_closing_all_its_findings(harness: Harness) -> None:
    harness.sync([shop(*CVES), report("payments", "api-7c9d8f6b5d", CVES[0])])
    result = harness.sync([report("payments", "api-7c9d8f6b5d", CVES[0])])
    assert result.valve_held == [f"{SHOP} would close 10 of 10 findings (100 % > 50 %){HELD_SUFFIX}"]
    assert result.emptied == [] and len(harness.dojo.findings(active=True)) == 11


@pytest.mark.parametrize("fixed", [1, 4])
def test_the_fixed_findings_of_a_tiny_test_are_closed(harness: Harness, fixed: int) -> None:
    """Below the floor (dojo.mass_close_min, 5): 1 of 1 and 4 of 4 fixed go through."""
    harness.sync([shop(*CVES[:fixed]), report("payments", "api-7c9d8f6b5d", *CVES)])
    result = harness.sync([shop(), report("payments", "api-7c9d8f6b5d", *CVES)])
    assert result.valve_held == [] and result.reimported == [SHOP]
    assert len(harness.dojo.findings(active=False)) == fixed


def test_many_small_tests_closing_together_are_held_by_the_cluster_share(harness: Harness) -> None:
    namespaces = ("shop", "payments", "web")
    harness.sync([report(ns, "app-6d4cf56db6", *CVES[:3]) for ns in namespaces])
    result = harness.sync([report(ns, "app-6d4cf56db6", CVES[0]) for ns in namespaces])
    assert len(result.valve_held) == 3 and result.reimported == []
    assert result.valve_held[0] == (
        "trivy-operator/vulnerability/payments would close 2 of 3 findings, and the cluster's tests together "
        f"6 of 9 (67 % > 50 %){HELD_SUFFIX}"
    )
    assert harness.dojo.findings(active=False) == []


def test_a_state_without_identities_is_not_judged_and_learns_them(harness: Harness) -> None:
    harness.sync([shop(*CVES)])
    rewrite_state(harness, lambda entry: entry.pop("identities"))
    unchanged = harness.sync([shop(*CVES)])
    assert unchanged.unchanged == [SHOP] and len(state_of(harness)[SHOP]["identities"]) == 10
    rewrite_state(harness, lambda entry: entry.pop("identities"))
    result = harness.sync([shop(*CVES[:2])])
    assert result.valve_held == [] and result.reimported == [SHOP], "unknown: allowed, as before the valve"
    assert len(state_of(harness)[SHOP]["identities"]) == 2


def test_dojo_sync_exits_3_on_a_held_test_and_0_with_allow_mass_close(harness: Harness) -> None:
    harness.sync([shop(*CVES)])
    run_dir = harness.run_dir([shop(*CVES[:2])])
    env = {"DD_URL": harness.dojo.url, "DD_API_KEY": TOKEN, "REPORT_EXPORTER_ARCHIVE": harness.store.url}
    command = ["dojo", "sync", str(run_dir), "--log-format", "json"]
    held = CliRunner().invoke(app, command, env=env)
    assert held.exit_code == 3, held.stderr
    assert f"DefectDojo: {SHOP} would close 8 of 10 findings (80 % > 50 %){HELD_SUFFIX}" in held.stderr
    summary = next(json.loads(line) for line in held.stderr.splitlines() if '"dojo_finished"' in line)
    assert summary["valve_held"] == 1
    allowed = CliRunner().invoke(app, [*command, "--allow-mass-close"], env=env)
    assert allowed.exit_code == 0, allowed.stderr
    assert len(harness.dojo.findings(active=False)) == 8


@pytest.mark.parametrize("command", ["upload", "run", "dojo sync"])
def test_every_command_that_reimports_takes_allow_mass_close(command: str) -> None:
    shown = CliRunner().invoke(app, [*command.split(), "--help"], env={"COLUMNS": "200"})
    assert "--allow-mass-close" in shown.stdout


def test_the_valve_settings_come_from_the_environment() -> None:
    environ = {
        "REPORT_EXPORTER_DD_MAX_CLOSE_SHARE": "0.2",
        "REPORT_EXPORTER_DD_MASS_CLOSE_MIN": "2",
        "REPORT_EXPORTER_DD_ALLOW_MASS_CLOSE": "true",
        "REPORT_EXPORTER_DD_MAX_CONNECTION_FAILURES": "4",
    }
    dojo = load_settings(environ=environ).dojo
    assert (dojo.max_close_share, dojo.mass_close_min, dojo.allow_mass_close, dojo.max_connection_failures) == (
        0.2, 2, True, 4,
    )  # fmt: skip
    defaults = load_settings(environ={}).dojo
    assert (defaults.max_close_share, defaults.mass_close_min, defaults.allow_mass_close) == (0.5, 5, False)


# --- (12) a deleted or replaced DefectDojo is noticed ----------------------------------------------------------


def test_a_test_deleted_in_dojo_is_sent_again_on_an_unchanged_night(harness: Harness) -> None:
    objects = [shop(CVES[0], CVES[1]), report("payments", "api-7c9d8f6b5d", CVES[0])]
    harness.sync(objects)
    delete_test(harness.dojo, state_of(harness)[SHOP]["test_id"])
    assert len(harness.dojo.findings()) == 1, "DefectDojo deletes a test's findings with it"
    result = harness.sync(objects)
    assert result.missing == [SHOP] and result.reimported == [SHOP] and result.unchanged == [PAYMENTS]
    assert len(harness.dojo.findings(active=True)) == 3
    [missing] = events(harness, "dojo_test_missing")
    assert missing["level"] == "warning" and missing["test"] == SHOP
    assert harness.sync(objects).calls == 1, "and the night after, one list call again"


def test_a_fresh_dojo_gets_every_test_sent_again(harness: Harness, tmp_path: Path) -> None:
    run_dir = sample_run(harness, tmp_path)
    first = harness.sync(run_dir)
    tests = len(first.reimported)
    assert tests >= 30
    findings = len(harness.dojo.findings(active=True))
    with DojoStandin(token=TOKEN) as fresh:
        harness.dojo = fresh
        result = harness.sync(run_dir)
        assert len(result.missing) == tests and sorted(result.reimported) == sorted(first.reimported)
        assert result.failed == [] and len(fresh.findings(active=True)) == findings
        fresh.clear_requests()
        quiet = harness.sync(run_dir)
        assert quiet.reimported == [] and quiet.missing == [] and len(quiet.unchanged) == tests
        assert quiet.calls == 2 and [r.path for r in fresh.requests] == ["/api/v2/tests/"] * 2


def test_an_unchanged_night_against_an_intact_dojo_lists_each_engagement_once(harness: Harness, tmp_path: Path) -> None:
    run_dir = sample_run(harness, tmp_path)
    tests = len(harness.sync(run_dir).reimported)
    harness.dojo.clear_requests()
    result = harness.sync(run_dir)
    assert len(result.unchanged) == tests >= 30 and result.reimported == result.missing == []
    engagements = {str(e["id"]) for e in harness.dojo.engagements()}
    assert result.calls == len(engagements) == 2
    assert sorted((r.method, r.path, r.query["engagement"]) for r in harness.dojo.requests) == [
        ("GET", "/api/v2/tests/", engagement) for engagement in sorted(engagements)
    ]


def test_a_state_without_engagement_ids_finds_them_by_name_once(harness: Harness) -> None:
    harness.sync([shop(CVES[0])])
    rewrite_state(harness, lambda entry: entry.pop("engagement_id"))
    harness.dojo.clear_requests()
    result = harness.sync([shop(CVES[0])])
    assert result.unchanged == [SHOP] and result.calls == 3
    assert [r.path for r in harness.dojo.requests] == ["/api/v2/products/", "/api/v2/engagements/", "/api/v2/tests/"]
    assert harness.sync([shop(CVES[0])]).calls == 1


def test_an_emptied_scope_whose_test_is_gone_is_forgotten_not_sent(harness: Harness) -> None:
    harness.sync([shop(CVES[0]), report("payments", "api-7c9d8f6b5d", CVES[0])])
    delete_test(harness.dojo, state_of(harness)[SHOP]["test_id"])
    result = harness.sync([report("payments", "api-7c9d8f6b5d", CVES[0])])
    assert result.missing == [SHOP] and result.emptied == [] and harness.reimports() == 2
    assert SHOP not in state_of(harness)


def test_the_standin_deletes_tests_as_dojo_does(dojo: DojoStandin, harness: Harness) -> None:
    harness.sync([shop(CVES[0])])
    [test] = dojo.tests()
    headers = {"Authorization": "Token read-only-token"}
    assert requests.delete(f"{dojo.url}/api/v2/tests/{test['id']}/", headers=headers, timeout=10).status_code == 403
    delete_test(dojo, test["id"])
    assert dojo.tests() == [] and dojo.findings() == []
    gone = requests.delete(f"{dojo.url}/api/v2/tests/{test['id']}/", headers=auth(), timeout=10)
    assert gone.status_code == 404 and gone.json()["detail"] == "No Test matches the given query."
    unknown = requests.get(f"{dojo.url}/api/v2/tests/", params={"engagement": 999}, headers=auth(), timeout=10)
    assert unknown.status_code == 400
    assert unknown.json()["engagement"] == ["Select a valid choice. That choice is not one of the available choices."]


# --- (13) an outage costs minutes, not hours -------------------------------------------------------------------


def test_dojo_down_costs_a_few_attempts_not_every_tests_retries(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production retries (5 per call), a short backoff: the breaker stops after 3 failed calls. Without it each
    of the sample's 30-odd tests would spend its own 6 attempts (180 and more; 7.5 minutes at the default backoff)."""
    run_dir = sample_run(harness, tmp_path)
    tests = len(harness.sync(run_dir).reimported)
    rewrite_state(harness, lambda entry: entry.update(fingerprint="changed since"))
    state_before = state_of(harness)
    attempts = count_connections(monkeypatch, harness.dojo.port)
    harness.dojo.down()
    started = time.monotonic()
    result = harness.sync(run_dir, retries=5, backoff_factor=0.01)
    elapsed = time.monotonic() - started
    assert len(result.failed) == tests >= 30 and result.reimported == []
    not_sent = [line for line in result.failed if "not sent: DefectDojo at" in line]
    assert len(not_sent) >= tests - 2, "at most the calls in flight when the breaker opened end otherwise"
    assert attempts["count"] <= (3 + 2 - 1) * 6, attempts  # (failures + concurrency - 1) calls, 6 attempts each
    assert elapsed < 10, elapsed
    assert state_of(harness) == state_before, "the state of the tests DefectDojo accepted before is kept"
    [opened] = events(harness, "dojo_unreachable")
    assert opened["level"] == "error" and opened["not_sent"] == len(not_sent)


def test_the_breaker_counts_only_failures_in_a_row(dojo: DojoStandin) -> None:
    settings = load_settings(environ={}, flags={"dojo.url": dojo.url, "dojo.retries": 0,
                                                "dojo.max_connection_failures": 2}).dojo  # fmt: skip
    client = DojoClient(settings, api_key=TOKEN)
    dojo.fail_next("/api/v2/products/", 502)
    with pytest.raises(DojoError, match="HTTP 502"):
        client.find("products/")
    client.find("products/")
    dojo.fail_next("/api/v2/products/", 502)
    with pytest.raises(DojoError):
        client.find("products/")
    assert not client.unreachable, "an answer in between closed the count"
    dojo.fail_next("/api/v2/products/", 503)
    with pytest.raises(DojoError):
        client.find("products/")
    assert client.unreachable
    sent = len(dojo.requests)
    with pytest.raises(DojoUnreachableError, match="unreachable after 2 consecutive failures"):
        client.find("products/")
    assert len(dojo.requests) == sent, "no call once the breaker is open"


def test_an_unexpected_dojo_error_does_not_skip_retention(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("a DefectDojo answer no one foresaw")

    archive = {"cluster": "prod", "archive.destination": harness.store.url, "archive.retention.keep_last": 1}
    first = harness.run_dir([shop(CVES[0])])
    pipeline.upload(
        load_settings(environ={}, flags=archive), [first], JsonReporter(io.StringIO()), apply_retention=True
    )
    monkeypatch.setattr("exporter.dojo.sync.sync_run", broken)
    settings = load_settings(environ={}, flags=archive | {"dojo.url": harness.dojo.url, "dojo.api_key": TOKEN})
    time.sleep(1.1)  # run ids sort by their start second: the second run must be the newer one
    log = io.StringIO()
    uploaded = pipeline.upload(settings, [harness.run_dir([shop(CVES[0])])], JsonReporter(log), apply_retention=True)
    assert uploaded.dojo == pipeline.Outcome.PARTIAL and uploaded.outcome == pipeline.Outcome.PARTIAL
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert any(line["event"] == "dojo_failed" and "RuntimeError" in line["message"] for line in lines)
    [pruned] = [line for line in lines if line["event"] == "prune_finished"]
    assert pruned["deleted_runs"] == [first.name], "retention ran after the failed sync"


# --- helpers ---------------------------------------------------------------------------------------------------


def auth() -> dict[str, str]:
    return {"Authorization": f"Token {TOKEN}"}


def delete_test(dojo: DojoStandin, test_id: int) -> None:
    """What an analyst's DELETE /api/v2/tests/{id}/ does."""
    response = requests.delete(f"{dojo.url}/api/v2/tests/{test_id}/", headers=auth(), timeout=10)
    assert response.status_code == 204 and response.content == b""


def sample_run(harness: Harness, tmp_path: Path) -> Path:
    """The bundled sample cluster as a run directory of cluster `prod` (30-odd DefectDojo tests, two engagements)."""
    return get_from_files(harness.settings(), sample_cluster_dir(), tmp_path / "sample-runs",
                          JsonReporter(io.StringIO())).run_dir  # fmt: skip


def count_connections(monkeypatch: pytest.MonkeyPatch, port: int) -> dict[str, int]:
    """Count urllib3's connection attempts to `port`: every attempt, retries included."""
    counted = {"count": 0}
    original = urllib3.util.connection.create_connection

    def counting(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        if address[1] == port:
            counted["count"] += 1
        return original(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", counting)
    return counted
