"""Never lose a report: a prune running beside an upload can neither take the upload for a dead one by its run id,
nor leave a run listed complete over objects it deleted.

The store is moto for the uploads (its LastModified is the real clock) and a directory where a test needs to age
objects (its LastModified is the file's mtime); tests/swift/test_archive_race_swift.py runs the same on real Swift.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from exporter.archive import keys, runs
from exporter.archive.durations import Duration
from exporter.archive.filestore import FileStore
from exporter.archive.pruning import apply_prune, plan_prune
from exporter.archive.retention import RetentionPolicy
from exporter.archive.s3store import S3Store
from exporter.config import ArchiveSettings
from exporter.errors import ArchiveError
from exporter.rundir import reader
from exporter.uploader import upload_run
from tests.archive_helpers import (
    BUCKET,
    HookedStore,
    events,
    moto_s3,
    reporter,
    small_run,
    upload_with_a_prune_beside,
)

EIGHT_DAYS_AGO = datetime.now(UTC).replace(microsecond=0) - timedelta(days=8)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[S3Store]:
    with moto_s3(monkeypatch, tmp_path):
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield S3Store(ArchiveSettings(destination="s3://archive/nightly", region="us-east-1", max_attempts=1))


def assert_restorable(store: S3Store | FileStore, run_id: str, target: Path) -> None:
    """Listed complete, and every object its manifest names is there: a restore verifies."""
    assert [(run.run_id, run.status) for run in runs.list_runs(store, "prod")] == [(run_id, "complete")]
    assert reader.verify(runs.restore_run(store, "prod", run_id, target)) == []


def test_a_prune_judges_an_unfinished_run_by_its_objects_not_by_the_date_in_its_id(s3: S3Store, tmp_path: Path) -> None:
    """The run id says eight days (a backlog uploaded late); its objects were written a moment ago: in grace."""
    run_dir = small_run(tmp_path / "runs", EIGHT_DAYS_AGO)
    result, _ = upload_with_a_prune_beside(s3, run_dir, RetentionPolicy(keep_last=5))
    assert result.deleted_runs == () and result.deleted_objects == 0
    assert_restorable(s3, run_dir.name, tmp_path / "restored")


def test_the_prune_plan_says_why_it_keeps_the_upload_in_progress(s3: S3Store, tmp_path: Path) -> None:
    run_dir = small_run(tmp_path / "runs", EIGHT_DAYS_AGO)
    name = "reports/aquasecurity.github.io/vulnerabilityreports.jsonl.gz"
    s3.put_file(run_dir / name, keys.run_file_key("prod", run_dir.name, name))
    plan = plan_prune(s3, "prod", RetentionPolicy(keep_last=5), now=datetime.now(UTC))
    (decision,) = plan.decisions
    assert decision.keep and decision.reasons == ("incomplete, within grace: may still be uploading",)
    written = decision.run.last_modified
    assert written is not None and datetime.now(UTC) - written < timedelta(minutes=5)


def test_objects_a_prune_deleted_are_uploaded_again_before_the_manifest(s3: S3Store, tmp_path: Path) -> None:
    """A grace of zero takes any unfinished run for a dead one: the prune deletes the files just stored, and the
    uploader's listing before the manifest finds them gone and puts them back."""
    run_dir = small_run(tmp_path / "runs", EIGHT_DAYS_AGO)
    no_grace = RetentionPolicy(keep_last=5, incomplete_grace=Duration())
    result, log = upload_with_a_prune_beside(s3, run_dir, no_grace, prune_now=datetime.now(UTC) + timedelta(seconds=5))
    assert result.deleted_runs == (run_dir.name,) and result.deleted_objects == 3, "the prune did delete the files"
    assert_restorable(s3, run_dir.name, tmp_path / "restored")
    (warning,) = [line for line in events(log) if line["event"] == "upload_objects_missing"]
    assert warning["level"] == "warning" and "3 objects vanished" in warning["message"]


