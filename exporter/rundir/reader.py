"""Reading a run directory back: the manifest, each kind's objects (streaming), and verification."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from exporter.errors import RunDirError
from exporter.rundir import layout

_CHUNK = 1 << 20


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The manifest, or RunDirError when the run is incomplete (no manifest) or the manifest is unreadable."""
    path = layout.manifest_path(run_dir)
    if not path.is_file():
        raise RunDirError(
            f"{run_dir} has no {layout.MANIFEST}: the run did not finish; run `report-exporter get` again"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunDirError(f"cannot read {path}: {exc}") from None
    if not isinstance(manifest, dict) or "kinds" not in manifest:
        raise RunDirError(f"{path} is not a report-exporter manifest")
    return manifest


def iter_objects(run_dir: Path, entry: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The objects of one manifest kind entry, one at a time."""
    if not entry.get("file"):
        return
    with gzip.open(run_dir / entry["file"], "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def verify(run_dir: Path, manifest: Mapping[str, Any] | None = None) -> list[str]:
    """Mismatches between the files and the manifest (size, sha256); empty when the run is intact."""
    manifest = manifest if manifest is not None else read_manifest(run_dir)
    mismatches = []
    for entry in manifest["kinds"]:
        if not entry.get("file"):
            continue
        path = run_dir / entry["file"]
        if not path.is_file():
            mismatches.append(f"{entry['file']}: missing")
            continue
        size, digest = file_digest(path)
        if size != entry["bytes"] or digest != entry["sha256"]:
            mismatches.append(
                f"{entry['file']}: {size} bytes sha256 {digest[:12]}, manifest says "
                f"{entry['bytes']} bytes sha256 {str(entry['sha256'])[:12]}"
            )
    return mismatches


def file_digest(path: Path) -> tuple[int, str]:
    """Size and sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
