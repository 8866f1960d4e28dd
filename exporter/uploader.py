"""The uploader: archive a finished run directory, verified, manifest last; then apply retention.

The local run directory is only read, never deleted: it disappears with the CronJob's pod, after the upload it
served has been verified. A run directory without a manifest is refused, so a run that did not finish can never
be archived as one that did.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exporter.archive import keys
from exporter.archive.pruning import PruneResult, apply_prune, plan_prune
from exporter.archive.retention import RetentionPlan, RetentionPolicy
from exporter.archive.store import Store
from exporter.errors import RunDirError
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
    """The run's manifest, once every file matches it (size, sha256); RunDirError otherwise."""
    manifest = reader.read_manifest(run_dir)
    if mismatches := reader.verify(run_dir, manifest):
        raise RunDirError(f"{run_dir} does not match its manifest ({'; '.join(mismatches)}); run the getter again")
    return manifest


def upload_run(
    store: Store,
    run_dir: Path,
    *,
    max_concurrency: int,
    reporter: Reporter,
    manifest: Mapping[str, Any] | None = None,
) -> UploadResult:
    """Upload every file of a verified run directory in parallel, then its manifest.

    `manifest`: what verified_manifest returned, for a caller that verified the run while doing something else.
    """
    manifest = dict(manifest) if manifest is not None else verified_manifest(run_dir)
    cluster, run_id = str(manifest["cluster"]), str(manifest["run_id"])
    files = [str(entry["file"]) for entry in manifest["kinds"] if entry.get("file")]
    reporter.info(f"archiving run {run_id} of {cluster} to {store.url}", event="upload_started", run_id=run_id)
    with ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="upload") as pool:
        list(pool.map(lambda name: store.put_file(run_dir / name, keys.run_file_key(cluster, run_id, name)), files))
    store.put_bytes(layout.manifest_path(run_dir).read_bytes(), keys.manifest_key(cluster, run_id))
    size = sum(int(entry["bytes"]) for entry in manifest["kinds"])
    reporter.info(
        f"archived run {run_id}: {len(files)} files, {size} bytes, verified; manifest uploaded last",
        event="upload_finished", run_id=run_id, files=len(files), bytes=size,
    )  # fmt: skip
    return UploadResult(cluster, run_id, len(files), size, manifest)


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
    reporter.info(
        f"pruned {len(result.deleted_runs)} runs ({result.deleted_objects} objects), "
        f"aborted {result.aborted_uploads} stale multipart uploads",
        event="prune_finished", deleted_runs=list(result.deleted_runs), aborted_uploads=result.aborted_uploads,
    )  # fmt: skip
    return plan, result
