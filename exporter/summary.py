"""A night in numbers: the one document the summary table, `summary.json`, the metrics and the report page read.

Built purely from what the stages returned (`NightFacts`), so that the table a person reads at the end of a run,
the file archived beside the manifest, the Prometheus metrics and the report page can never disagree.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from exporter.dojo.statistics import SEVERITIES, Counts

SCHEMA_VERSION = 1
SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class Stage:
    """One stage's outcome (complete, partial, failed) and how long it took."""

    outcome: str
    seconds: float


@dataclass(frozen=True)
class DojoFacts:
    """What the DefectDojo step did, in counts (exporter.dojo.sync.SyncResult, reduced)."""

    tests: Mapping[str, int]  # reimported, unchanged, emptied, held, valve_held, missing, renamed, not_moved, failed
    calls: int
    new: Counts = field(default_factory=dict)
    closed: Counts = field(default_factory=dict)
    reactivated: Counts = field(default_factory=dict)
    active: Counts = field(default_factory=dict)
    active_by_scope: Mapping[str, Counts] = field(default_factory=dict)


@dataclass(frozen=True)
class NightFacts:
    """Everything a night's summary is made of; stages that did not run are absent."""

    manifest: Mapping[str, Any]
    stages: Mapping[str, Stage]
    archived_bytes: int | None = None
    dojo: DojoFacts | None = None
    deleted_runs: int | None = None
    top_images: tuple[tuple[str, int], ...] = ()  # (image, critical vulnerabilities), most first


def night_summary(facts: NightFacts) -> dict[str, Any]:
    """The summary document (JSON-ready), schema SCHEMA_VERSION."""
    manifest = facts.manifest
    kinds = {
        str(entry["plural"]): {
            "status": entry["status"],
            "objects": int(entry["objects"]),
            "bytes": int(entry["bytes"]),
        }
        for entry in manifest["kinds"]
    }
    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "cluster": manifest["cluster"],
        "run_id": manifest["run_id"],
        "started_at": manifest["started_at"],
        "finished_at": manifest["finished_at"],
        "run_status": manifest["status"],
        "outcome": _worst(stage.outcome for stage in facts.stages.values()),
        "stages": {
            name: {"outcome": stage.outcome, "seconds": round(stage.seconds, 3)} for name, stage in facts.stages.items()
        },
        "kinds": kinds,
        "failed_kinds": [plural for plural, kind in kinds.items() if kind["status"] == "failed"],
        "objects": sum(kind["objects"] for kind in kinds.values()),
        "top_images": [{"image": image, "critical": count} for image, count in facts.top_images],
    }
    if facts.archived_bytes is not None:
        summary["archived_bytes"] = facts.archived_bytes
    if facts.deleted_runs is not None:
        summary["retention"] = {"deleted_runs": facts.deleted_runs}
    if facts.dojo is not None:
        summary["dojo"] = {"tests": dict(facts.dojo.tests), "calls": facts.dojo.calls}
        summary["findings"] = {
            "new": _full(facts.dojo.new),
            "closed": _full(facts.dojo.closed),
            "reactivated": _full(facts.dojo.reactivated),
            "active": _full(facts.dojo.active),
            "active_by_namespace": {
                scope: _full(counts) for scope, counts in sorted(facts.dojo.active_by_scope.items())
            },
        }
    return summary


def top_images(run_dir: Path, manifest: Mapping[str, Any], limit: int = 10) -> tuple[tuple[str, int], ...]:
    """Images by Critical vulnerabilities, from the run's trivy-operator VulnerabilityReports (`report.artifact`,
    `report.registry`, `report.summary.criticalCount`); an image scanned in several workloads counts once, at its
    highest. Decoded with a schema of those few fields, so the rest of each report is skipped, not parsed."""
    worst: dict[str, int] = {}
    for entry in manifest["kinds"]:
        if entry.get("plural") != VULNERABILITY_REPORTS or not entry.get("file"):
            continue
        with gzip.open(run_dir / entry["file"], "rb") as lines:
            for line in lines:
                try:
                    report = _REPORT.decode(line).report
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue
                if report is None or not report.artifact.repository:
                    continue
                image = "/".join(part for part in (report.registry.server, report.artifact.repository) if part)
                image += f":{report.artifact.tag}" if report.artifact.tag else ""
                worst[image] = max(worst.get(image, 0), report.summary.criticalCount)
    ranked = sorted(((image, n) for image, n in worst.items() if n > 0), key=lambda pair: (-pair[1], pair[0]))
    return tuple(ranked[:limit])


class _Artifact(msgspec.Struct):
    repository: str = ""
    tag: str = ""


class _Registry(msgspec.Struct):
    server: str = ""


class _Counts(msgspec.Struct):
    criticalCount: int = 0  # noqa: N815 - trivy-operator's field name


class _Report(msgspec.Struct):
    artifact: _Artifact = msgspec.field(default_factory=_Artifact)
    registry: _Registry = msgspec.field(default_factory=_Registry)
    summary: _Counts = msgspec.field(default_factory=_Counts)


class _Object(msgspec.Struct):
    report: _Report | None = None


_REPORT = msgspec.json.Decoder(_Object)
VULNERABILITY_REPORTS = "vulnerabilityreports"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _full(counts: Counts) -> Counts:
    return {severity: int(counts.get(severity, 0)) for severity in SEVERITIES}


def _worst(outcomes: Any) -> str:
    order = ("complete", "partial", "failed")
    found = [outcome for outcome in outcomes if outcome in order]
    return max(found, key=order.index) if found else "complete"
