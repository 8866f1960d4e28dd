"""The runs of a cluster in the archive: list them, read one's manifest, restore one into a run directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from exporter.archive import keys
from exporter.archive.retention import ArchivedRun
from exporter.archive.store import Store
from exporter.errors import ArchiveError
from exporter.rundir import reader


def list_runs(store: Store, cluster: str) -> list[ArchivedRun]:
    """Every run of `cluster`, oldest first; complete when its manifest is there."""
    sizes: dict[str, int] = {}
    complete: set[str] = set()
    for stored in store.list(keys.cluster_runs_prefix(cluster)):
        parsed = keys.parse_run_key(stored.key)
        if parsed is None or parsed.cluster != cluster:
            continue
        sizes[parsed.run_id] = sizes.get(parsed.run_id, 0) + stored.size
        if parsed.is_manifest:
            complete.add(parsed.run_id)
    return [
        ArchivedRun.from_run_id(run_id, complete=run_id in complete, size=sizes[run_id]) for run_id in sorted(sizes)
    ]


def run_keys(store: Store, cluster: str, run_id: str) -> list[str]:
    """Every key of one run."""
    return [stored.key for stored in store.list(keys.run_prefix(cluster, run_id))]


def read_archived_manifest(store: Store, cluster: str, run_id: str) -> dict[str, Any]:
    try:
        manifest = json.loads(store.get_bytes(keys.manifest_key(cluster, run_id)))
    except ValueError:
        raise ArchiveError(f"the manifest of run {run_id} in {store.url} is not JSON") from None
    if not isinstance(manifest, dict):
        raise ArchiveError(f"the manifest of run {run_id} in {store.url} is not a manifest")
    return manifest


def resolve_run(store: Store, cluster: str, run: str) -> str:
    """A run id from what the user typed: a full id, a unique prefix of one, or `latest` (newest complete)."""
    runs = list_runs(store, cluster)
    if run == "latest":
        complete = [archived.run_id for archived in runs if archived.complete]
        if not complete:
            raise ArchiveError(f"no complete run of cluster {cluster!r} in {store.url}")
        return complete[-1]
    matches = [archived.run_id for archived in runs if archived.run_id.startswith(run)]
    if len(matches) != 1:
        found = "no run" if not matches else f"{len(matches)} runs"
        raise ArchiveError(
            f"{found} of cluster {cluster!r} in {store.url} match {run!r}; see `report-exporter runs list`"
        )
    return matches[0]


def restore_run(store: Store, cluster: str, run_id: str, target: Path) -> Path:
    """Download a complete run into `target/<run_id>/` and verify every file against its manifest.

    The manifest is written last, as the getter does, so an interrupted restore is recognisably incomplete.
    """
    manifest = read_archived_manifest(store, cluster, run_id)
    run_dir = target / run_id
    if run_dir.exists():
        raise ArchiveError(f"{run_dir} already exists; restore into another directory or remove it")
    run_dir.mkdir(parents=True)
    try:
        for entry in manifest["kinds"]:
            if entry.get("file"):
                destination = run_dir / entry["file"]
                destination.parent.mkdir(parents=True, exist_ok=True)
                store.get_file(keys.run_file_key(cluster, run_id, entry["file"]), destination)
        mismatches = reader.verify(run_dir, manifest)
        if mismatches:
            raise ArchiveError(f"run {run_id} from {store.url} does not match its manifest: {'; '.join(mismatches)}")
        (run_dir / "manifest.json").write_bytes(store.get_bytes(keys.manifest_key(cluster, run_id)))
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return run_dir
