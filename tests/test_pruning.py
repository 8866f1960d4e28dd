"""Applying a retention plan (exporter/archive/pruning.py): a run is deleted manifest first, in a call of its own,
so a prune that stops half-way leaves an incomplete run, never one listed complete over missing objects."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from exporter.archive import keys, runs
from exporter.archive.filestore import FileStore
from exporter.archive.pruning import apply_prune, plan_prune
from exporter.archive.retention import RetentionPolicy
from exporter.archive.store import StoredObject
from exporter.errors import ArchiveError
from exporter.uploader import upload_run
from tests.archive_helpers import reporter, small_run

NOW = datetime.now(UTC).replace(microsecond=0)


class DeleteRecorder:
    """A directory store that records each delete call, and deletes keys in the reverse of the order given (a batch
    delete promises no order), failing after `fail_after` keys when set: a prune interrupted half-way."""

    def __init__(self, root: Path, *, fail_after: int | None = None) -> None:
        self._store = FileStore(root.as_uri())
        self.url = self._store.url
        self.calls: list[list[str]] = []
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
        return self._store.abort_stale_uploads(prefix, older_than)


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
