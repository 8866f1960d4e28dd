"""Whether DefectDojo still holds the recorded tests, at the edges found by mutation testing; through `sync_run`.

A state written before engagement ids were recorded finds each engagement by name. When the product is gone (a
DefectDojo rebuilt from scratch), the test is missing and sent again; were it taken as unknown, the unchanged
test would be skipped night after night and its findings never reach the new DefectDojo. A lookup DefectDojo
refuses proves nothing: a warning, and the test is treated as before; the other engagements are still checked.
"""

from __future__ import annotations

import json

import pytest

from exporter.archive import keys
from tests.dojo_harness import TOKEN, Harness, cve, events, report
from tests.dojo_standin import DojoStandin
from tests.test_dojo_safety import delete_test

SHOP = "trivy-operator/vulnerability/shop"
OBJECTS = [report("shop", "web-6d4cf56db6", cve("CVE-2024-6119", "libssl3"))]


def forget_engagement_ids(harness: Harness) -> None:
    """The state as a version that did not record engagement ids wrote it."""
    document = json.loads(harness.store.get_bytes(keys.dojo_state_key("prod")))
    for entry in document["tests"].values():
        entry.pop("engagement_id")
    harness.store.put_bytes(json.dumps(document).encode(), keys.dojo_state_key("prod"))


def test_a_recorded_test_whose_product_is_gone_is_sent_again_though_its_engagement_id_was_not_recorded(
    harness: Harness,
) -> None:
    harness.sync(OBJECTS)
    forget_engagement_ids(harness)
    with DojoStandin(token=TOKEN) as rebuilt:
        harness.dojo = rebuilt
        result = harness.sync(OBJECTS)
        assert (result.missing, result.reimported, result.unchanged) == ([SHOP], [SHOP], [])
        assert len(rebuilt.findings(active=True)) == 1
        paths = [request.path for request in rebuilt.requests]
        assert paths == ["/api/v2/products/", "/api/v2/products/", "/api/v2/reimport-scan/"], "no list of a gone id"


def test_an_engagement_lookup_dojo_refuses_is_a_warning_and_the_test_is_treated_as_before(harness: Harness) -> None:
    harness.sync(OBJECTS)
    forget_engagement_ids(harness)
    harness.dojo.fail_next("/api/v2/products/", 403)
    result = harness.sync(OBJECTS)
    assert (result.unchanged, result.missing, result.failed) == ([SHOP], [], [])
    [unknown] = events(harness, "dojo_presence_unknown")
    assert unknown["level"] == "warning"
    assert unknown["message"].startswith(
        f"DefectDojo: cannot find engagement 'trivy-operator' of product 'prod': DefectDojo at {harness.dojo.url} "
    )


def test_a_refused_engagement_check_does_not_stop_the_check_of_the_next_engagement(harness: Harness) -> None:
    """One engagement per namespace: payments' is checked first and refused; shop's test, deleted by an analyst,
    must still be found missing and sent again."""
    objects = [report("payments", "api-7c9d8f6b5d", cve("CVE-2024-6119", "libssl3")), *OBJECTS]
    first = harness.sync(objects, engagement="{scanner} {scope}")
    assert len(first.reimported) == 2 and len(harness.dojo.engagements()) == 2
    tests = json.loads(harness.store.get_bytes(keys.dojo_state_key("prod")))["tests"]
    assert tests["trivy-operator/vulnerability/payments"]["engagement_id"] < tests[SHOP]["engagement_id"]
    delete_test(harness.dojo, tests[SHOP]["test_id"])
    harness.dojo.fail_next("/api/v2/tests/", 403)
    result = harness.sync(objects, engagement="{scanner} {scope}")
    assert (result.missing, result.reimported) == ([SHOP], [SHOP])
    assert result.unchanged == ["trivy-operator/vulnerability/payments"]


@pytest.mark.parametrize("status", [None, 404])
def test_a_recorded_engagement_dojo_no_longer_has_makes_its_tests_missing(harness: Harness, status: int | None) -> None:
    """DefectDojo answers a list of an unknown engagement id with 400 (404 from some versions and proxies): its
    tests are gone, and sent again."""
    harness.sync(OBJECTS)
    if status is not None:
        harness.dojo.fail_next("/api/v2/tests/", status)
    document = json.loads(harness.store.get_bytes(keys.dojo_state_key("prod")))
    document["tests"][SHOP]["engagement_id"] = 999
    harness.store.put_bytes(json.dumps(document).encode(), keys.dojo_state_key("prod"))
    result = harness.sync(OBJECTS)
    assert (result.missing, result.reimported, result.unchanged) == ([SHOP], [SHOP], [])
