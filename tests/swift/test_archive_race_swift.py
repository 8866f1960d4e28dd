"""A prune running beside an upload, on real Swift (both versions): the unfinished run is judged by the LastModified
Swift gives its objects, not by the date in its run id, and objects a prune deleted anyway are put back before the
manifest, so the run never ends listed complete over missing objects."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from exporter.archive import runs
from exporter.archive.durations import Duration
from exporter.archive.retention import RetentionPolicy
from exporter.archive.s3store import S3Store
from exporter.config import ArchiveSettings
from exporter.rundir import reader
from tests.archive_helpers import events, small_run, upload_with_a_prune_beside
from tests.swift_service import SwiftS3


@pytest.fixture(autouse=True)
def _credentials(swift: SwiftS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", swift.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", swift.secret_key)


def store_for(swift: SwiftS3, request: pytest.FixtureRequest) -> S3Store:
    bucket = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[-60:].strip("-")
    settings = ArchiveSettings(destination=f"s3://{bucket}/nightly", endpoint_url=swift.endpoint, region=swift.region,
                               ca_bundle=swift.ca_bundle, max_attempts=2, create_bucket=True)  # fmt: skip
    store = S3Store(settings)
    store.check()
    return store


def assert_complete_and_restorable(store: S3Store, run_id: str, target: Path) -> None:
    assert [(run.run_id, run.status) for run in runs.list_runs(store, "prod")] == [(run_id, "complete")]
    assert reader.verify(runs.restore_run(store, "prod", run_id, target)) == []


def test_a_prune_beside_the_upload_keeps_a_run_whose_id_is_eight_days_old(
    swift: SwiftS3, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store = store_for(swift, request)
    run_dir = small_run(tmp_path / "runs", datetime.now(UTC) - timedelta(days=8))
    result, _ = upload_with_a_prune_beside(store, run_dir, RetentionPolicy(keep_last=5))
    assert result.deleted_runs == ()
    assert_complete_and_restorable(store, run_dir.name, tmp_path / "restored")


def test_objects_a_prune_without_grace_deleted_are_put_back_before_the_manifest(
    swift: SwiftS3, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    store = store_for(swift, request)
    run_dir = small_run(tmp_path / "runs", datetime.now(UTC) - timedelta(days=8))
    no_grace = RetentionPolicy(keep_last=5, incomplete_grace=Duration())
    later = datetime.now(UTC) + timedelta(seconds=5)  # past every LastModified, which Swift rounds to the second
    result, log = upload_with_a_prune_beside(store, run_dir, no_grace, prune_now=later)
    assert result.deleted_runs == (run_dir.name,), "the prune did delete the files just stored"
    assert [line["event"] for line in events(log)].count("upload_objects_missing") == 1
    assert_complete_and_restorable(store, run_dir.name, tmp_path / "restored")
