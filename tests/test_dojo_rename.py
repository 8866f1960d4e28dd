"""A name template changed between nights: DefectDojo must keep exactly one open copy of each finding.

The bug this guards against: the first night after `dojo.test` changed reimported into the old test by its
recorded id, the second night saw that DefectDojo's title was not the planned one and created a new test; the old
test's findings stayed open for ever beside their copies. Now the test is renamed in DefectDojo and reimported
into; a template that would move a test to another engagement or product leaves it where it is, with a warning
each night, since DefectDojo cannot move a test.
"""

from __future__ import annotations

import json

import pytest
import requests

from exporter.archive import keys
from tests.dojo_harness import CVE1, CVE2, TOKEN, Harness, events, report, shop
from tests.dojo_standin import DojoStandin

SHOP = "trivy-operator/vulnerability/shop"
RENAMED = "{scope}: {family}"


def test_a_renamed_test_template_keeps_one_open_copy_of_each_finding_night_after_night(harness: Harness) -> None:
    harness.sync([shop(CVE1, CVE2)])
    [before] = harness.dojo.tests()
    for _night in range(3):
        result = harness.sync([shop(CVE1, CVE2)], test=RENAMED)
        assert result.failed == [] and result.missing == []
    [after] = harness.dojo.tests()
    assert (after["id"], after["title"]) == (before["id"], "shop: vulnerability")
    assert len(harness.dojo.findings(active=True)) == 2 and harness.dojo.findings(active=False) == []


def test_a_rename_costs_one_patch_and_no_reimport_when_nothing_else_changed(harness: Harness) -> None:
    harness.sync([shop(CVE1, CVE2)])
    harness.dojo.clear_requests()
    result = harness.sync([shop(CVE1, CVE2)], test=RENAMED)
    assert result.renamed == [SHOP] and result.unchanged == [SHOP] and result.reimported == []
    assert [(r.method, r.path) for r in harness.dojo.requests] == [
        ("GET", "/api/v2/tests/"), ("PATCH", f"/api/v2/tests/{harness.dojo.tests()[0]['id']}/"),
    ]  # fmt: skip
    harness.dojo.clear_requests()
    assert harness.sync([shop(CVE1, CVE2)], test=RENAMED).calls == 1, "the night after: the list call alone"


def test_a_finding_fixed_on_the_night_of_a_rename_is_closed_once_and_the_other_stays_open(harness: Harness) -> None:
    harness.sync([shop(CVE1, CVE2)])
    renamed = harness.sync([shop(CVE1)], test=RENAMED)
    assert renamed.renamed == [SHOP] and renamed.reimported == [SHOP]
    harness.sync([shop(CVE1)], test=RENAMED)
    [test] = harness.dojo.tests()
    assert test["title"] == "shop: vulnerability"
    [open_finding] = harness.dojo.findings(active=True)
    [closed] = harness.dojo.findings(active=False)
    assert "CVE-2024-6119" in open_finding["title"] and "CVE-2024-45490" in closed["title"]


def test_a_failed_rename_sends_nothing_into_the_old_title_and_is_tried_again(harness: Harness) -> None:
    harness.sync([shop(CVE1, CVE2)])
    [test] = harness.dojo.tests()
    harness.dojo.fail_next(f"/api/v2/tests/{test['id']}/", 400)
    failed = harness.sync([shop(CVE1)], test=RENAMED)
    assert [line.split(":", 1)[0] for line in failed.failed] == [SHOP] and harness.reimports() == 1
    assert harness.dojo.tests()[0]["title"] == "vulnerability shop" and len(harness.dojo.findings(active=True)) == 2
    again = harness.sync([shop(CVE1)], test=RENAMED)
    assert again.renamed == [SHOP] and again.reimported == [SHOP] and again.failed == []
    assert len(harness.dojo.tests()) == 1 and len(harness.dojo.findings(active=True)) == 1


def test_a_rename_answered_503_once_is_retried_and_done_the_same_night(harness: Harness) -> None:
    """A PATCH of a title is safe to repeat, so the client retries it like a GET: a passing 503 costs no night."""
    harness.sync([shop(CVE1, CVE2)])
    [test] = harness.dojo.tests()
    harness.dojo.fail_next(f"/api/v2/tests/{test['id']}/", 503)
    result = harness.sync([shop(CVE1)], test=RENAMED)
    assert result.failed == [] and result.renamed == [SHOP] and result.reimported == [SHOP]
    assert [t["title"] for t in harness.dojo.tests()] == ["shop: vulnerability"]


def test_a_test_retitled_in_dojo_is_taken_back_not_duplicated(harness: Harness) -> None:
    """An analyst (or the version with the bug, which recorded the new title without renaming) left DefectDojo's
    title different from the recorded one: the test still holds the findings of its service, so it is ours."""
    harness.sync([shop(CVE1, CVE2)])
    [test] = harness.dojo.tests()
    retitle(harness.dojo, test["id"], "renamed by hand")
    for _night in range(2):
        result = harness.sync([shop(CVE1, CVE2)])
        assert result.missing == [] and result.failed == []
    [after] = harness.dojo.tests()
    assert (after["id"], after["title"]) == (test["id"], "vulnerability shop")
    assert len(harness.dojo.findings(active=True)) == 2 and harness.dojo.findings(active=False) == []


