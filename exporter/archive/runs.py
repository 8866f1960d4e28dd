"""The runs of a cluster in the archive: list them with their status, read one's manifest, restore one."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from exporter.archive import keys
from exporter.archive.archived_run import ArchivedRun
from exporter.archive.retention import judged_at
from exporter.archive.store import Store, StoredObject
from exporter.errors import ArchiveError, RunDirError
from exporter.rundir import layout, reader
from exporter.rundir.manifest import KindStatus

MANIFEST_READERS = 8  # manifests are small: the reads are round trips, a few at a time hide their latency
MANIFEST_UNREADABLE = "manifest unreadable"
_RUN_STATUSES = ("complete", "partial")  # a manifest's run status, as exporter.rundir.manifest.run_status writes it


class ManifestOutcome(NamedTuple):
    """What a finished run's manifest says of it: partial or not, the plurals of its failed kinds, other causes."""

    partial: bool
    failed_kinds: tuple[str, ...] = ()
    problem: str = ""


def list_runs(store: Store, cluster: str) -> list[ArchivedRun]:
    """Every run of `cluster`, oldest first, with its status: complete, partial or incomplete (no manifest yet).

    The status of a finished run is in its manifest, so each is read: one small GET per run, MANIFEST_READERS at a
    time, because an archive holds hundreds of runs. A manifest that cannot be read or parsed makes its run partial,
    never complete. Retention and `runs list` use this; only `resolve_run` makes do with the key listing.
    """
    listed = _list_by_keys(store, cluster)
    finished = [run.run_id for run in listed if run.complete]
    with ThreadPoolExecutor(max_workers=MANIFEST_READERS) as pool:
        read = pool.map(lambda run_id: read_outcome(store, cluster, run_id)[0], finished)
        outcomes = dict(zip(finished, read, strict=True))
    return [replace(run, **outcomes[run.run_id]._asdict()) if run.complete else run for run in listed]


def read_run(store: Store, cluster: str, run_id: str) -> ArchivedRun:
    """One run with its status, as `list_runs` would show it (for `runs show`); reads only this run's keys."""
    stored = [obj for obj in store.list(keys.run_prefix(cluster, run_id)) if _run_id_of(obj.key, cluster) == run_id]
    if not stored:
        raise ArchiveError(f"no run {run_id} of cluster {cluster!r} in {store.url}; see `report-exporter runs list`")
    (listed,) = _runs_of(stored, cluster)
    if not listed.complete:
        return listed
    return replace(listed, **read_outcome(store, cluster, run_id)[0]._asdict())


def manifest_outcome(manifest: Mapping[str, Any]) -> ManifestOutcome:
    """Partial when the manifest says so or a kind failed; the failed kinds by plural, in the manifest's order.

    A run the getter marked partial without a failed kind has malformed objects or unreadable inputs: `problem` says
    which. A document without the run status or the list of kinds this exporter writes is not trusted as complete.
    """
    status, kinds = manifest.get("status"), manifest.get("kinds")
    if status not in _RUN_STATUSES or not isinstance(kinds, list) or not all(isinstance(k, dict) for k in kinds):
        return ManifestOutcome(partial=True, problem=f"{MANIFEST_UNREADABLE}: no run status or list of kinds")
    failed = tuple(_kind_name(entry) for entry in kinds if entry.get("status") == KindStatus.FAILED)
    malformed = [_kind_name(entry) for entry in kinds if entry.get("malformed_objects")]
    unreadable_inputs = manifest.get("unreadable_inputs") or []
    problems = [f"malformed objects in {', '.join(malformed)}"] if malformed else []
    problems += [f"{len(unreadable_inputs)} unreadable inputs"] if unreadable_inputs else []
    partial = status == "partial" or bool(failed) or bool(problems)
    return ManifestOutcome(partial=partial, failed_kinds=failed, problem="; ".join(problems))


def read_archived_manifest(store: Store, cluster: str, run_id: str) -> dict[str, Any]:
    return _parse_manifest(store.get_bytes(keys.manifest_key(cluster, run_id)), store, run_id)


def resolve_run(store: Store, cluster: str, run: str) -> str:
    """A run id from what the user typed: a full id, a unique prefix of one, or `latest`.

    `latest` is the newest finished run (one with a manifest), partial runs included: it is what the last night
    archived, and `runs show` says whether it is partial. Resolving reads no manifest, only the key listing. Runs
    are placed as retention places them (`retention.judged_at`): a run dated in the future by when it was written.
    """
    runs = _list_by_keys(store, cluster)
    if run == "latest":
        now = datetime.now(UTC)
        finished = [archived for archived in runs if archived.complete]
        if not finished:
            raise ArchiveError(f"no finished run of cluster {cluster!r} in {store.url}")
        return max(finished, key=lambda archived: (judged_at(archived, now), archived.run_id)).run_id
    matches = [archived.run_id for archived in runs if archived.run_id.startswith(run)]
    if len(matches) != 1:
        found = "no run" if not matches else f"{len(matches)} runs"
        raise ArchiveError(
            f"{found} of cluster {cluster!r} in {store.url} match {run!r}; see `report-exporter runs list`"
        )
    return matches[0]


