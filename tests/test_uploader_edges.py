"""exporter.uploader at its edges: which directories are uploaded, which runs a prune spares, and what it logs.

The uploader's JSON log lines are read by people and by log queries (`event` is the field to filter on), so their
events and messages are part of what it does, like the objects it stores.
"""

from __future__ import annotations

import io
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exporter.archive import keys, runs
from exporter.archive.filestore import FileStore
from exporter.archive.retention import RetentionPolicy
from exporter.errors import ArchiveError, RunDirError
from exporter.progress import JsonReporter
from exporter.uploader import prune, run_dirs, upload_run, verified_manifest
from tests.archive_helpers import HookedStore, events, reporter, small_run

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def archive_with_runs(tmp_path: Path, *days_ago: int) -> tuple[FileStore, list[str]]:
    """A directory archive holding one complete run of cluster prod per entry of `days_ago`; their ids, in order."""
    store = FileStore((tmp_path / "archive").as_uri())
    store.check()
    run_ids = []
    for index, days in enumerate(days_ago):
        run_dir = small_run(tmp_path / "runs", NOW - timedelta(days=days), suffix=f"{index:04x}")
        upload_run(store, run_dir, max_concurrency=1, reporter=reporter()[0])
        run_ids.append(run_dir.name)
    return store, run_ids


# --- run_dirs: what in the getter's --out directory is a run -------------------------------------------------------


def test_only_directories_named_like_a_run_are_taken_from_the_getters_out_directory(tmp_path: Path) -> None:
    out = tmp_path / "out"
    newer = small_run(out, NOW, suffix="0b0b")
    older = small_run(out, NOW - timedelta(days=1), suffix="0a0a")
    (out / "lost+found").mkdir()
    (out / ".cache").mkdir()
    (out / "20261127T020000Z-0c0c").write_text("a file named like a run, not a run directory")
    assert run_dirs(out) == [older, newer]


def test_a_run_changed_since_the_getter_is_refused_naming_every_changed_file(tmp_path: Path) -> None:
    run_dir = small_run(tmp_path / "runs", NOW)
    audits = run_dir / "reports/aquasecurity.github.io/configauditreports.jsonl.gz"
    secrets = run_dir / "reports/aquasecurity.github.io/exposedsecretreports.jsonl.gz"
    for path in (audits, secrets):
        path.write_bytes(path.read_bytes() + b"appended later")
    with pytest.raises(RunDirError) as raised:
        verified_manifest(run_dir)
    message = str(raised.value)
    assert message.startswith(f"{run_dir} does not match its manifest (reports/aquasecurity.github.io/configaudit")
    assert "; reports/aquasecurity.github.io/exposedsecretreports.jsonl.gz: " in message
    assert message.endswith("): changed since the getter")


# --- upload_run: what it logs and returns -------------------------------------------------------------------------


def test_an_upload_says_where_it_goes_and_what_it_stored(tmp_path: Path) -> None:
    store = FileStore((tmp_path / "archive").as_uri())
    store.check()
    run_dir = small_run(tmp_path / "runs", NOW)
    report_files = sorted((run_dir / "reports").rglob("*.jsonl.gz"))
    size = sum(path.stat().st_size for path in report_files)
    log, stream = reporter()
    result = upload_run(store, run_dir, max_concurrency=2, reporter=log)
    assert (result.cluster, result.run_id, result.files, result.bytes) == ("prod", run_dir.name, 3, size)
    assert result.manifest == json.loads((run_dir / "manifest.json").read_text())
    started, finished = events(stream)
    assert (started["event"], started["message"], started["run_id"]) == (
        "upload_started",
        f"archiving run {run_dir.name} of prod to {store.url}",
        run_dir.name,
    )
    assert (finished["event"], finished["message"]) == (
        "upload_finished",
        f"archived run {run_dir.name}: 3 files, {size} bytes, verified; manifest uploaded last",
    )
    assert (finished["run_id"], finished["files"], finished["bytes"]) == (run_dir.name, 3, size)


