"""Where a recorded test goes when the name templates changed (`presence.Places`), whose a recorded id is
(`presence.check_recorded_tests`), and what the night does with a test it cannot send, at the edges found by
mutation testing of the code the rename fix (de1365a) added.

A rename in place, a rename that failed and a test the templates would move are each a log line an operator acts
on: the line names the test key and its DefectDojo id, so that the test can be found, and its event is the one
docs/defectdojo.md names. A lookup DefectDojo refuses proves nothing: the test stays where it is, never sent anew
into another engagement. A recorded id is the exporter's test only if that test holds the service's findings, and
a failed rename leaves the tests after it planned: taken for gone, their findings would be closed.
"""

from __future__ import annotations

from typing import Any

import requests

from exporter.archive import keys
from tests.dojo_harness import CVE1, CVE2, TOKEN, Harness, events, report, shop
from tests.dojo_standin import DojoStandin

SHOP = "trivy-operator/vulnerability/shop"
STORE = "trivy-operator/vulnerability/store"
RENAMED = "{scope}: {family}"


def only(harness: Harness, event: str) -> dict[str, Any]:
    [line] = events(harness, event)
    return line


def test_a_rename_in_place_is_logged_with_the_test_its_id_and_both_titles(harness: Harness) -> None:
    harness.sync([shop(CVE1, CVE2)])
    [test] = harness.dojo.tests()
    assert harness.sync([shop(CVE1, CVE2)], test=RENAMED).renamed == [SHOP]
    line = only(harness, "dojo_test_renamed")
    assert (line["level"], line["test"], line["test_id"]) == ("info", SHOP, test["id"])
    assert line["message"] == (
        f"DefectDojo: {SHOP}: test {test['id']} renamed from 'vulnerability shop' to 'shop: vulnerability'"
    )


def test_a_failed_rename_is_an_error_of_the_test_saying_it_is_tried_again(harness: Harness) -> None:
    harness.sync([shop(CVE1, CVE2)])
    [test] = harness.dojo.tests()
    harness.dojo.fail_next(f"/api/v2/tests/{test['id']}/", 400)
    failed = harness.sync([shop(CVE1)], test=RENAMED)
    [line] = [line for line in events(harness, "dojo_failed") if line["test"] == SHOP]
    [why] = failed.failed
    assert why.startswith(f"{SHOP}: ") and f"rename test {test['id']} to 'shop: vulnerability'" in why
    assert line["level"] == "error"
    assert line["message"] == f"DefectDojo: {why}; not sent tonight, the rename is tried again next run"


def test_a_failed_rename_does_not_stop_the_tests_after_it_from_being_sent(harness: Harness) -> None:
    """The tests after a failed rename are still planned: taken for gone, their scopes would be emptied and their
    unfixed findings closed."""
    harness.sync([shop(CVE1, CVE2), store(CVE1)])
    [shop_test] = [t for t in harness.dojo.tests() if t["title"] == "vulnerability shop"]
    harness.dojo.fail_next(f"/api/v2/tests/{shop_test['id']}/", 400)
    result = harness.sync([shop(CVE1, CVE2), store(CVE1, CVE2)], test=RENAMED)
    assert [line.split(":", 1)[0] for line in result.failed] == [SHOP]
    assert (result.renamed, result.reimported, result.emptied) == ([STORE], [STORE], [])
    assert len(harness.dojo.findings(active=True)) == 4 and harness.dojo.findings(active=False) == []


def test_a_test_the_templates_would_move_is_a_warning_naming_it_and_the_two_ways_to_move_it(harness: Harness) -> None:
    harness.sync([shop(CVE1, CVE2)])
    [test] = harness.dojo.tests()
    assert harness.sync([shop(CVE1, CVE2)], engagement="security").not_moved == [SHOP]
    line = only(harness, "dojo_test_not_moved")
    assert (line["level"], line["test"], line["test_id"]) == ("warning", SHOP, test["id"])
    assert line["message"] == (
        f"DefectDojo: {SHOP}: the templates now place it in engagement 'security' of product 'prod', but "
        f"DefectDojo cannot move a test: it stays test {test['id']} in engagement 'trivy-operator' of product "
        "'prod'; to move it, rename that engagement or product in DefectDojo to the new names (keeps every finding "
        "and its triage), or delete the test (its findings start anew in the new place)"
    )


def test_a_refused_lookup_of_the_new_engagement_is_a_warning_and_the_test_stays_in_place(harness: Harness) -> None:
    harness.sync([shop(CVE1, CVE2)])
    [before] = harness.dojo.tests()
    harness.dojo.fail_next("/api/v2/products/", 403)
    result = harness.sync([shop(CVE1)], engagement="security")
    assert result.not_moved == [SHOP] and result.reimported == [SHOP] and result.failed == []
    line = only(harness, "dojo_presence_unknown")
    assert line["level"] == "warning"
    assert line["message"].startswith(
        f"DefectDojo: cannot find engagement 'security' of product 'prod': DefectDojo at {harness.dojo.url} "
    )
    assert [t["id"] for t in harness.dojo.tests()] == [before["id"]] and len(harness.dojo.engagements()) == 1
    assert len(harness.dojo.findings(active=True)) == 1 and len(harness.dojo.findings(active=False)) == 1