def test_a_retitled_test_whose_owner_cannot_be_told_tonight_gets_nothing_sent(harness: Harness) -> None:
    """The findings list that tells our retitled test from another failing (a 503 past the retries), the test is
    neither taken back nor sent by its recorded title (which would open a second test beside the one holding its
    findings): it fails tonight, and the next night takes it back."""
    harness.sync([shop(CVE1, CVE2)])
    [test] = harness.dojo.tests()
    retitle(harness.dojo, test["id"], "renamed by hand")
    harness.dojo.fail_next("/api/v2/findings/", 503, times=3)  # dojo.retries 2: three attempts, all refused
    unsure = harness.sync([shop(CVE1)])
    assert [line.split(":", 1)[0] for line in unsure.failed] == [SHOP] and harness.reimports() == 1
    assert len(harness.dojo.tests()) == 1 and len(harness.dojo.findings(active=True)) == 2
    again = harness.sync([shop(CVE1)])
    assert again.failed == [] and again.renamed == [SHOP] and again.reimported == [SHOP]
    assert [t["id"] for t in harness.dojo.tests()] == [test["id"]] and len(harness.dojo.findings(active=True)) == 1


def test_a_recorded_id_that_now_names_another_test_is_missing_not_renamed(harness: Harness) -> None:
    """A DefectDojo rebuilt from scratch hands out the same ids again: a test of that id with another title and
    none of our service's findings is not ours: sent again by names, the other test left alone."""
    harness.sync([shop(CVE1)])
    state = json.loads(harness.store.get_bytes(keys.dojo_state_key("prod")))
    with DojoStandin(token=TOKEN) as rebuilt:
        harness.dojo = rebuilt
        harness.sync([report("payments", "api-7c9d8f6b5d", CVE2)])
        harness.store.put_bytes(json.dumps(state).encode(), keys.dojo_state_key("prod"))
        result = harness.sync([shop(CVE1)])
        assert result.missing == [SHOP] and result.renamed == []
        assert sorted(t["title"] for t in rebuilt.tests()) == ["vulnerability payments", "vulnerability shop"]
        assert len(rebuilt.findings(active=True)) == 2


@pytest.mark.parametrize("template", [{"engagement": "security"}, {"product": "k8s-{cluster}"}])
def test_a_template_that_moves_a_test_leaves_it_in_place_and_warns_every_night(
    harness: Harness, template: dict[str, str]
) -> None:
    harness.sync([shop(CVE1, CVE2)])
    [before] = harness.dojo.tests()
    for night in range(2):
        result = harness.sync([shop(CVE1)], **template)
        assert result.not_moved == [SHOP] and result.failed == [] and result.missing == []
        assert len(events(harness, "dojo_test_not_moved")) == night + 1
    [after] = harness.dojo.tests()
    assert after["id"] == before["id"] and len(harness.dojo.engagements()) == 1
    assert len(harness.dojo.findings(active=True)) == 1 and len(harness.dojo.findings(active=False)) == 1
    [warning] = events(harness, "dojo_test_not_moved")[-1:]
    assert warning["level"] == "warning" and f"test {before['id']}" in warning["message"]


def test_a_new_scope_goes_to_the_new_place_while_an_old_one_stays(harness: Harness) -> None:
    harness.sync([shop(CVE1)])
    result = harness.sync([shop(CVE1), report("payments", "api-7c9d8f6b5d", CVE2)], engagement="security")
    assert result.not_moved == [SHOP] and result.reimported == ["trivy-operator/vulnerability/payments"]
    assert sorted(str(e["name"]) for e in harness.dojo.engagements()) == ["security", "trivy-operator"]


def test_a_test_left_in_place_and_then_deleted_starts_anew_in_the_new_place(harness: Harness) -> None:
    harness.sync([shop(CVE1, CVE2)])
    assert harness.sync([shop(CVE1, CVE2)], engagement="security").not_moved == [SHOP]
    [old] = harness.dojo.tests()
    response = requests.delete(f"{harness.dojo.url}/api/v2/tests/{old['id']}/",
                               headers={"Authorization": f"Token {TOKEN}"}, timeout=10)  # fmt: skip
    assert response.status_code == 204
    result = harness.sync([shop(CVE1, CVE2)], engagement="security")
    assert result.missing == [SHOP] and result.reimported == [SHOP] and result.not_moved == []
    [new] = harness.dojo.tests()
    [engagement] = [e for e in harness.dojo.engagements() if e["id"] == new["engagement"]]
    assert engagement["name"] == "security" and len(harness.dojo.findings(active=True)) == 2
    assert harness.sync([shop(CVE1, CVE2)], engagement="security").calls == 1


def test_an_engagement_renamed_in_dojo_to_the_new_template_is_followed(harness: Harness) -> None:
    harness.sync([shop(CVE1, CVE2)])
    [engagement] = harness.dojo.engagements()
    patched = requests.patch(f"{harness.dojo.url}/api/v2/engagements/{engagement['id']}/", json={"name": "security"},
                             headers={"Authorization": f"Token {TOKEN}"}, timeout=10)  # fmt: skip
    assert patched.status_code == 200, patched.text
    result = harness.sync([shop(CVE1, CVE2)], engagement="security", test=RENAMED)
    assert result.not_moved == [] and result.renamed == [SHOP] and result.failed == []
    assert harness.sync([shop(CVE1, CVE2)], engagement="security", test=RENAMED).calls == 1
    [test] = harness.dojo.tests()
    assert test["title"] == "shop: vulnerability" and len(harness.dojo.findings(active=True)) == 2


def retitle(dojo: DojoStandin, test_id: int, title: str) -> None:
    """What an analyst's PATCH /api/v2/tests/{id}/ (or the UI's Edit Test) does to the title."""
    response = requests.patch(f"{dojo.url}/api/v2/tests/{test_id}/", json={"title": title},
                              headers={"Authorization": f"Token {TOKEN}"}, timeout=10)  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["title"] == title