def test_objects_that_vanish_again_fail_the_upload_and_no_manifest_is_written(tmp_path: Path) -> None:
    store = FileStore((tmp_path / "archive").as_uri())
    store.check()
    run_dir = small_run(tmp_path / "runs", EIGHT_DAYS_AGO)
    victim = keys.run_file_key("prod", run_dir.name, "reports/aquasecurity.github.io/configauditreports.jsonl.gz")

    def lose_the_victim(key: str) -> None:
        if key == victim:
            store.delete([key])

    with pytest.raises(ArchiveError) as failed:
        upload_run(HookedStore(store, lose_the_victim), run_dir, max_concurrency=1, reporter=reporter()[0])
    message = str(failed.value)
    assert "\n" not in message and f"{victim} vanished from {store.url} again" in message
    assert "no manifest was written" in message
    assert [(run.run_id, run.status) for run in runs.list_runs(store, "prod")] == [(run_dir.name, "incomplete")]


def test_the_uploader_lists_the_run_once_when_nothing_is_missing(s3: S3Store, tmp_path: Path) -> None:
    run_dir = small_run(tmp_path / "runs", EIGHT_DAYS_AGO)
    hooked = HookedStore(s3, lambda _key: None)
    upload_run(hooked, run_dir, max_concurrency=2, reporter=reporter()[0])
    assert hooked.listed == [keys.run_prefix("prod", run_dir.name)]


# ---- apply: a plan is old news by the time it deletes -----------------------------------------------------------


def age(root: Path, days: int) -> None:
    """Make every file of a directory archive look written `days` ago (a FileStore's LastModified is the mtime)."""
    moment = (datetime.now(UTC) - timedelta(days=days)).timestamp()
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (moment, moment))


def unfinished_upload(tmp_path: Path) -> tuple[FileStore, Path]:
    """An archive holding a run's files but not yet its manifest, written ten days ago as far as the store knows."""
    store = FileStore((tmp_path / "archive").as_uri())
    run_dir = small_run(tmp_path / "runs", EIGHT_DAYS_AGO)
    for path in (run_dir / "reports").rglob("*.jsonl.gz"):
        store.put_file(path, keys.run_file_key("prod", run_dir.name, path.relative_to(run_dir).as_posix()))
    age(tmp_path / "archive", days=10)
    return store, run_dir


def test_an_unfinished_run_whose_manifest_arrived_after_the_plan_is_spared(tmp_path: Path) -> None:
    store, run_dir = unfinished_upload(tmp_path)
    policy = RetentionPolicy(keep_last=5)
    now = datetime.now(UTC)
    plan = plan_prune(store, "prod", policy, now=now)
    assert [run.run_id for run in plan.delete] == [run_dir.name], "ten days without a write: taken for dead"
    store.put_bytes((run_dir / "manifest.json").read_bytes(), keys.manifest_key("prod", run_dir.name))
    result = apply_prune(store, "prod", plan, policy, now=now)
    assert (result.deleted_runs, result.spared_runs) == ((), (run_dir.name,))
    assert_restorable(store, run_dir.name, tmp_path / "restored")


def test_an_unfinished_run_written_to_after_the_plan_is_spared(tmp_path: Path) -> None:
    store, run_dir = unfinished_upload(tmp_path)
    policy = RetentionPolicy(keep_last=5)
    now = datetime.now(UTC)
    plan = plan_prune(store, "prod", policy, now=now)
    path = next((run_dir / "reports").rglob("*.jsonl.gz"))
    store.put_file(path, keys.run_file_key("prod", run_dir.name, path.relative_to(run_dir).as_posix()))
    result = apply_prune(store, "prod", plan, policy, now=now)
    assert result.spared_runs == (run_dir.name,) and result.deleted_objects == 0


def test_a_dead_upload_is_still_deleted_after_the_grace(tmp_path: Path) -> None:
    store, run_dir = unfinished_upload(tmp_path)
    policy = RetentionPolicy(keep_last=5)
    now = datetime.now(UTC)
    result = apply_prune(store, "prod", plan_prune(store, "prod", policy, now=now), policy, now=now)
    assert (result.deleted_runs, result.deleted_objects, result.spared_runs) == ((run_dir.name,), 3, ())
    assert runs.list_runs(store, "prod") == []
