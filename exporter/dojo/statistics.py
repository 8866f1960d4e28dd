"""Findings per severity, from the statistics block DefectDojo answers every reimport with.

`dojo/models.py` `_get_statistics_for_queryset` counts, per lower-cased severity and in total, the findings that
carry each flag; a reimport answers `before`, `after` and `delta` (`created`, `closed`, `reactivated`, `left
untouched`) in that shape. The night's summary and metrics read what changed (new, closed, reactivated) from the
deltas of the tests it sent, and what is open from each test's last `after`, kept in the sync state, so a test
that was not sent tonight still counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("critical", "high", "medium", "low", "info")
CHANGES = {"new": "created", "closed": "closed", "reactivated": "reactivated"}

Counts = dict[str, int]  # severity -> findings


@dataclass
class FindingCounts:
    """What a night changed, per severity, and what is open after it."""

    new: Counts = field(default_factory=dict)
    closed: Counts = field(default_factory=dict)
    reactivated: Counts = field(default_factory=dict)
    active: Counts = field(default_factory=dict)
    active_by_scope: dict[str, Counts] = field(default_factory=dict)  # namespace or `cluster` -> open findings

    def add_changes(self, statistics: Mapping[str, Any] | None) -> None:
        """Add one reimport's deltas. A reimport into a test that did not exist yet is an import, which DefectDojo
        answers with `after` alone (`dojo/api_v2/serializers.py`): every finding of it is new."""
        block = _mapping(statistics)
        if "delta" not in block and "after" in block:
            block = {"delta": {CHANGES["new"]: block["after"]}}
        delta = _mapping(block.get("delta"))
        for name, label in CHANGES.items():
            counts = by_severity(_mapping(delta.get(label)), "total")
            target = getattr(self, name)
            for severity, count in counts.items():
                target[severity] = target.get(severity, 0) + count


def active_after(statistics: Mapping[str, Any] | None) -> Counts:
    """The open findings of a test after a reimport, per severity."""
    return by_severity(_mapping(_mapping(statistics).get("after")), "active")


def total(counts: Iterable[Mapping[str, int]]) -> Counts:
    """Counts added severity by severity."""
    summed = dict.fromkeys(SEVERITIES, 0)
    for each in counts:
        for severity in SEVERITIES:
            summed[severity] += int(each.get(severity) or 0)
    return summed


def by_severity(block: Mapping[str, Any], flag: str) -> Counts:
    """`{"critical": {"total": 2, "active": 1, ...}, ...}` as `{"critical": 2, ...}` for one flag."""
    return {severity: _count(_mapping(block.get(severity)).get(flag)) for severity in SEVERITIES}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
