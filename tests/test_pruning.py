"""Applying a retention plan (exporter/archive/pruning.py): a run is deleted manifest first, in a call of its own,
so a prune that stops half-way leaves an incomplete run, never one listed complete over missing objects."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from exporter.archive import keys, runs
from exporter.archive.filestore import FileStore
from exporter.archive.pruning import apply_prune, plan_prune
from exporter.archive.retention import Duration, RetentionPolicy
from exporter.archive.store import StoredObject
from exporter.errors import ArchiveError
from exporter.uploader import upload_run
from tests.archive_helpers import reporter, small_run

NOW = datetime.now(UTC).replace(microsecond=0)
STALE_UPLOADS = 2  # what the recorder says it aborted, besides what the directory store did


class DeleteRecorder:
    """A directory store that records each delete call, and deletes keys in the reverse of the order given (a batch
    delete promises no order), failing after `fail_after` keys when set: a prune interrupted half-way."""

    def __init__(self, root: Path, *, fail_after: int | None = None) -> None:
        self._store = FileStore(root.as_uri())
        self.url = self._store.url
        self.calls: list[list[str]] = []
        self.aborts: list[tuple[str, datetime]] = []
        self.fail_after = fail_after

    def check(self) -> None:
        self._store.check()

    def put_file(self, path: Path, key: str) -> None:
        self._store.put_file(path, key)

    def put_bytes(self, data: bytes, key: str) -> None:
        self._store.put_bytes(data, key)

    def get_file(self, key: str, path: Path) -> None:
        self._store.get_file(key, path)

    def get_bytes(self, key: str) -> bytes:
        return self._store.get_bytes(key)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        return self._store.list(prefix)

    def delete(self, keys: Sequence[str]) -> None:
        self.calls.append(list(keys))
        for key in reversed(keys):
            if self.fail_after is not None and self.fail_after <= 0:
                raise ArchiveError("connection reset while deleting (simulated)")
            self._store.delete([key])
            if self.fail_after is not None:
                self.fail_after -= 1

    def abort_stale_uploads(self, prefix: str, older_than: datetime) -> int:
        self.aborts.append((prefix, older_than))
        return self._store.abort_stale_uploads(prefix, older_than) + STALE_UPLOADS


def archive_two_runs(store: DeleteRecorder, tmp_path: Path) -> tuple[str, str]:
    """An older and a newer complete run of cluster prod, three report files each; returns their ids."""
    older = small_run(tmp_path / "runs", NOW - timedelta(days=2), suffix="0a0a")
    newer = small_run(tmp_path / "runs", NOW - timedelta(days=1), suffix="0b0b")
    for run_dir in (older, newer):
        upload_run(store, run_dir, max_concurrency=1, reporter=reporter()[0])
    return older.name, newer.name


def test_a_run_is_deleted_manifest_first_in_a_call_of_its_own(tmp_path: Path) -> None:
    store = DeleteRecorder(tmp_path / "archive")
    older, newer = archive_two_runs(store, tmp_path)
    stored = sorted(obj.key for obj in store.list(keys.run_prefix("prod", older)))
    manifest = keys.manifest_key("prod", older)
    assert manifest in stored and len(stored) >= 4, "the manifest and three report files"
    policy = RetentionPolicy(keep_last=1)
    result = apply_prune(store, "prod", plan_prune(store, "prod", policy, now=NOW), policy, now=NOW)
    assert (result.deleted_runs, result.deleted_objects) == ((older,), len(stored))
    assert store.calls[0] == [manifest], "the manifest alone, first"
    assert len(store.calls) == 2 and sorted(store.calls[1]) == [key for key in stored if key != manifest]
    assert [run.run_id for run in runs.list_runs(store, "prod")] == [newer]


def test_a_prune_interrupted_half_way_leaves_an_incomplete_run_not_a_complete_one(tmp_path: Path) -> None:
    store = DeleteRecorder(tmp_path / "archive")
    older, newer = archive_two_runs(store, tmp_path)
    policy = RetentionPolicy(keep_last=1)
    plan = plan_prune(store, "prod", policy, now=NOW)
    store.fail_after = 2  # the manifest and one report file go, then the connection breaks
    with pytest.raises(ArchiveError, match="connection reset"):
        apply_prune(store, "prod", plan, policy, now=NOW)
    listed = {run.run_id: run.status for run in runs.list_runs(store, "prod")}
    assert listed == {older: "incomplete", newer: "complete"}
    store.fail_after = None
    later = NOW + timedelta(days=3)
    policy = RetentionPolicy(keep_last=1)
    result = apply_prune(store, "prod", plan_prune(store, "prod", policy, now=later), policy, now=later)
    assert result.deleted_runs == (older,), "the next prune removes what is left after the grace period"


def test_every_run_the_plan_deletes_is_deleted_and_counted_and_stale_uploads_aborted(tmp_path: Path) -> None:
    store = DeleteRecorder(tmp_path / "archive")
    older, newer = archive_two_runs(store, tmp_path)
    oldest = small_run(tmp_path / "runs", NOW - timedelta(days=3), suffix="0c0c")
    upload_run(store, oldest, max_concurrency=1, reporter=reporter()[0])
    stored = {run_id: len(list(store.list(keys.run_prefix("prod", run_id)))) for run_id in (older, oldest.name)}
    policy = RetentionPolicy(keep_last=1, incomplete_grace=Duration(hours=6))
    result = apply_prune(store, "prod", plan_prune(store, "prod", policy, now=NOW), policy, now=NOW)
    assert result.deleted_runs == (older, oldest.name) and result.deleted_objects == sum(stored.values())
    assert store.aborts == [(keys.cluster_runs_prefix("prod"), NOW - timedelta(hours=6))]
    assert result.aborted_uploads == STALE_UPLOADS
    assert [run.run_id for run in runs.list_runs(store, "prod")] == [newer]


def test_plan_prune_keeps_a_protected_run_the_policy_would_delete(tmp_path: Path) -> None:
    store = DeleteRecorder(tmp_path / "archive")
    older, newer = archive_two_runs(store, tmp_path)
    plan = plan_prune(store, "prod", RetentionPolicy(keep_last=1), now=NOW, protect=[older])
    assert [run.run_id for run in plan.keep] == [newer, older] and plan.delete == ()


def unfinished(store: DeleteRecorder, tmp_path: Path, started: datetime, *, suffix: str, written: datetime) -> Path:
    """A run's report files in the archive, without its manifest, last written at `written` (a directory store's
    LastModified is the file's mtime); returns the run directory, whose manifest is not uploaded."""
    run_dir = small_run(tmp_path / "runs", started, suffix=suffix)
    for path in sorted((run_dir / "reports").rglob("*.jsonl.gz")):
        store.put_file(path, keys.run_file_key("prod", run_dir.name, path.relative_to(run_dir).as_posix()))
    set_written(tmp_path / "archive", run_dir.name, written)
    return run_dir


