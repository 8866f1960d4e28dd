"""Literal nights of one cluster, as `summary.json` documents (exporter.summary schema 1), for the summary tables,
`runs trend` and the report page's tests.

Counts are written out per severity (critical, high, medium, low, info); each night's namespaces add up to its open
findings. Night 4 has no summary (a gap) and night 7 is still uploading (no manifest, no summary).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from exporter.archive.archived_run import ArchivedRun

CLUSTER = "prod-eu"
SEVERITIES = ("critical", "high", "medium", "low", "info")
Counts5 = tuple[int, int, int, int, int]


def counts(values: Counts5) -> dict[str, int]:
    return dict(zip(SEVERITIES, values, strict=True))


def night(
    run_id: str,
    outcome: str,
    active: Counts5,
    new: Counts5,
    closed: Counts5,
    namespaces: dict[str, Counts5],
    *,
    failed: tuple[str, ...] = (),
    top_images: tuple[tuple[str, int], ...] = (),
) -> dict[str, Any]:
    """A summary document as exporter.summary.night_summary writes it, DefectDojo included."""
    kinds = {
        "vulnerabilityreports": {"status": "complete", "objects": 118, "bytes": 2_411_520},
        "configauditreports": {"status": "failed" if "configauditreports" in failed else "complete",
                               "objects": 0 if "configauditreports" in failed else 96, "bytes": 88_064},
        "rbacassessmentreports": {"status": "failed" if "rbacassessmentreports" in failed else "complete",
                                  "objects": 0 if "rbacassessmentreports" in failed else 41, "bytes": 30_720},
        "workloadconfigurationscans": {"status": "absent", "objects": 0, "bytes": 0},
    }  # fmt: skip
    return {
        "schema_version": 1,
        "cluster": CLUSTER,
        "run_id": run_id,
        "started_at": f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T02:00:00Z",
        "finished_at": f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T02:07:41Z",
        "run_status": "partial" if failed else "complete",
        "outcome": outcome,
        "stages": {"get": {"outcome": outcome, "seconds": 212.4}, "upload": {"outcome": outcome, "seconds": 248.9}},
        "kinds": kinds,
        "failed_kinds": list(failed),
        "objects": sum(kind["objects"] for kind in kinds.values()),
        "top_images": [{"image": image, "critical": critical} for image, critical in top_images],
        "archived_bytes": 2_530_304,
        "retention": {"deleted_runs": 1},
        "dojo": {"tests": {"reimported": 14, "unchanged": 31, "held": 2 if failed else 0}, "calls": 48},
        "findings": {
            "new": counts(new),
            "closed": counts(closed),
            "reactivated": counts((0, 0, 0, 0, 0)),
            "active": counts(active),
            "active_by_namespace": {scope: counts(values) for scope, values in namespaces.items()},
        },
    }


TOP_IMAGES = (
    ("registry.example.com/shop/checkout:2.14.1", 2),
    ("docker.io/library/nginx:1.21.6", 1),
)

NIGHT_1 = night(
    "20261117T020000Z-0a01", "complete", (4, 22, 41, 12, 3), (1, 2, 3, 1, 0), (0, 0, 0, 0, 0),
    {"shop": (2, 10, 18, 5, 1), "payments": (2, 7, 12, 3, 1), "kube-system": (0, 3, 6, 2, 1),
     "monitoring": (0, 1, 2, 1, 0), "cluster": (0, 1, 3, 1, 0)},
)  # fmt: skip
NIGHT_2 = night(
    "20261118T020000Z-0b02", "complete", (5, 24, 40, 12, 3), (1, 3, 1, 0, 0), (0, 1, 2, 0, 0),
    {"shop": (3, 11, 18, 5, 1), "payments": (2, 8, 11, 3, 1), "kube-system": (0, 3, 6, 2, 1),
     "monitoring": (0, 1, 2, 1, 0), "cluster": (0, 1, 3, 1, 0)},
)  # fmt: skip
NIGHT_3 = night(
    "20261119T020000Z-0c03", "partial", (5, 23, 44, 13, 3), (0, 1, 4, 1, 0), (0, 2, 0, 0, 0),
    {"shop": (3, 10, 20, 6, 1), "payments": (2, 8, 12, 3, 1), "kube-system": (0, 3, 7, 2, 1),
     "monitoring": (0, 1, 2, 1, 0), "cluster": (0, 1, 3, 1, 0)},
    failed=("configauditreports",),
)  # fmt: skip
NIGHT_4_ID = "20261120T020000Z-0d04"  # archived before summaries existed: no summary.json
NIGHT_5 = night(
    "20261121T020000Z-0e05", "complete", (3, 19, 38, 12, 2), (0, 2, 1, 0, 0), (2, 6, 7, 1, 1),
    {"shop": (1, 8, 17, 5, 1), "payments": (2, 6, 10, 3, 0), "kube-system": (0, 3, 6, 2, 1),
     "monitoring": (0, 1, 2, 1, 0), "cluster": (0, 1, 3, 1, 0)},
)  # fmt: skip
NIGHT_6 = night(
    "20261122T020000Z-0f06", "partial", (3, 21, 39, 11, 2), (0, 2, 2, 0, 0), (0, 0, 1, 1, 0),
    {"shop": (1, 9, 18, 5, 1), "payments": (2, 7, 10, 2, 0), "kube-system": (0, 3, 6, 2, 1),
     "monitoring": (0, 1, 2, 1, 0), "cluster": (0, 1, 3, 1, 0)},
    failed=("configauditreports", "rbacassessmentreports"), top_images=TOP_IMAGES,
)  # fmt: skip
NIGHT_7_ID = "20261123T020000Z-1a07"  # still uploading: no manifest yet

SUMMARIES: list[tuple[str, dict[str, Any] | None]] = [
    (NIGHT_1["run_id"], NIGHT_1),
    (NIGHT_2["run_id"], NIGHT_2),
    (NIGHT_3["run_id"], NIGHT_3),
    (NIGHT_4_ID, None),
    (NIGHT_5["run_id"], NIGHT_5),
    (NIGHT_6["run_id"], NIGHT_6),
    (NIGHT_7_ID, None),
]


def archived_runs() -> list[ArchivedRun]:
    """The same nights as `runs list` shows them."""
    partial = {NIGHT_3["run_id"]: ("configauditreports",),
               NIGHT_6["run_id"]: ("configauditreports", "rbacassessmentreports")}  # fmt: skip
    runs = []
    for run_id, _ in SUMMARIES:
        complete = run_id != NIGHT_7_ID
        failed = partial.get(run_id, ())
        runs.append(
            ArchivedRun.from_run_id(run_id, complete=complete, size=2_530_304, partial=bool(failed),
                                    failed_kinds=failed, last_modified=datetime(2026, 11, 23, 3, tzinfo=UTC))
        )  # fmt: skip
    return runs


GENERATED_AT = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
