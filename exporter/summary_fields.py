"""Reading a summary document (exporter.summary) that may come from the archive: every field checked, none trusted.

A summary read back from the archive is input like a manifest: an older or newer exporter, or a hand, may have
written it. These accessors return None (or nothing) for a field that is missing or of the wrong type, so the
summary tables, `runs trend` and the report page show a gap instead of failing or inventing a zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.dojo.statistics import SEVERITIES
from exporter.units import binary_size

CHANGES = ("new", "closed", "reactivated")


def findings(summary: Mapping[str, Any] | None, which: str) -> dict[str, int] | None:
    """`findings.<which>` (active, new, closed, reactivated) per severity; None when DefectDojo did not run."""
    block = mapping(mapping(summary).get("findings")).get(which)
    if not isinstance(block, Mapping):
        return None
    return {severity: count(block.get(severity)) or 0 for severity in SEVERITIES}


def active_by_namespace(summary: Mapping[str, Any] | None) -> dict[str, dict[str, int]]:
    """Open findings per namespace (or `cluster` scope) per severity; empty when unknown."""
    block = mapping(mapping(summary).get("findings")).get("active_by_namespace")
    return {
        str(scope): {severity: count(counts.get(severity)) or 0 for severity in SEVERITIES}
        for scope, counts in mapping(block).items()
        if isinstance(counts, Mapping)
    }


def kinds(summary: Mapping[str, Any] | None) -> list[tuple[str, str, int | None, int | None]]:
    """(plural, status, objects, bytes) per kind, in the summary's order."""
    return [
        (str(plural), text(entry, "status") or "?", count(entry.get("objects")), count(entry.get("bytes")))
        for plural, entry in mapping(mapping(summary).get("kinds")).items()
        if isinstance(entry, Mapping)
    ]


def failed_kinds(summary: Mapping[str, Any] | None) -> list[str]:
    listed = mapping(summary).get("failed_kinds")
    return [str(plural) for plural in listed] if isinstance(listed, list) else []


def stages(summary: Mapping[str, Any] | None) -> list[tuple[str, str, float | None]]:
    """(stage, outcome, seconds) per stage that ran."""
    result = []
    for name, stage in mapping(mapping(summary).get("stages")).items():
        if isinstance(stage, Mapping):
            seconds = stage.get("seconds")
            number = float(seconds) if isinstance(seconds, int | float) and not isinstance(seconds, bool) else None
            result.append((str(name), text(stage, "outcome") or "?", number))
    return result


def top_images(summary: Mapping[str, Any] | None) -> list[tuple[str, int]]:
    """(image, Critical vulnerabilities), most first, as the summary lists them."""
    listed = mapping(summary).get("top_images")
    entries = listed if isinstance(listed, list) else []
    return [
        (str(entry["image"]), count(entry.get("critical")) or 0)
        for entry in entries
        if isinstance(entry, Mapping) and entry.get("image")
    ]


def dojo_tests(summary: Mapping[str, Any] | None) -> dict[str, int]:
    """DefectDojo tests per fate (reimported, unchanged, held, ...); empty when DefectDojo did not run."""
    tests = mapping(mapping(mapping(summary).get("dojo")).get("tests"))
    return {str(fate): number for fate, value in tests.items() if (number := count(value)) is not None}


def text(block: Mapping[str, Any] | None, key: str) -> str | None:
    value = mapping(block).get(key)
    return str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None


def count(value: Any) -> int | None:
    """A non-negative integer, or None for anything else (a bool is not a count)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def total(counts: Mapping[str, int] | None) -> int | None:
    return None if counts is None else sum(counts.values())


def size_text(size: int | None) -> str:
    """Binary units, as `du -h`, `prune --dry-run` and most S3 consoles show them; `-` when unknown."""
    return "-" if size is None else binary_size(size)