def set_written(root: Path, run_id: str, moment: datetime) -> None:
    for path in root.rglob("*"):
        if path.is_file() and run_id in path.as_posix():
            os.utime(path, (moment.timestamp(), moment.timestamp()))


def test_a_spared_run_does_not_stop_the_deletion_of_the_runs_after_it(tmp_path: Path) -> None:
    """Newest first: a complete run kept, a dead-looking upload that is written to again (spared), an older run."""
    store = DeleteRecorder(tmp_path / "archive")
    older, _newer = archive_two_runs(store, tmp_path)
    uploading = unfinished(store, tmp_path, NOW - timedelta(days=1, hours=12), suffix="0d0d",
                           written=NOW - timedelta(days=10))  # fmt: skip
    policy = RetentionPolicy(keep_last=1)
    plan = plan_prune(store, "prod", policy, now=NOW)
    assert [run.run_id for run in plan.delete] == [uploading.name, older]
    set_written(tmp_path / "archive", uploading.name, NOW)
    result = apply_prune(store, "prod", plan, policy, now=NOW)
    assert (result.spared_runs, result.deleted_runs) == ((uploading.name,), (older,))


def test_a_run_whose_manifest_arrived_is_spared_whatever_the_stores_clock_says(tmp_path: Path) -> None:
    """The manifest is there at delete time, written (by the store's clock) long ago: the upload finished."""
    store = DeleteRecorder(tmp_path / "archive")
    run_dir = unfinished(store, tmp_path, NOW - timedelta(days=8), suffix="0e0e", written=NOW - timedelta(days=10))
    policy = RetentionPolicy(keep_last=5)
    plan = plan_prune(store, "prod", policy, now=NOW)
    assert [run.run_id for run in plan.delete] == [run_dir.name]
    store.put_bytes((run_dir / "manifest.json").read_bytes(), keys.manifest_key("prod", run_dir.name))
    set_written(tmp_path / "archive", run_dir.name, NOW - timedelta(days=10))
    result = apply_prune(store, "prod", plan, policy, now=NOW)
    assert (result.spared_runs, result.deleted_runs, store.calls) == ((run_dir.name,), (), [])


def test_an_object_written_exactly_one_grace_before_the_delete_spares_its_run(tmp_path: Path) -> None:
    """The plan and the delete judge the grace alike: written at the boundary is still uploading."""
    store = DeleteRecorder(tmp_path / "archive")
    written = NOW - timedelta(days=10)
    run_dir = unfinished(store, tmp_path, NOW - timedelta(days=11), suffix="0f0f", written=written)
    policy = RetentionPolicy(keep_last=5, incomplete_grace=Duration(days=2))
    plan = plan_prune(store, "prod", policy, now=NOW)
    assert [run.run_id for run in plan.delete] == [run_dir.name]
    result = apply_prune(store, "prod", plan, policy, now=written + timedelta(days=2))
    assert (result.spared_runs, result.deleted_runs) == ((run_dir.name,), ())
