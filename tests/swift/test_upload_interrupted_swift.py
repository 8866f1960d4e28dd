"""The network dropping in the middle of a multipart upload to real Swift: one clear error, no manifest, and the
next upload of the run succeeds."""

from __future__ import annotations

import io
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError

from exporter import catalog
from exporter.archive import keys, runs
from exporter.archive.s3store import S3Store
from exporter.config import ArchiveSettings
from exporter.errors import ArchiveError
from exporter.progress import JsonReporter
from exporter.rundir import layout
from exporter.rundir.manifest import KindResult, KindStatus, RunInfo, build_manifest
from exporter.rundir.writer import KindWriter, write_manifest
from exporter.uploader import upload_run
from tests.swift.conftest import SwiftS3

MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def _credentials(swift: SwiftS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", swift.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", swift.secret_key)


def large_run(tmp_path: Path) -> Path:
    """A run directory whose one file (incompressible content) needs a multipart upload of three parts."""
    started = datetime.now(UTC)
    run_dir = tmp_path / layout.new_run_id(started)
    run_dir.mkdir()
    kind = catalog.resolve("sbomreports")
    writer = KindWriter(run_dir, kind)
    for index in range(20):
        metadata = {"name": f"s{index}", "namespace": "shop"}
        blob = secrets.token_hex(MIB // 2)
        writer.write(
            {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": metadata, "report": {"blob": blob}}
        )
    result = KindResult(kind, KindStatus.COMPLETE, writer.close())
    assert result.written is not None and result.written.bytes > 10 * MIB
    info = RunInfo(run_dir.name, "prod", started, started, "test", None, {"type": "test"})
    write_manifest(run_dir, build_manifest(info, [result]))
    return run_dir


def test_a_dropped_connection_mid_multipart_leaves_no_manifest_and_the_next_upload_succeeds(
    swift: SwiftS3, tmp_path: Path
) -> None:
    bucket = f"interrupted-{swift.name.replace('_', '-')}"[:60]
    settings = ArchiveSettings(
        destination=f"s3://{bucket}/nightly", endpoint_url=swift.endpoint, region=swift.region,
        ca_bundle=swift.ca_bundle, multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_attempts=2,
        create_bucket=True,
    )  # fmt: skip
    run_dir = large_run(tmp_path)
    broken = S3Store(settings)
    broken.check()
    parts: list[Any] = []

    def drop_after_first_part(**_: Any) -> None:
        parts.append(1)
        if len(parts) > 1:
            raise ConnectionClosedError(endpoint_url=swift.endpoint)

    broken._client.meta.events.register("before-send.s3.UploadPart", drop_after_first_part)
    with pytest.raises(ArchiveError) as raised:
        upload_run(broken, run_dir, max_concurrency=1, reporter=JsonReporter(io.StringIO()))
    assert "\n" not in str(raised.value) and swift.secret_key not in str(raised.value)
    healthy = S3Store(settings)
    assert [run.complete for run in runs.list_runs(healthy, "prod")] in ([], [False])
    assert keys.manifest_key("prod", run_dir.name) not in {o.key for o in healthy.list("prod/")}
    upload_run(healthy, run_dir, max_concurrency=1, reporter=JsonReporter(io.StringIO()))
    assert [(run.run_id, run.complete) for run in runs.list_runs(healthy, "prod")] == [(run_dir.name, True)]
