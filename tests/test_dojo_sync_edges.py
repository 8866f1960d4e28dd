"""The sync at its edges, found by mutation testing: against the DefectDojo stand-in, through `sync_run` only.

- a family held back is said in the log, as a warning event an operator (and the fault tests) can select;
- a reimport answer without a readable engagement id (an older DefectDojo) is still recorded as accepted, and the
  engagement is found by name the next night instead of the sync failing;
- a presence check DefectDojo refuses is a warning, proves nothing, and does not stop the night;
- the open findings per severity are counted from the state, so a night that sent nothing still reports them.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from exporter.archive import keys
from exporter.dojo.client import DojoClient
from tests.dojo_harness import CVE1, CVE2, Harness, cve, failed_run, report
from tests.test_dojo_safety import delete_test

SHOP = "trivy-operator/vulnerability/shop"


def log_events(harness: Harness) -> list[dict[str, Any]]:
    return [json.loads(line) for line in harness.log.getvalue().splitlines()]


def test_a_held_family_is_a_warning_event_naming_it(harness: Harness) -> None:
    result = harness.sync(failed_run(harness))
    [line] = result.held
    assert line.startswith("trivy-operator/vulnerability: vulnerabilityreports failed in this run (forbidden to list)")
    held = [event for event in log_events(harness) if event["event"] == "dojo_held"]
    assert [(event["level"], event["message"]) for event in held] == [("warning", f"DefectDojo: {line}")]


@pytest.mark.parametrize("answered", [None, "", "n/a"], ids=["missing", "empty", "not-a-number"])
def test_a_reimport_answer_without_a_readable_engagement_id_is_still_accepted(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, answered: str | None
) -> None:
    reimport = DojoClient.reimport

    def older_dojo(self: DojoClient, *args: Any, **kwargs: Any) -> dict[str, Any]:
        answer = reimport(self, *args, **kwargs)
        answer.pop("engagement_id")
        return answer if answered is None else answer | {"engagement_id": answered}

    monkeypatch.setattr(DojoClient, "reimport", older_dojo)
    first = harness.sync([report("shop", "web-6d4cf56db6", CVE1)])
    assert (first.reimported, first.failed) == ([SHOP], [])
    [entry] = json.loads(harness.store.get_bytes(keys.dojo_state_key("prod")))["tests"].values()
    assert entry["test_id"] == 1 and entry["engagement_id"] is None
    harness.dojo.clear_requests()
    again = harness.sync([report("shop", "web-6d4cf56db6", CVE1)])
    assert (again.unchanged, again.reimported) == ([SHOP], [])
    paths = [request.path for request in harness.dojo.requests]
    assert paths == ["/api/v2/products/", "/api/v2/engagements/", "/api/v2/tests/"], "found by name"


def test_a_refused_presence_check_is_a_warning_and_the_night_goes_on(harness: Harness) -> None:
    objects = [report("shop", "web-6d4cf56db6", CVE1)]
    harness.sync(objects)
    harness.dojo.fail_next("/api/v2/tests/", 403)
    result = harness.sync(objects)
    assert (result.unchanged, result.missing, result.failed) == ([SHOP], [], []), "unknown, not missing"
    [unknown] = [event for event in log_events(harness) if event["event"] == "dojo_presence_unknown"]
    assert unknown["level"] == "warning" and unknown["engagement_id"] == 1
    assert unknown["message"].startswith("DefectDojo: cannot check the tests of engagement 1: ")


def test_the_open_findings_per_severity_are_counted_also_on_a_night_that_sent_nothing(harness: Harness) -> None:
    objects = [report("shop", "web-6d4cf56db6", CVE1, CVE2), report("payments", "api-7c9d8f6b5d", CVE1)]
    first = harness.sync(objects)
    expected = {"critical": 1, "high": 2, "medium": 0, "low": 0, "info": 0}
    assert first.findings.active == expected
    unchanged = harness.sync(objects)
    assert unchanged.reimported == [] and unchanged.findings.active == expected
    assert unchanged.findings.active_by_scope == {
        "payments": {"critical": 0, "high": 1, "medium": 0, "low": 0, "info": 0},
        "shop": {"critical": 1, "high": 1, "medium": 0, "low": 0, "info": 0},
    }


def test_the_parts_of_a_split_test_count_their_open_findings_under_their_namespace(harness: Harness) -> None:
    objects = [report("shop", f"svc{i}-6d4cf56db6", cve(f"CVE-2024-{i:04d}", f"pkg{i}")) for i in range(12)]
    result = harness.sync(objects, max_document_bytes=6000)
    assert len(result.reimported) > 1 and all("#" in key for key in result.reimported)
    assert result.findings.active_by_scope == {"shop": {"critical": 0, "high": 12, "medium": 0, "low": 0, "info": 0}}


def test_the_recorded_tests_of_a_held_family_are_not_looked_up(harness: Harness) -> None:
    """Nothing of a held family is skipped or sent tonight, so checking that DefectDojo still holds it is a wasted
    list call (and an outage there a wasted warning)."""
    first = harness.sync([report("shop", "web-6d4cf56db6", CVE1)])
    assert first.reimported == [SHOP]
    harness.dojo.clear_requests()
    result = harness.sync(failed_run(harness))
    assert result.held and (result.calls, harness.dojo.requests) == (0, [])


def test_a_test_gone_from_dojo_is_a_warning_naming_the_key_and_the_test_id(harness: Harness) -> None:
    objects = [report("shop", "web-6d4cf56db6", CVE1)]
    harness.sync(objects)
    delete_test(harness.dojo, 1)
    result = harness.sync(objects)
    assert (result.missing, result.reimported) == ([SHOP], [SHOP])
    [missing] = [event for event in log_events(harness) if event["event"] == "dojo_test_missing"]
    assert (missing["level"], missing["test"], missing["test_id"]) == ("warning", SHOP, 1)
    assert missing["message"] == f"DefectDojo: {SHOP}: test 1 is gone from DefectDojo; sent again"


def test_a_changed_test_dojo_still_holds_is_reimported_by_its_id_without_a_lookup_by_names(harness: Harness) -> None:
    harness.sync([report("shop", "web-6d4cf56db6", CVE1)])
    harness.dojo.clear_requests()
    result = harness.sync([report("shop", "web-6d4cf56db6", CVE1, CVE2)])
    assert result.reimported == [SHOP] and result.calls == 2
    assert [request.path for request in harness.dojo.requests] == ["/api/v2/tests/", "/api/v2/reimport-scan/"]
    assert harness.dojo.requests[1].form["test"] == "1"


def test_an_emptied_scope_whose_test_is_gone_is_a_warning_naming_it(harness: Harness) -> None:
    payments = report("payments", "api-7c9d8f6b5d", CVE1)
    harness.sync([report("shop", "web-6d4cf56db6", CVE1), payments])
    shop_test = json.loads(harness.store.get_bytes(keys.dojo_state_key("prod")))["tests"][SHOP]["test_id"]
    delete_test(harness.dojo, shop_test)
    result = harness.sync([payments])
    assert (result.missing, result.emptied) == ([SHOP], [])
    [missing] = [event for event in log_events(harness) if event["event"] == "dojo_test_missing"]
    assert (missing["level"], missing["test"]) == ("warning", SHOP)
    assert missing["message"] == (
        f"DefectDojo: {SHOP}: its scope is empty and its test is gone from DefectDojo; nothing to close, forgotten"
    )


def test_a_gone_emptied_scope_does_not_stop_the_next_emptied_scope_from_closing(harness: Harness) -> None:
    """payments sorts before shop: forgetting its gone test must not end the look at the scopes after it."""
    web = report("web", "front-5b8f7c9d4e", CVE1)
    harness.sync([report("payments", "api-7c9d8f6b5d", CVE1), report("shop", "web-6d4cf56db6", CVE1), web])
    tests = json.loads(harness.store.get_bytes(keys.dojo_state_key("prod")))["tests"]
    delete_test(harness.dojo, tests["trivy-operator/vulnerability/payments"]["test_id"])
    result = harness.sync([web])
    assert (result.missing, result.emptied) == (["trivy-operator/vulnerability/payments"], [SHOP])
    assert harness.dojo.findings(active=True) == harness.dojo.findings(
        test=tests["trivy-operator/vulnerability/web"]["test_id"]
    )


def test_an_allowed_mass_close_is_a_warning_naming_the_test(harness: Harness) -> None:
    cves = [cve(f"CVE-2024-{n:04d}", f"pkg{n}") for n in range(10)]
    harness.sync([report("shop", "web-6d4cf56db6", *cves)])
    result = harness.sync([report("shop", "web-6d4cf56db6", *cves[:2])], allow_mass_close=True)
    assert (result.reimported, result.valve_held) == ([SHOP], [])
    [allowed] = [event for event in log_events(harness) if event["event"] == "dojo_mass_close_allowed"]
    assert (allowed["level"], allowed["test"]) == ("warning", SHOP)
    assert allowed["message"] == (
        f"DefectDojo: {SHOP} would close 8 of 10 findings (80 % > 50 %): sent, as mass closes are allowed"
    )


def test_the_breaker_says_how_many_tests_were_not_sent(harness: Harness) -> None:
    harness.dojo.down()
    objects = [report(f"ns{i}", "app-6d4cf56db6", CVE1) for i in range(8)]
    result = harness.sync(objects, retries=0)
    not_sent = [line for line in result.failed if "not sent: DefectDojo at" in line]
    assert len(result.failed) == 8 and 0 < len(not_sent) < 8
    [opened] = [event for event in log_events(harness) if event["event"] == "dojo_unreachable"]
    assert (opened["level"], opened["not_sent"]) == ("error", len(not_sent))
    assert opened["message"].endswith(
        f"3 calls in a row failed; {len(not_sent)} tests not sent tonight (they are sent on the next run)"
    )


def test_the_first_tests_of_new_engagements_go_one_at_a_time(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each namespace its own engagement of one new product: two first imports at once would both create the
    product, and DefectDojo refuses one of them."""
    reimport = DojoClient.reimport
    lock, in_flight, most = threading.Lock(), [0], [0]

    def slow(self: DojoClient, *args: Any, **kwargs: Any) -> dict[str, Any]:
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.2)
        try:
            return reimport(self, *args, **kwargs)
        finally:
            with lock:
                in_flight[0] -= 1

    monkeypatch.setattr(DojoClient, "reimport", slow)
    objects = [report(ns, "app-6d4cf56db6", CVE1) for ns in ("payments", "shop", "web")]
    result = harness.sync(objects, engagement="{scanner} {scope}", concurrency=4)
    assert len(result.reimported) == 3 and len(harness.dojo.engagements()) == 3
    assert most[0] == 1