class _InFlightCounter(FileStore):
    """A directory store that holds each file upload until `expected` are in flight (or `patience` runs out) and
    records the most that were in flight at once."""

    def __init__(self, url: str, *, expected: int, patience: float) -> None:
        super().__init__(url)
        self._expected, self._patience = expected, patience
        self._changed = threading.Condition()
        self._in_flight = 0
        self.most_in_flight = 0

    def put_file(self, path: Path, key: str) -> None:
        with self._changed:
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._in_flight >= self._expected, timeout=self._patience)
        super().put_file(path, key)
        with self._changed:
            self._in_flight -= 1


def test_max_concurrency_bounds_the_uploads_in_flight(tmp_path: Path) -> None:
    serial = _InFlightCounter((tmp_path / "serial").as_uri(), expected=2, patience=0.3)
    upload_run(serial, small_run(tmp_path / "runs", NOW), max_concurrency=1, reporter=reporter()[0])
    assert serial.most_in_flight == 1, "each upload waited for a second one that never came"
    parallel = _InFlightCounter((tmp_path / "parallel").as_uri(), expected=3, patience=10)
    upload_run(parallel, small_run(tmp_path / "runs2", NOW), max_concurrency=3, reporter=reporter()[0])
    assert parallel.most_in_flight == 3, "the three files of the run go up at once"


def upload_losing_once(tmp_path: Path, *plurals: str) -> tuple[list[str], Path, FileStore, dict[str, Any]]:
    """Upload a small run while the objects of `plurals` are deleted right after they are stored, the first time
    only; returns their keys (in the manifest's order), the run, the store and the uploader's warning."""
    store = FileStore((tmp_path / "archive").as_uri())
    store.check()
    run_dir = small_run(tmp_path / "runs", NOW)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    victims = [keys.run_file_key("prod", run_dir.name, entry["file"]) for entry in manifest["kinds"]
               if entry["plural"] in plurals]  # fmt: skip
    lost: set[str] = set()

    def lose_once(key: str) -> None:
        if key in victims and key not in lost:
            lost.add(key)
            store.delete([key])

    log, stream = reporter()
    upload_run(HookedStore(store, lose_once), run_dir, max_concurrency=1, reporter=log)
    (warning,) = [line for line in events(stream) if line["event"] == "upload_objects_missing"]
    return victims, run_dir, store, warning


def test_one_vanished_object_is_named_in_the_warning_and_uploaded_again(tmp_path: Path) -> None:
    (victim,), run_dir, store, warning = upload_losing_once(tmp_path, "configauditreports")
    assert warning["level"] == "warning"
    assert warning["message"] == (
        f"run {run_dir.name}: 1 objects vanished from {store.url} during the upload ({victim}); a prune running "
        "beside it may have deleted them; uploading them again"
    )
    assert (warning["run_id"], warning["keys"]) == (run_dir.name, [victim])
    assert [(run.run_id, run.status) for run in runs.list_runs(store, "prod")] == [(run_dir.name, "complete")]


def test_several_vanished_objects_are_named_by_the_first_and_counted(tmp_path: Path) -> None:
    victims, run_dir, store, warning = upload_losing_once(tmp_path, "vulnerabilityreports", "exposedsecretreports")
    assert len(victims) == 2
    assert warning["message"].startswith(
        f"run {run_dir.name}: 2 objects vanished from {store.url} during the upload ({victims[0]} and more); "
    )
    assert warning["keys"] == victims


def test_an_object_vanishing_again_fails_the_upload_saying_what_to_look_at(tmp_path: Path) -> None:
    store = FileStore((tmp_path / "archive").as_uri())
    store.check()
    run_dir = small_run(tmp_path / "runs", NOW)
    victim = keys.run_file_key("prod", run_dir.name, "reports/aquasecurity.github.io/configauditreports.jsonl.gz")

    def lose_every_time(key: str) -> None:
        if key == victim:
            store.delete([key])

    with pytest.raises(ArchiveError) as raised:
        upload_run(HookedStore(store, lose_every_time), run_dir, max_concurrency=1, reporter=reporter()[0])
    assert str(raised.value) == (
        f"run {run_dir.name}: {victim} vanished from {store.url} again while uploading, so no manifest was written "
        "(the run stays incomplete); stop what deletes it (a prune whose archive.retention.incomplete_grace is "
        "shorter than an upload?) and upload again"
    )


