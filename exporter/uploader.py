"""The uploader: archive a finished run directory, verified, manifest last; then apply retention.

The local run directory is only read, never deleted: it disappears with the CronJob's pod, after the upload it
served has been verified. A run directory without a manifest is refused, so a run that did not finish can never
be archived as one that did. The manifest names the files to read, and it is input: only names of the run-directory
layout are read, and only inside the run directory (`rundir.reader.kind_path`).

Right before the manifest is written, one listing of the run's prefix confirms every object is still there: a prune
running beside the upload may have taken the run for one that died. A missing object is uploaded again; the
manifest never goes up over missing objects, so a run listed complete can always be restored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exporter.archive import keys
from exporter.archive.pruning import PruneResult, apply_prune, plan_prune
from exporter.archive.retention import RetentionPlan, RetentionPolicy
from exporter.archive.store import Store
from exporter.errors import ArchiveError, RunDirError
from exporter.progress import Reporter
from exporter.rundir import layout, reader


@dataclass(frozen=True)
class UploadResult:
    cluster: str
    run_id: str
    files: int
    bytes: int
    manifest: dict[str, Any]


def run_dirs(source: Path) -> list[Path]:
    """`source` itself when it is a run directory, else the run directories in it, oldest first."""
    if layout.manifest_path(source).is_file() or layout.is_run_id(source.name):
        return [source]
    found = sorted(path for path in source.iterdir() if path.is_dir() and layout.is_run_id(path.name))
    if not found:
        raise RunDirError(f"{source} holds no run directory; point --from at the getter's --out directory")
    return found


def verified_manifest(run_dir: Path) -> dict[str, Any]:
    """The run's manifest, once every file matches it (size, sha256) and its cluster and run id can name archive
    keys; RunDirError otherwise."""
    manifest = reader.read_manifest(run_dir)
    try:
        keys.run_prefix(str(manifest.get("cluster")), str(manifest.get("run_id")))
    except ArchiveError as error:
        raise RunDirError(f"{layout.manifest_path(run_dir)} is refused: {error}") from None
    if mismatches := reader.verify(run_dir, manifest):
        raise RunDirError(f"{run_dir} does not match its manifest ({'; '.join(mismatches)}): changed since the getter")
    return manifest


def upload_run(
    store: Store,
    run_dir: Path,
    *,
    max_concurrency: int,
    reporter: Reporter,
    manifest: Mapping[str, Any] | None = None,
) -> UploadResult:
    """Upload every file of a verified run directory in parallel, confirm they are all stored, then its manifest.

    `manifest`: what verified_manifest returned, for a caller that verified the run while doing something else.
    """
    manifest = dict(manifest) if manifest is not None else verified_manifest(run_dir)
    cluster, run_id = str(manifest["cluster"]), str(manifest["run_id"])
    files = [_RunFile(keys.run_file_key(cluster, run_id, entry["file"]), reader.kind_path(run_dir, entry["file"]),
                      int(entry["bytes"])) for entry in manifest["kinds"] if entry.get("file")]  # fmt: skip
    reporter.info(f"archiving run {run_id} of {cluster} to {store.url}", event="upload_started", run_id=run_id)
    _put_files(store, files, max_concurrency)
    _confirm_stored(store, keys.run_prefix(cluster, run_id), files, reporter, run_id=run_id)
    store.put_bytes(layout.manifest_path(run_dir).read_bytes(), keys.manifest_key(cluster, run_id))
    size = sum(int(entry["bytes"]) for entry in manifest["kinds"])
    reporter.info(
        f"archived run {run_id}: {len(files)} files, {size} bytes, verified; manifest uploaded last",
        event="upload_finished", run_id=run_id, files=len(files), bytes=size,
    )  # fmt: skip
    return UploadResult(cluster, run_id, len(files), size, manifest)


@dataclass(frozen=True)
class _RunFile:
    key: str
    path: Path
    size: int


def _put_files(store: Store, files: Sequence[_RunFile], max_concurrency: int) -> None:
    with ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="upload") as pool:
        list(pool.map(lambda file: store.put_file(file.path, file.key), files))


def _confirm_stored(store: Store, prefix: str, files: Sequence[_RunFile], reporter: Reporter, *, run_id: str) -> None:
    """One listing of the run's prefix: every file there with its size, or uploaded again; ArchiveError when they
    vanish a second time, before any manifest is written (the run then stays incomplete and the next upload retries).
    """
    missing = _missing(store, prefix, files)
    if not missing:
        return
    reporter.warning(
        f"run {run_id}: {len(missing)} objects vanished from {store.url} during the upload ({missing[0].key}"
        f"{' and more' if len(missing) > 1 else ''}); a prune running beside it may have deleted them; uploading "
        "them again",
        event="upload_objects_missing", run_id=run_id, keys=[file.key for file in missing],
    )  # fmt: skip
    _put_files(store, missing, max_concurrency=1)
    if still_missing := _missing(store, prefix, files):
        raise ArchiveError(
            f"run {run_id}: {still_missing[0].key} vanished from {store.url} again while uploading, so no manifest "
            "was written (the run stays incomplete); stop what deletes it (a prune whose "
            "archive.retention.incomplete_grace is shorter than an upload?) and upload again"
        )


def _missing(store: Store, prefix: str, files: Sequence[_RunFile]) -> list[_RunFile]:
    """The files the store does not hold under `prefix` with their size."""
    stored = {obj.key: obj.size for obj in store.list(prefix)}
    return [file for file in files if stored.get(file.key) != file.size]


def prune(
    store: Store,
    cluster: str,
    policy: RetentionPolicy,
    reporter: Reporter,
    *,
    dry_run: bool = False,
    protect: tuple[str, ...] = (),
    now: datetime | None = None,
) -> tuple[RetentionPlan, PruneResult | None]:
    """Plan retention for one cluster, report the plan with reasons, and apply it unless `dry_run`."""
    moment = now or datetime.now(UTC)
    plan = plan_prune(store, cluster, policy, now=moment, protect=protect)
    reporter.info(f"retention for {cluster}: {policy}", event="retention_policy")
    for line in plan.describe():
        reporter.info(line, event="retention_decision")
    if dry_run:
        reporter.info(f"dry run: {plan.summary()}", event="retention_plan")
        return plan, None
    result = apply_prune(store, cluster, plan, policy, now=moment)
    for run_id in result.spared_runs:
        reporter.info(f"kept {run_id}: it was being written while the plan was made", event="retention_spared")
    reporter.info(
        f"pruned {len(result.deleted_runs)} runs ({result.deleted_objects} objects), "
        f"aborted {result.aborted_uploads} stale multipart uploads",
        event="prune_finished", deleted_runs=list(result.deleted_runs), aborted_uploads=result.aborted_uploads,
    )  # fmt: skip
    return plan, result