def test_a_night_counts_the_findings_it_made_new_and_closed_per_severity(harness: Harness) -> None:
    none = {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0}
    first = harness.sync([report("shop", "web-6d4cf56db6", CVE1, CVE2)])
    assert (first.findings.new, first.findings.closed) == (none | {"critical": 1, "high": 1}, none)
    second = harness.sync([report("shop", "web-6d4cf56db6", CVE1)])
    assert (second.findings.new, second.findings.closed) == (none, none | {"critical": 1})


def test_a_refused_reimport_is_an_error_naming_the_test_and_why(harness: Harness) -> None:
    harness.dojo.fail_next("/api/v2/reimport-scan/", 400)
    result = harness.sync([report("shop", "web-6d4cf56db6", CVE1)])
    [failed] = result.failed
    assert failed.startswith(
        f"{SHOP}: DefectDojo at {harness.dojo.url} could not reimport 'vulnerability shop': HTTP 400"
    )
    [refused] = [event for event in log_events(harness) if event["event"] == "dojo_failed"]
    assert (refused["level"], refused["test"], refused["message"]) == ("error", SHOP, f"DefectDojo: {failed}")


@pytest.mark.parametrize("kept", ["test_id", "test"])
def test_the_test_id_is_read_from_either_field_of_the_reimport_answer(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, kept: str
) -> None:
    """DefectDojo answers the test's id as `test_id` and `test`; some versions only one of them."""
    reimport = DojoClient.reimport

    def one_field(self: DojoClient, *args: Any, **kwargs: Any) -> dict[str, Any]:
        answer = reimport(self, *args, **kwargs)
        test_id = answer.pop("test_id", None) or answer.pop("test")
        answer.pop("test", None)
        return answer | {kept: test_id}

    monkeypatch.setattr(DojoClient, "reimport", one_field)
    result = harness.sync([report("shop", "web-6d4cf56db6", CVE1)])
    assert result.reimported == [SHOP]
    [entry] = json.loads(harness.store.get_bytes(keys.dojo_state_key("prod")))["tests"].values()
    assert entry["test_id"] == 1


def test_each_accepted_reimport_is_an_info_event_with_its_test_and_size(harness: Harness) -> None:
    result = harness.sync([report("shop", "web-6d4cf56db6", CVE1)])
    assert result.reimported == [SHOP]
    [sent] = [request for request in harness.dojo.requests if request.path == "/api/v2/reimport-scan/"]
    [accepted] = [event for event in log_events(harness) if event["event"] == "dojo_reimported"]
    assert (accepted["level"], accepted["test"], accepted["test_id"]) == ("info", SHOP, 1)
    assert accepted["message"] == f"DefectDojo: reimported {SHOP} into test 1 ({sent.file_size} bytes)"
    assert accepted["statistics"]["after"]["high"]["active"] == 1
