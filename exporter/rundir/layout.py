"""Every path inside a run directory, and the run id: one function per kind of path, nowhere else.

Run directories and S3 keys share these relative paths, so an archived run restores to the same layout.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from exporter.catalog import ReportKind

MANIFEST = "manifest.json"
REPORTS = "reports"
_RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{4}$")


def new_run_id(started_at: datetime, suffix: str | None = None) -> str:
    """UTC start time plus a short random suffix: sortable, and unique when two runs start in one second."""
    stamp = started_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{suffix if suffix is not None else secrets.token_hex(2)}"


def is_run_id(name: str) -> bool:
    return bool(_RUN_ID.match(name))


def run_started_at(run_id: str) -> datetime:
    """The start time encoded in a run id."""
    return datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def kind_file(kind: ReportKind) -> PurePosixPath:
    """`reports/<group>/<plural>.jsonl.gz`, relative to the run directory."""
    return PurePosixPath(REPORTS, kind.group, f"{kind.plural}.jsonl.gz")


def manifest_path(run_dir: Path) -> Path:
    return run_dir / MANIFEST
