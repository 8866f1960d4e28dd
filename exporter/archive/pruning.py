"""Applying a retention plan to the archive: the one place that deletes archived runs.

A run is deleted manifest first: if deleting stops half-way, what is left is an incomplete run (no manifest),
which nothing mistakes for a complete one and the next prune removes after the grace period.

An upload may run beside a prune (two CronJob pods, a manual upload). The run a plan found unfinished is listed
again just before it is deleted, and spared when its manifest has arrived or an object was written within the grace
period since: the plan saw an upload in progress, not one that died. The uploader does its part on the other side:
it lists its run's objects once more before it writes the manifest (`uploader.upload_run`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from exporter.archive import keys
from exporter.archive.retention import RetentionPlan, RetentionPolicy, plan_retention
from exporter.archive.runs import list_runs
from exporter.archive.store import Store, StoredObject


@dataclass(frozen=True)
class PruneResult:
    deleted_runs: tuple[str, ...]
    deleted_objects: int
    aborted_uploads: int
    spared_runs: tuple[str, ...] = ()  # planned for deletion as unfinished, found being written meanwhile


def plan_prune(
    store: Store, cluster: str, policy: RetentionPolicy, *, now: datetime, protect: Collection[str] = ()
) -> RetentionPlan:
    """The retention plan for one cluster's runs, nothing deleted.

    The runs are listed with their manifests read (`list_runs`), so a partial run never passes for the newest
    complete one and the plan marks it partial.
    """
    return plan_retention(list_runs(store, cluster), policy, now=now, protect=protect)


def apply_prune(
    store: Store, cluster: str, plan: RetentionPlan, policy: RetentionPolicy, *, now: datetime
) -> PruneResult:
    """Delete the runs the plan deletes, then abort multipart uploads older than the grace period."""
    cutoff = policy.incomplete_grace.before(now)
    deleted: list[str] = []
    spared: list[str] = []
    deleted_objects = 0
    for run in plan.delete:
        stored = list(store.list(keys.run_prefix(cluster, run.run_id)))
        manifest = keys.manifest_key(cluster, run.run_id)
        if not run.complete and _still_uploading(stored, manifest, cutoff):
            spared.append(run.run_id)
            continue
        run_object_keys = [obj.key for obj in stored]
        if manifest in run_object_keys:
            store.delete([manifest])
        store.delete([key for key in run_object_keys if key != manifest])
        deleted.append(run.run_id)
        deleted_objects += len(run_object_keys)
    aborted = store.abort_stale_uploads(keys.cluster_runs_prefix(cluster), cutoff)
    return PruneResult(tuple(deleted), deleted_objects, aborted, tuple(spared))


def _still_uploading(stored: Sequence[StoredObject], manifest: str, cutoff: datetime) -> bool:
    """An unfinished run's listing taken at delete time: its manifest arrived, or it was written within the grace."""
    return any(obj.key == manifest or obj.last_modified >= cutoff for obj in stored)