# --- prune: the runs it spares, and its log ------------------------------------------------------------------------


def test_a_protected_run_survives_a_prune_whose_policy_would_delete_it(tmp_path: Path) -> None:
    store, (oldest, middle, newest) = archive_with_runs(tmp_path, 3, 2, 1)
    log, _ = reporter()
    plan, result = prune(store, "prod", RetentionPolicy(keep_last=1), log, protect=(oldest,), now=NOW)
    assert result is not None and result.deleted_runs == (middle,)
    assert [run.run_id for run in runs.list_runs(store, "prod")] == [oldest, newest]
    assert {run.run_id for run in plan.keep} == {oldest, newest}


def test_a_prune_logs_its_policy_then_one_decision_per_run_then_what_it_deleted(tmp_path: Path) -> None:
    store, (older, newer) = archive_with_runs(tmp_path, 2, 1)
    log, stream = reporter()
    prune(store, "prod", RetentionPolicy(keep_last=1), log, now=NOW)
    lines = [(line["event"], line["message"]) for line in events(stream)]
    assert lines[0] == ("retention_policy", "retention for prod: keep the last run; delete incomplete runs after 2d")
    decisions = [message for event, message in lines if event == "retention_decision"]
    assert [message.split()[:2] for message in decisions] == [["keep", newer], ["delete", older]]
    assert lines[-1] == ("prune_finished", "pruned 1 runs (4 objects), aborted 0 stale multipart uploads")
    assert (events(stream)[-1]["deleted_runs"], events(stream)[-1]["aborted_uploads"]) == ([older], 0)


def test_a_dry_run_logs_the_plans_summary_and_deletes_nothing(tmp_path: Path) -> None:
    store, run_ids = archive_with_runs(tmp_path, 2, 1)
    log, stream = reporter()
    plan, result = prune(store, "prod", RetentionPolicy(keep_last=1), log, dry_run=True, now=NOW)
    assert result is None and [run.run_id for run in plan.delete] == run_ids[:1]
    assert events(stream)[-1]["event"] == "retention_plan"
    assert events(stream)[-1]["message"].startswith("dry run: keep 1 runs (")
    assert [run.run_id for run in runs.list_runs(store, "prod")] == run_ids


class _ManifestArrivesDuringThePlan(JsonReporter):
    """Stores a run's manifest as the plan is logged, between planning and applying it: an upload finishing then."""

    def __init__(self, store: FileStore, run_dir: Path) -> None:
        self.stream = io.StringIO()
        super().__init__(self.stream)
        self.store, self.run_dir = store, run_dir

    def info(self, message: str, **fields: Any) -> None:
        if fields.get("event") == "retention_decision":
            manifest = (self.run_dir / "manifest.json").read_bytes()
            self.store.put_bytes(manifest, keys.manifest_key("prod", self.run_dir.name))
        super().info(message, **fields)


def test_a_run_spared_while_pruning_is_logged_as_kept_and_not_counted_as_deleted(tmp_path: Path) -> None:
    store = FileStore((tmp_path / "archive").as_uri())
    store.check()
    run_dir = small_run(tmp_path / "runs", NOW - timedelta(days=10))
    for path in sorted((run_dir / "reports").rglob("*.jsonl.gz")):
        store.put_file(path, keys.run_file_key("prod", run_dir.name, path.relative_to(run_dir).as_posix()))
    log = _ManifestArrivesDuringThePlan(store, run_dir)
    later = datetime.now(UTC) + timedelta(days=10)  # the objects were written just now: ten days later they are dead
    plan, result = prune(store, "prod", RetentionPolicy(keep_last=5), log, now=later)
    assert [run.run_id for run in plan.delete] == [run_dir.name]
    assert result is not None and (result.deleted_runs, result.spared_runs) == ((), (run_dir.name,))
    lines = [(line["event"], line["message"]) for line in events(log.stream)]
    assert ("retention_spared", f"kept {run_dir.name}: it was being written while the plan was made") in lines
    assert lines[-1] == ("prune_finished", "pruned 0 runs (0 objects), aborted 0 stale multipart uploads")
    assert events(log.stream)[-1]["deleted_runs"] == []
