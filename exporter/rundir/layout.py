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
_RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{4}", re.ASCII)
# `reports/<group>/<plural>.jsonl.gz` and nothing else: an API group is a DNS subdomain and a plural a DNS label,
# so no segment can be empty, `.` or `..`, hold a separator of any OS, or start with a dot.
_KIND_FILE = re.compile(
    rf"{REPORTS}/[a-z0-9](?:[a-z0-9.-]{{0,251}}[a-z0-9])?/[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.jsonl\.gz",
    re.ASCII,
)


def new_run_id(started_at: datetime, suffix: str | None = None) -> str:
    """UTC start time plus a short random suffix: sortable, and unique when two runs start in one second."""
    stamp = started_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{suffix if suffix is not None else secrets.token_hex(2)}"


def is_run_id(name: str) -> bool:
    """The shape of a run id, with a start time that exists (no 13th month), so `run_started_at` cannot fail."""
    if not _RUN_ID.fullmatch(name):
        return False
    try:
        run_started_at(name)
    except ValueError:
        return False
    return True


def run_started_at(run_id: str) -> datetime:
    """The start time encoded in a run id."""
    return datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def kind_file(kind: ReportKind) -> PurePosixPath:
    """`reports/<group>/<plural>.jsonl.gz`, relative to the run directory."""
    return PurePosixPath(REPORTS, kind.group, f"{kind.plural}.jsonl.gz")


def is_kind_file(name: object) -> bool:
    """Whether a manifest's `file` names a kind file of a run directory, as `kind_file` lays them out.

    A manifest comes from disk or from an archive, so it is input: a name like `../../x`, `/tmp/x`, `reports/../x`
    or `..\\x` would read or write outside the run directory. Only this exact shape is ever joined to a path.
    """
    return isinstance(name, str) and _KIND_FILE.fullmatch(name) is not None and ".." not in name


def manifest_path(run_dir: Path) -> Path:
    return run_dir / MANIFEST
