"""The manifest of a run: built purely from what the getter saw, written last.

Nothing downstream may treat a `failed` kind as "no findings": the status of each kind is explicit, and a run
without a manifest is incomplete by definition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from exporter.catalog import ReportKind
from exporter.rundir.writer import WrittenFile

SCHEMA_VERSION = 1
MAX_LISTED_PROBLEMS = 20


class KindStatus(StrEnum):
    COMPLETE = "complete"  # every page listed
    ABSENT = "absent"  # the cluster (or the input) does not serve this kind
    FAILED = "failed"  # listing stopped; the file, if any, holds only part of the kind


@dataclass(frozen=True)
class KindResult:
    """The outcome of one kind in one run."""

    kind: ReportKind
    status: KindStatus
    written: WrittenFile | None = None
    error: str | None = None
    malformed: tuple[str, ...] = ()
    restarts: int = 0
    warnings: tuple[str, ...] = ()  # objects archived as they are with an optional part missing
    unfetched: tuple[str, ...] = ()  # objects archived as listed because their report could not be fetched


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    cluster: str
    started_at: datetime
    finished_at: datetime
    exporter_version: str
    kubernetes_version: str | None
    source: Mapping[str, Any]
    filters: Mapping[str, Any] = field(default_factory=dict)
    ignored: Mapping[str, int] = field(default_factory=dict)
    unreadable: tuple[str, ...] = ()


def run_status(results: Iterable[KindResult], unreadable: Iterable[str] = ()) -> str:
    """`complete`, or `partial` when a kind failed, an object is malformed or an input could not be read.

    Warnings (an object archived without its optional report) leave a run complete: the object is stored as the
    API served it, and DefectDojo holds the family it belongs to (exporter/dojo/plan.py)."""
    results = list(results)
    if any(result.status is KindStatus.FAILED or result.malformed for result in results) or list(unreadable):
        return "partial"
    return "complete"


def build_manifest(info: RunInfo, results: Iterable[KindResult]) -> dict[str, Any]:
    """The manifest document of ARCHITECTURE.md as a plain dict."""
    results = list(results)
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": info.run_id,
        "cluster": info.cluster,
        "started_at": _timestamp(info.started_at),
        "finished_at": _timestamp(info.finished_at),
        "exporter_version": info.exporter_version,
        "kubernetes_version": info.kubernetes_version,
        "source": dict(info.source),
        "filters": dict(info.filters),
        "status": run_status(results, info.unreadable),
        "kinds": [_kind_entry(result) for result in results],
        "ignored_objects": dict(sorted(info.ignored.items())),
        "unreadable_inputs": list(info.unreadable),
    }


def _kind_entry(result: KindResult) -> dict[str, Any]:
    kind = result.kind
    written = result.written
    return {
        "scanner": kind.scanner.value,
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "plural": kind.plural,
        "namespaced": kind.namespaced,
        "status": result.status.value,
        "file": written.path if written else None,
        "objects": written.objects if written else 0,
        "bytes": written.bytes if written else 0,
        "sha256": written.sha256 if written else None,
        "error": result.error,
        "malformed_objects": len(result.malformed),
        "malformed": list(result.malformed[:MAX_LISTED_PROBLEMS]),
        "objects_with_warnings": len(result.warnings),
        "warnings": list(result.warnings[:MAX_LISTED_PROBLEMS]),
        "unfetched_objects": len(result.unfetched),
        "unfetched": list(result.unfetched[:MAX_LISTED_PROBLEMS]),
        "list_restarts": result.restarts,
    }


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
