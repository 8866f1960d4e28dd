"""Applying a retention plan to the archive: the one place that deletes archived runs.

A run is deleted manifest first: if deleting stops half-way, what is left is an incomplete run (no manifest),
which nothing mistakes for a complete one and the next prune removes after the grace period.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from exporter.archive import keys
from exporter.archive.retention import RetentionPlan, RetentionPolicy, plan_retention
from exporter.archive.runs import list_runs, run_keys
from exporter.archive.store import Store


@dataclass(frozen=True)
class PruneResult:
    deleted_runs: tuple[str, ...]
    deleted_objects: int
    aborted_uploads: int


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
    deleted_objects = 0
    for run in plan.delete:
        run_object_keys = run_keys(store, cluster, run.run_id)
        manifest = keys.manifest_key(cluster, run.run_id)
        if manifest in run_object_keys:
            store.delete([manifest])
        rest = [key for key in run_object_keys if key != manifest]
        store.delete(rest)
        deleted_objects += len(run_object_keys)
    aborted = store.abort_stale_uploads(keys.cluster_runs_prefix(cluster), policy.incomplete_grace.before(now))
    return PruneResult(tuple(run.run_id for run in plan.delete), deleted_objects, aborted)
