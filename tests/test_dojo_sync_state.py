"""What the sync remembers between nights, and where it sends a test it does not remember: against the stand-in.

- The state keeps every test DefectDojo accepted, also on a night where another test failed or the sync stopped
  half-way: otherwise tomorrow re-sends what was accepted, and the mass-close valve judges against stale findings.
- A test whose title template changed is renamed in DefectDojo, not sent again (tests/test_dojo_rename.py): its
  fingerprint covers the names, and moves on with the rename; one whose document changed too is sent.
- Without a recorded test id (a state lost or rebuilt), a test's findings go to the oldest test of its title, not
  to an empty test a failed import left behind.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from exporter.archive import keys
from exporter.dojo.client import DojoClient
from exporter.dojo.state import load_state
from exporter.dojo.sync import sync_run
from exporter.progress import JsonReporter
from tests.dojo_harness import CVE1, CVE2, TOKEN, Harness, report
from tests.test_dojo_client import import_test

SHOP = "trivy-operator/vulnerability/shop"
PAYMENTS = "trivy-operator/vulnerability/payments"


def two_namespaces() -> list[dict[str, Any]]:
    return [report("shop", "web-6d4cf56db6", CVE1), report("payments", "api-7c9d8f6b5d", CVE2)]


def test_the_state_keeps_the_test_dojo_accepted_on_a_night_another_failed(harness: Harness) -> None:
    harness.dojo.fail_next("/api/v2/reimport-scan/", 400)  # the first test sent is refused, the other accepted
    first = harness.sync(two_namespaces())
    [failed] = [line.split(":", 1)[0] for line in first.failed]
    [accepted] = first.reimported
    assert {failed, accepted} == {SHOP, PAYMENTS}
    assert set(load_state(harness.store, "prod").tests) == {accepted}
    harness.dojo.clear_requests()
    second = harness.sync(two_namespaces())
    assert (second.reimported, second.unchanged, second.failed) == ([failed], [accepted], [])
    assert harness.reimports() == 1, "only the refused test is sent again"


class _FailingOnSecondImport(JsonReporter):
    """A reporter that breaks on the second test DefectDojo accepted: the sync stops half-way with an exception."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.accepted = 0

    def info(self, message: str, **fields: Any) -> None:
        if fields.get("event") == "dojo_reimported":
            self.accepted += 1
            if self.accepted == 2:
                raise RuntimeError("the sync stopped half-way")
        super().info(message, **fields)


def test_the_state_keeps_what_dojo_accepted_before_the_sync_stopped(harness: Harness) -> None:
    run_dir = harness.run_dir(two_namespaces())
    settings = harness.settings()
    client = DojoClient(settings.dojo, api_key=TOKEN)
    try:
        with pytest.raises(RuntimeError, match="half-way"):
            sync_run(run_dir, settings.dojo, client, _FailingOnSecondImport(), store=harness.store)
    finally:
        client.close()
    assert list(load_state(harness.store, "prod").tests) == [PAYMENTS], "the first test sent, payments, was accepted"


def test_a_test_whose_name_template_changed_is_renamed_not_sent_again(harness: Harness) -> None:
    objects = [report("shop", "web-6d4cf56db6", CVE1)]
    harness.sync(objects)
    assert harness.sync(objects).unchanged == [SHOP]
    renamed = harness.sync(objects, test="{scope}: {family}")
    assert (renamed.renamed, renamed.reimported, renamed.unchanged) == ([SHOP], [], [SHOP])
    assert [t["title"] for t in harness.dojo.tests()] == ["shop: vulnerability"]
    changed = harness.sync([report("shop", "web-6d4cf56db6", CVE1, CVE2)], test="{scope}: {family} {cluster}")
    assert (changed.renamed, changed.reimported, changed.unchanged) == ([SHOP], [SHOP], [])
    assert [t["title"] for t in harness.dojo.tests()] == ["shop: vulnerability prod"]
    assert len(harness.dojo.findings(active=True)) == 2


def test_without_a_recorded_test_the_findings_go_to_the_oldest_test_of_their_title(harness: Harness) -> None:
    """A failed import left an empty second `vulnerability shop` behind, then the state was lost: the night's
    reimport must land in test 1, which holds the findings, and close the one that was fixed there."""
    harness.sync([report("shop", "web-6d4cf56db6", CVE1, CVE2)])
    [holding] = harness.dojo.tests()
    left_behind = import_test(harness.dojo, holding["title"], fail=True)
    assert left_behind > holding["id"]
    harness.store.delete([keys.dojo_state_key("prod")])
    harness.dojo.clear_requests()
    result = harness.sync([report("shop", "web-6d4cf56db6", CVE1)])
    assert result.reimported == [SHOP]
    [sent] = [r for r in harness.dojo.requests if r.path.endswith("/reimport-scan/")]
    assert sent.form["test"] == str(holding["id"])
    assert len(harness.dojo.findings(test=holding["id"], active=True)) == 1
    assert len(harness.dojo.findings(test=holding["id"], active=False)) == 1, "the fixed finding is closed"
    assert harness.dojo.findings(test=left_behind) == []
