"""Findings per severity from DefectDojo's reimport statistics: what a night changed and what is open after it."""

from __future__ import annotations

from pathlib import Path

from exporter.dojo.statistics import FindingCounts, active_after, total
from tests.dojo_standin import DojoStandin
from tests.test_dojo_coverage import Nights, sample


def block(**severities: int) -> dict[str, dict[str, int]]:
    return {severity: {"total": count, "active": count} for severity, count in severities.items()}


def test_deltas_add_up_per_severity_and_after_gives_what_is_open() -> None:
    counts = FindingCounts()
    counts.add_changes({"delta": {"created": block(critical=2, high=1), "closed": block(low=3)}})
    counts.add_changes({"delta": {"created": block(critical=1), "reactivated": block(medium=4)}})
    assert (counts.new["critical"], counts.new["high"], counts.closed["low"], counts.reactivated["medium"]) == (
        3,
        1,
        3,
        4,
    )
    after = {"after": {"high": {"total": 5, "active": 2}, "low": {"total": 1, "active": 0}}}
    assert active_after(after) == {"critical": 0, "high": 2, "medium": 0, "low": 0, "info": 0}
    assert total([{"high": 2}, {"high": 1, "low": 7}])["high"] == 3
    counts.add_changes(None)  # a DefectDojo that answers no statistics changes nothing


def test_a_night_counts_new_closed_and_open_findings_per_severity(tmp_path: Path) -> None:
    with DojoStandin(token="coverage-token") as dojo:
        nights = Nights(tmp_path, dojo)
        everything = sample()
        first = nights.sync(everything)
        assert (
            sum(first.findings.new.values()) == len(dojo.findings(active=True)) == sum(first.findings.active.values())
        )
        frontend = next(obj for obj in everything if obj["kind"] == "VulnerabilityReport"
                        and obj["metadata"]["name"].startswith("replicaset-frontend-"))  # fmt: skip
        fixed = nights.sync([obj for obj in everything if obj is not frontend])
        closed = sum(fixed.findings.closed.values())
        assert closed == 42 and sum(fixed.findings.new.values()) == 0
        assert sum(fixed.findings.active.values()) == len(dojo.findings(active=True)) == 706 - 42
        by_severity = {s: 0 for s in ("critical", "high", "medium", "low", "info")}
        for finding in dojo.findings(active=True):
            by_severity[finding["severity"].lower()] += 1
        assert fixed.findings.active == by_severity, "unchanged tests count from the state, sent ones from DefectDojo"
