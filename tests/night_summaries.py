"""Three nights of one cluster as `exporter.summary.night_summary` documents them, written out as literals.

Literals on purpose: the metrics tests check the metrics against these numbers, not against what the summary code
makes of some facts. Each night is a function, so a test may change its copy.
"""

from __future__ import annotations

from typing import Any

COMPLETE_FINISHED = 1795401100.0  # 2026-11-23T02:31:40Z
PARTIAL_FINISHED = 1795487525.0  # 2026-11-24T02:32:05Z
FAILED_FINISHED = 1795573850.0  # 2026-11-25T02:30:50Z


def _none(**counts: int) -> dict[str, int]:
    return {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0, **counts}


def _tests(**counts: int) -> dict[str, int]:
    return {"reimported": 0, "unchanged": 0, "emptied": 0, "held": 0, "valve_held": 0, "missing": 0, "renamed": 0,
            "not_moved": 0, "failed": 0, **counts}  # fmt: skip


def complete_night(cluster: str = "prod-eu-1") -> dict[str, Any]:
    """Every stage complete: read, archived, imported, retention applied."""
    return {
        "schema_version": 1,
        "cluster": cluster,
        "run_id": "20261123T023000Z-3f9a",
        "started_at": "2026-11-23T02:30:00.000000Z",
        "finished_at": "2026-11-23T02:31:40.000000Z",
        "run_status": "complete",
        "outcome": "complete",
        "stages": {
            "get": {"outcome": "complete", "seconds": 100.0},
            "archive": {"outcome": "complete", "seconds": 12.5},
            "dojo": {"outcome": "complete", "seconds": 30.25},
            "retention": {"outcome": "complete", "seconds": 1.5},
        },
        "kinds": {
            "vulnerabilityreports": {"status": "complete", "objects": 120, "bytes": 3_000_000},
            "configauditreports": {"status": "complete", "objects": 80, "bytes": 400_000},
            "clustercompliancereports": {"status": "absent", "objects": 0, "bytes": 0},
        },
        "failed_kinds": [],
        "objects": 200,
        "top_images": [{"image": "docker.io/library/nginx:1.25", "critical": 2}],
        "archived_bytes": 3_400_512,
        "retention": {"deleted_runs": 2},
        "dojo": {"tests": _tests(reimported=5, unchanged=20, emptied=1), "calls": 31},
        "findings": {
            "new": _none(critical=2, high=3),
            "closed": _none(medium=4),
            "reactivated": _none(low=1),
            "active": _none(critical=7, high=40, medium=100, low=60, info=9),
            "active_by_namespace": {"shop": _none(critical=7)},
        },
    }


def partial_night(cluster: str = "prod-eu-1") -> dict[str, Any]:
    """A kind failed (its family held) and the mass-close valve held a test: archived and imported, but partial."""
    return {
        "schema_version": 1,
        "cluster": cluster,
        "run_id": "20261124T023000Z-7c21",
        "started_at": "2026-11-24T02:30:00.000000Z",
        "finished_at": "2026-11-24T02:32:05.000000Z",
        "run_status": "partial",
        "outcome": "partial",
        "stages": {
            "get": {"outcome": "partial", "seconds": 125.0},
            "archive": {"outcome": "partial", "seconds": 11.0},
            "dojo": {"outcome": "partial", "seconds": 20.0},
            "retention": {"outcome": "complete", "seconds": 1.25},
        },
        "kinds": {
            "vulnerabilityreports": {"status": "complete", "objects": 118, "bytes": 2_950_000},
            "configauditreports": {"status": "failed", "objects": 0, "bytes": 0},
            "clustercompliancereports": {"status": "absent", "objects": 0, "bytes": 0},
        },
        "failed_kinds": ["configauditreports"],
        "objects": 118,
        "top_images": [],
        "archived_bytes": 2_950_300,
        "retention": {"deleted_runs": 0},
        "dojo": {"tests": _tests(reimported=3, unchanged=19, held=4, valve_held=1, not_moved=2), "calls": 22},
        "findings": {
            "new": _none(),
            "closed": _none(high=1),
            "reactivated": _none(),
            "active": _none(critical=7, high=39, medium=100, low=60, info=9),
            "active_by_namespace": {},
        },
    }


def failed_night(cluster: str = "prod-eu-1") -> dict[str, Any]:
    """No kind could be listed: nothing archived, DefectDojo and retention did not run."""
    return {
        "schema_version": 1,
        "cluster": cluster,
        "run_id": "20261125T023000Z-0b5e",
        "started_at": "2026-11-25T02:30:00.000000Z",
        "finished_at": "2026-11-25T02:30:50.000000Z",
        "run_status": "partial",
        "outcome": "failed",
        "stages": {"get": {"outcome": "failed", "seconds": 50.0}},
        "kinds": {
            "vulnerabilityreports": {"status": "failed", "objects": 0, "bytes": 0},
            "configauditreports": {"status": "failed", "objects": 0, "bytes": 0},
            "clustercompliancereports": {"status": "absent", "objects": 0, "bytes": 0},
        },
        "failed_kinds": ["vulnerabilityreports", "configauditreports"],
        "objects": 0,
        "top_images": [],
    }
