"""Archiving run directories, retention applied to the archive, and restoring: with the directory store."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from exporter.archive import keys, runs
from exporter.archive.filestore import FileStore
from exporter.archive.retention import RetentionPolicy
from exporter.archive.store import StoredObject
from exporter.config import Settings
from exporter.errors import ArchiveError, RunDirError
from exporter.getter import get_from_files
from exporter.progress import JsonReporter
from exporter.rundir import layout
from exporter.samples import sample_cluster_dir
from exporter.uploader import prune, run_dirs, upload_run

REPORTER = JsonReporter(io.StringIO())


class RecordingStore:
    """A FileStore that records the order of writes and can fail the n-th file upload."""

    def __init__(self, root: Path, *, fail_on: int | None = None) -> None:
        self._store = FileStore(root.as_uri())
        self.url = self._store.url
        self.written: list[str] = []
        self._fail_on = fail_on

    def check(self) -> None:
        self._store.check()

    def put_file(self, path: Path, key: str) -> None:
        if self._fail_on is not None and len(self.written) + 1 == self._fail_on:
            raise ArchiveError("connection reset while uploading (simulated)")
        self._store.put_file(path, key)
        self.written.append(key)

    def put_bytes(self, data: bytes, key: str) -> None:
        self._store.put_bytes(data, key)
        self.written.append(key)

    def get_file(self, key: str, path: Path) -> None:
        self._store.get_file(key, path)

    def get_bytes(self, key: str) -> bytes:
        return self._store.get_bytes(key)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        return self._store.list(prefix)

    def delete(self, keys: Sequence[str]) -> None:
        self.written.extend(f"DELETE {key}" for key in keys)
        self._store.delete(keys)

    def abort_stale_uploads(self, prefix: str, older_than: datetime) -> int:
        return self._store.abort_stale_uploads(prefix, older_than)


@pytest.fixture
def make_run(tmp_path: Path, settings_with: Callable[..., Settings]) -> Callable[..., Path]:
    def make(cluster: str = "prod") -> Path:
        result = get_from_files(settings_with(cluster=cluster), sample_cluster_dir(), tmp_path / "runs", REPORTER)
        return result.run_dir

    return make


def test_every_file_is_archived_under_the_layout_and_the_manifest_last(
    make_run: Callable[..., Path], tmp_path: Path
) -> None:
    run_dir = make_run()
    store = RecordingStore(tmp_path / "archive")
    result = upload_run(store, run_dir, max_concurrency=4, reporter=REPORTER)
    assert store.written[-1] == keys.manifest_key("prod", run_dir.name)
    assert len(store.written) == result.files + 1 == 21
    stored = {obj.key for obj in store.list("prod/")}
    assert stored == set(store.written)


def test_a_run_without_manifest_is_refused_and_nothing_uploaded(make_run: Callable[..., Path], tmp_path: Path) -> None:
    run_dir = make_run()
    (run_dir / "manifest.json").unlink()
    store = RecordingStore(tmp_path / "archive")
    with pytest.raises(RunDirError, match="did not finish"):
        upload_run(store, run_dir, max_concurrency=2, reporter=REPORTER)
    assert store.written == []


def test_a_run_that_changed_since_the_getter_is_refused(make_run: Callable[..., Path], tmp_path: Path) -> None:
    run_dir = make_run()
    victim = next((run_dir / "reports").rglob("*.jsonl.gz"))
    victim.write_bytes(gzip.compress(b'{"tampered":true}\n'))
    store = RecordingStore(tmp_path / "archive")
    with pytest.raises(RunDirError, match="does not match its manifest"):
        upload_run(store, run_dir, max_concurrency=2, reporter=REPORTER)
    assert store.written == []


def test_an_upload_failing_half_way_leaves_no_manifest_and_the_next_run_succeeds(
    make_run: Callable[..., Path], tmp_path: Path
) -> None:
    first, second = make_run(), make_run()
    broken = RecordingStore(tmp_path / "archive", fail_on=5)
    with pytest.raises(ArchiveError, match="simulated"):
        upload_run(broken, first, max_concurrency=1, reporter=REPORTER)
    assert keys.manifest_key("prod", first.name) not in broken.written
    assert first.is_dir() and (first / "manifest.json").is_file(), "the local run directory is kept"
    healthy = RecordingStore(tmp_path / "archive")
    upload_run(healthy, second, max_concurrency=2, reporter=REPORTER)
    listed = {run.run_id: run.complete for run in runs.list_runs(healthy, "prod")}
    assert listed == {first.name: False, second.name: True}


def test_restore_round_trip_verifies_against_the_manifest(make_run: Callable[..., Path], tmp_path: Path) -> None:
    run_dir = make_run()
    store = FileStore((tmp_path / "archive").as_uri())
    upload_run(store, run_dir, max_concurrency=2, reporter=REPORTER)
    run_id = runs.resolve_run(store, "prod", "latest")
    restored = runs.restore_run(store, "prod", run_id, tmp_path / "restored")
    originals = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*") if p.is_file())
    assert sorted(p.relative_to(restored) for p in restored.rglob("*") if p.is_file()) == originals
    for relative in originals:
        assert (restored / relative).read_bytes() == (run_dir / relative).read_bytes()


def test_restore_refuses_an_archived_run_that_was_altered(make_run: Callable[..., Path], tmp_path: Path) -> None:
    run_dir = make_run()
    store = FileStore((tmp_path / "archive").as_uri())
    upload_run(store, run_dir, max_concurrency=2, reporter=REPORTER)
    archived_file = next((tmp_path / "archive").rglob("vulnerabilityreports.jsonl.gz"))
    archived_file.write_bytes(gzip.compress(b"{}\n"))
    with pytest.raises(ArchiveError, match="does not match its manifest"):
        runs.restore_run(store, "prod", run_dir.name, tmp_path / "restored")
    assert not (tmp_path / "restored" / run_dir.name).exists(), "no half-restored run is left behind"


def test_prune_keeps_the_policy_deletes_manifest_first_and_spares_other_clusters(
    make_run: Callable[..., Path], tmp_path: Path
) -> None:
    store = RecordingStore(tmp_path / "archive")
    prod = [make_run("prod") for _ in range(3)]
    other = make_run("staging")
    for run_dir in [*prod, other]:
        upload_run(store, run_dir, max_concurrency=2, reporter=REPORTER)
    store.written.clear()
    plan, result = prune(store, "prod", RetentionPolicy(keep_last=1), REPORTER)
    assert result is not None
    newest = max(run_dir.name for run_dir in prod)
    assert [run.run_id for run in plan.keep] == [newest]
    assert sorted(result.deleted_runs) == sorted(r.name for r in prod if r.name != newest)
    deletes = [entry.removeprefix("DELETE ") for entry in store.written]
    for run_id in result.deleted_runs:
        first_of_run = next(key for key in deletes if run_id in key)
        assert first_of_run == keys.manifest_key("prod", run_id), "manifest goes first"
    assert [run.run_id for run in runs.list_runs(store, "prod")] == [newest]
    assert [run.run_id for run in runs.list_runs(store, "staging")] == [other.name]


def test_prune_dry_run_deletes_nothing(make_run: Callable[..., Path], tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "archive")
    for _ in range(2):
        upload_run(store, make_run(), max_concurrency=2, reporter=REPORTER)
    store.written.clear()
    plan, result = prune(store, "prod", RetentionPolicy(keep_last=1), REPORTER, dry_run=True)
    assert result is None and len(plan.delete) == 1 and store.written == []


def test_incomplete_runs_past_the_grace_period_are_pruned(make_run: Callable[..., Path], tmp_path: Path) -> None:
    store = RecordingStore(tmp_path / "archive")
    run_dir = make_run()
    upload_run(store, run_dir, max_concurrency=2, reporter=REPORTER)
    store.delete([keys.manifest_key("prod", run_dir.name)])
    later = layout.run_started_at(run_dir.name) + timedelta(days=3)
    _, result = prune(store, "prod", RetentionPolicy(keep_last=5), REPORTER, now=later)
    assert result is not None and result.deleted_runs == (run_dir.name,)
    assert runs.list_runs(store, "prod") == []


def test_run_dirs_accepts_a_run_or_the_getters_out_directory(make_run: Callable[..., Path], tmp_path: Path) -> None:
    first, second = make_run(), make_run()
    assert run_dirs(first) == [first]
    assert run_dirs(first.parent) == sorted([first, second])
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirError, match="holds no run directory"):
        run_dirs(tmp_path / "empty")