def restore_run(store: Store, cluster: str, run_id: str, target: Path) -> Path:
    """Download a complete run into `target/<run_id>/` and verify every file against its manifest.

    The archive is input like any other: every file name in the manifest is checked against the run-directory layout
    before anything is downloaded or created, so a restore writes only under `target`; a manifest naming anything
    else is refused whole. The manifest is written last, as the getter does, so an interrupted restore is
    recognisably incomplete; it is the very bytes that were checked, not a second download.
    """
    if not layout.is_run_id(run_id):
        raise ArchiveError(f"{run_id!r} is not a run id; see `report-exporter runs list`")
    manifest_bytes = store.get_bytes(keys.manifest_key(cluster, run_id))
    manifest = _parse_manifest(manifest_bytes, store, run_id)
    if problem := reader.manifest_problem(manifest):
        raise ArchiveError(f"run {run_id} in {store.url} is not restored, its manifest is refused: {problem}")
    run_dir = target / run_id
    if run_dir.exists():
        raise ArchiveError(f"{run_dir} already exists; restore into another directory or remove it")
    run_dir.mkdir(parents=True)
    try:
        _download_files(store, cluster, run_id, manifest, run_dir)
        layout.manifest_path(run_dir).write_bytes(manifest_bytes)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return run_dir


def _download_files(store: Store, cluster: str, run_id: str, manifest: Mapping[str, Any], run_dir: Path) -> None:
    """Each file of a checked manifest into `run_dir`, then verified against the manifest."""
    for entry in manifest["kinds"]:
        if entry.get("file"):
            try:
                destination = reader.kind_path(run_dir, entry["file"])
            except RunDirError as error:
                raise ArchiveError(f"run {run_id} is not restored: {error}") from None
            destination.parent.mkdir(parents=True, exist_ok=True)
            store.get_file(keys.run_file_key(cluster, run_id, entry["file"]), destination)
    mismatches = reader.verify(run_dir, manifest)
    if mismatches:
        raise ArchiveError(f"run {run_id} from {store.url} does not match its manifest: {'; '.join(mismatches)}")


def _parse_manifest(data: bytes, store: Store, run_id: str) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except ValueError:
        raise ArchiveError(f"the manifest of run {run_id} in {store.url} is not JSON") from None
    if not isinstance(manifest, dict):
        raise ArchiveError(f"the manifest of run {run_id} in {store.url} is not a manifest")
    return manifest


def _list_by_keys(store: Store, cluster: str) -> list[ArchivedRun]:
    """Every run from the key listing alone, oldest first: finished when its manifest is there, never partial."""
    return _runs_of(store.list(keys.cluster_runs_prefix(cluster)), cluster)


def _runs_of(listing: Iterable[StoredObject], cluster: str) -> list[ArchivedRun]:
    """The runs of `cluster` in a listing, by run id: size, whether the manifest is there, and the newest
    LastModified of their objects (what an unfinished or future-dated run is judged by)."""
    sizes: dict[str, int] = {}
    written: dict[str, datetime] = {}
    finished: set[str] = set()
    for stored in listing:
        parsed = keys.parse_run_key(stored.key)
        if parsed is None or parsed.cluster != cluster:
            continue
        sizes[parsed.run_id] = sizes.get(parsed.run_id, 0) + stored.size
        written[parsed.run_id] = max(written.get(parsed.run_id, stored.last_modified), stored.last_modified)
        if parsed.is_manifest:
            finished.add(parsed.run_id)
    return [
        ArchivedRun.from_run_id(run_id, complete=run_id in finished, size=sizes[run_id], last_modified=written[run_id])
        for run_id in sorted(sizes)
    ]


def _run_id_of(key: str, cluster: str) -> str | None:
    parsed = keys.parse_run_key(key)
    return parsed.run_id if parsed is not None and parsed.cluster == cluster else None


def read_outcome(store: Store, cluster: str, run_id: str) -> tuple[ManifestOutcome, bool]:
    """The manifest's outcome, and whether the store answered: a manifest that cannot be read or parsed makes its
    run partial, never complete, with the reason in words (the report page's index stores no row of a failed read)."""
    try:
        data = store.get_bytes(keys.manifest_key(cluster, run_id))
    except ArchiveError as error:  # gone since the listing, or refused: either way not a run to count as complete
        return ManifestOutcome(partial=True, problem=f"{MANIFEST_UNREADABLE}: {error}"), False
    try:
        manifest = json.loads(data)
    except ValueError:
        return ManifestOutcome(partial=True, problem=f"{MANIFEST_UNREADABLE}: not JSON"), True
    if not isinstance(manifest, dict):
        return ManifestOutcome(partial=True, problem=f"{MANIFEST_UNREADABLE}: not a JSON object"), True
    return manifest_outcome(manifest), True


def _kind_name(entry: Mapping[str, Any]) -> str:
    """The plural, as `runs list` and the plan name kinds; the kind if an entry lacks it."""
    return str(entry.get("plural") or entry.get("kind") or "unnamed kind")