def test_a_retitled_test_whose_owner_cannot_be_told_is_a_warning_and_fails_naming_its_id(harness: Harness) -> None:
    harness.sync([shop(CVE1, CVE2)])
    [test] = harness.dojo.tests()
    retitle(harness, test["id"], "renamed by hand")
    harness.dojo.fail_next("/api/v2/findings/", 503, times=3)  # dojo.retries 2: three attempts, all refused
    result = harness.sync([shop(CVE1)])
    assert result.failed == [
        f"{SHOP}: DefectDojo holds test {test['id']} under another title and whether it is still this test's could "
        "not be checked; not sent tonight, checked again next run"
    ]
    line = only(harness, "dojo_presence_unknown")
    assert (line["level"], line["test"], line["test_id"]) == ("warning", SHOP, test["id"])
    assert line["message"].startswith(f"DefectDojo: cannot tell whether test {test['id']} is still {SHOP}'s: ")
    assert f"list the findings of test {test['id']}" in line["message"]


def test_a_recorded_id_now_another_test_s_is_missing_though_the_service_s_findings_are_elsewhere(
    harness: Harness,
) -> None:
    """Whose a retitled test is, is asked of that test alone: in a DefectDojo rebuilt from scratch, the recorded id
    now names another namespace's test while the shop's findings sit in a test of their own. Taken for the shop's,
    the other test would be renamed and the shop's findings reimported into it, closing its own."""
    harness.sync([shop(CVE1)])
    state = harness.store.get_bytes(keys.dojo_state_key("prod"))
    with DojoStandin(token=TOKEN) as rebuilt:
        harness.dojo = rebuilt
        harness.sync([report("payments", "api-7c9d8f6b5d", CVE2)])  # the recorded id, handed out again
        harness.sync([report("payments", "api-7c9d8f6b5d", CVE2), shop(CVE1)])
        harness.store.put_bytes(state, keys.dojo_state_key("prod"))
        result = harness.sync([report("payments", "api-7c9d8f6b5d", CVE2), shop(CVE1, CVE2)])
        assert result.missing == [SHOP] and result.renamed == [] and result.failed == []
        assert sorted(t["title"] for t in rebuilt.tests()) == ["vulnerability payments", "vulnerability shop"]
        assert len(rebuilt.findings(active=True)) == 3 and rebuilt.findings(active=False) == []


def test_a_dojo_gone_down_during_the_check_reports_each_changed_test_as_not_sent(harness: Harness) -> None:
    """The breaker opens on the first engagement's list: the other engagements are not asked, and the night goes
    on to report each changed test as not sent."""
    objects = [shop(CVE1), store(CVE1)]
    assert len(harness.sync(objects, engagement="{scanner} {scope}").reimported) == 2
    harness.dojo.down()
    result = harness.sync([shop(CVE1, CVE2), store(CVE1, CVE2)], engagement="{scanner} {scope}",
                          retries=0, max_connection_failures=1)  # fmt: skip
    assert result.reimported == [] and len(result.failed) == 2
    assert all("not sent: DefectDojo at" in line for line in result.failed)


def test_a_test_too_large_to_send_is_an_error_line_saying_why(harness: Harness) -> None:
    """The other decision de1365a added to the night: a finding alone over `dojo.max_document_bytes` fails its test
    with one line, the same in the log as in the night's failures."""
    huge = {**CVE2, "title": "x" * 8192}
    result = harness.sync([shop(CVE1, huge)], max_document_bytes=4096)
    [why] = result.failed
    assert why.startswith(f"{SHOP}: one finding of shop/Deployment/web/app makes a document")
    line = only(harness, "dojo_too_large")
    assert (line["level"], line["test"], line["message"]) == ("error", SHOP, f"DefectDojo: {why}")


def store(*vulnerabilities: dict[str, Any]) -> dict[str, Any]:
    """The store namespace's api Deployment: its test comes after shop's in the plan."""
    return report("store", "api-7c9d8f6b5d", *vulnerabilities)


def retitle(harness: Harness, test_id: int, title: str) -> None:
    """What an analyst's PATCH /api/v2/tests/{id}/ (or the UI's Edit Test) does to the title."""
    response = requests.patch(f"{harness.dojo.url}/api/v2/tests/{test_id}/", json={"title": title},
                              headers={"Authorization": f"Token {TOKEN}"}, timeout=10)  # fmt: skip
    assert response.status_code == 200, response.text
