"""Reading a run directory back: the manifest, each kind's objects (streaming), and verification.

A manifest is input: whoever could write the run directory (or the archive it was restored from) chose its file
names. Every name is checked against the run-directory layout before it is joined to a path, and a path that a
symlink leads out of the run directory is refused, so reading a run never reads anything else.
"""

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
            f"{run_dir} has no {layout.MANIFEST}: the run did not finish (its getter stopped before writing it)"
        )
    if not path.resolve().is_relative_to(run_dir.resolve()):
        raise RunDirError(f"{path} leads outside the run directory (a symlink?); the run is refused")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunDirError(f"cannot read {path}: {exc}") from None
    if not isinstance(manifest, dict) or "kinds" not in manifest:
        raise RunDirError(f"{path} is not a report-exporter manifest")
    if problem := manifest_problem(manifest):
        raise RunDirError(f"{path} is refused: {problem}")
    return manifest


def manifest_problem(manifest: Mapping[str, Any]) -> str | None:
    """Why a manifest cannot be trusted to name files, or None: `kinds` must be a list of objects whose `file`, when
    set, is `reports/<group>/<plural>.jsonl.gz` (layout.is_kind_file), named once, with its size and sha256."""
    kinds = manifest.get("kinds")
    if not isinstance(kinds, list) or not all(isinstance(entry, Mapping) for entry in kinds):
        return "its kinds are not a list of objects"
    seen: set[str] = set()
    for entry in kinds:
        name = entry.get("file")
        if name is None or name == "":
            continue
        if not layout.is_kind_file(name):
            return f"kind {_entry_name(entry)} names the file {name!r}, which is not reports/<group>/<plural>.jsonl.gz"
        if name in seen:
            return f"the file {name!r} is named by two kinds"
        if not isinstance(entry.get("bytes"), int) or not isinstance(entry.get("sha256"), str):
            return f"kind {_entry_name(entry)} gives no size and sha256 for {name}"
        seen.add(name)
    return None


def kind_path(run_dir: Path, name: str) -> Path:
    """The path of a manifest's file inside `run_dir`; RunDirError for a name outside the layout, or one that a
    symlink in the run directory leads elsewhere."""
    if not layout.is_kind_file(name):
        raise RunDirError(f"{run_dir}: {name!r} is not a file of a run directory (reports/<group>/<plural>.jsonl.gz)")
    path = run_dir / name
    if not path.resolve().is_relative_to(run_dir.resolve()):
        raise RunDirError(f"{run_dir}: {name} leads outside the run directory (a symlink?); the run is refused")
    return path


def iter_objects(run_dir: Path, entry: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The objects of one manifest kind entry, one at a time."""
    if not entry.get("file"):
        return
    with gzip.open(kind_path(run_dir, entry["file"]), "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def verify(run_dir: Path, manifest: Mapping[str, Any] | None = None) -> list[str]:
    """Mismatches between the files and the manifest (size, sha256); empty when the run is intact."""
    manifest = manifest if manifest is not None else read_manifest(run_dir)
    if problem := manifest_problem(manifest):
        return [f"the manifest is refused: {problem}"]
    mismatches = []
    for entry in manifest["kinds"]:
        if not entry.get("file"):
            continue
        try:
            path = kind_path(run_dir, entry["file"])
        except RunDirError as error:
            mismatches.append(str(error))
            continue
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


def _entry_name(entry: Mapping[str, Any]) -> str:
    return str(entry.get("plural") or entry.get("kind") or "without a name")


def file_digest(path: Path) -> tuple[int, str]:
    """Size and sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
