"""The archive's rows of the fault matrix (docs/reliability.md): the real Swift (current release, over http) behind
the fault proxy (tests/fault_proxy.py) as `archive.endpoint_url`, driven through the command line as an operator runs
it. Each test injects one fault and asserts what the product does: the exit code, one error line naming the cause,
no traceback and no secret, the local run directory kept, the next night completing, and, read straight from Swift
(not through the proxy), an archive in which every run that has a manifest restores and verifies: no manifest ever
stands over a missing or partial object.
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import catalog
from exporter.archive import keys, runs, s3client
from exporter.archive.s3store import S3Store
from exporter.config import ArchiveSettings
from exporter.rundir import layout, reader
from exporter.rundir.manifest import KindResult, KindStatus, RunInfo, build_manifest
from exporter.rundir.writer import KindWriter, write_manifest
from tests.cli_outcomes import CliOutcome, assert_clean, invoke, isolate_environment
from tests.dojo_standin import DojoStandin
from tests.fault_proxy import FaultProxy, s3_error
from tests.swift_service import SwiftS3

MIB = 1024 * 1024
CLUSTER = "prod"
DOJO_TOKEN = "dojo-token-never-printed-5c1e"
REPORT_KEYS = r"/nightly/prod/runs/.*/reports/"
MANIFEST_KEY = r"/nightly/prod/runs/.*/manifest\.json$"
CLUSTER_LISTING = r"list-type=2.*prefix=nightly%2Fprod%2Fruns%2F(&|$)"  # retention's listing, not the upload's check


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_environment(monkeypatch, tmp_path)


class Archive:
    """One bucket of the real Swift, reached by the exporter through the proxy and by the test directly."""

    def __init__(self, swift: SwiftS3, proxy: FaultProxy, tmp_path: Path, bucket: str) -> None:
        self.swift, self.proxy, self.tmp_path = swift, proxy, tmp_path
        (tmp_path / "access").write_text(swift.access_key + "\n")
        (tmp_path / "secret").write_text(swift.secret_key + "\n")
        self.settings: dict[str, Any] = {
            "destination": f"s3://{bucket}/nightly", "region": swift.region, "create_bucket": True,
            "access_key_file": str(tmp_path / "access"), "secret_key_file": str(tmp_path / "secret"),
            "max_attempts": 3, "retention": {"keep_last": 1},
        }  # fmt: skip
        self.runs = tmp_path / "runs"
        self.nights = 0

    def config(self, **archive: Any) -> str:
        """The settings file: the proxy as the endpoint, JSON log lines."""
        path = self.tmp_path / "settings.yaml"
        settings = {**self.settings, "endpoint_url": self.proxy.url, **archive}
        path.write_text(yaml.safe_dump({"cluster": CLUSTER, "log_format": "json", "archive": settings}))
        return str(path)

    def cli(self, *arguments: str, **archive: Any) -> CliOutcome:
        outcome = invoke([*arguments, "--config", self.config(**archive)])
        assert_clean(outcome, self.swift.secret_key)
        return outcome

    def night(self, **archive: Any) -> CliOutcome:
        """`report-exporter run --sample`: one night of the bundled sample cluster, a second apart from the last."""
        if self.nights:
            time.sleep(1.1)  # run ids sort by their start second
        self.nights += 1
        return self.cli("run", "--sample", "--out", str(self.runs), **archive)

    def listed(self) -> list[tuple[str, str]]:
        """`runs list` through the proxy: (run id, status)."""
        outcome = self.cli("runs", "list")
        assert outcome.code == 0, outcome.stderr
        return [(row.split("\t")[0], row.split("\t")[2]) for row in outcome.stdout.splitlines()]

    def direct(self) -> S3Store:
        settings = {key: value for key, value in self.settings.items() if key != "retention"}
        return S3Store(ArchiveSettings(**settings, endpoint_url=self.swift.endpoint))

    def assert_sound(self) -> list[str]:
        """Every run with a manifest restores and verifies, read straight from Swift; the run ids with a manifest."""
        store = self.direct()
        finished = [run.run_id for run in runs.list_runs(store, CLUSTER) if run.complete]
        for run_id in finished:
            target = self.tmp_path / "oracle" / run_id
            shutil.rmtree(target, ignore_errors=True)
            assert reader.verify(runs.restore_run(store, CLUSTER, run_id, target)) == [], run_id
        return finished


@pytest.fixture
def archive(swift_http: SwiftS3, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Archive]:
    bucket = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[-50:].strip("-")
    with FaultProxy(swift_http.endpoint) as proxy:
        yield Archive(swift_http, proxy, tmp_path, f"faults-{bucket}")


def large_run(parent: Path) -> Path:
    """A run directory whose one file (incompressible, about 12 MiB) goes up in three 5 MiB parts."""
    started = datetime.now(UTC)
    run_dir = parent / layout.new_run_id(started)
    run_dir.mkdir(parents=True)
    kind = catalog.resolve("sbomreports")
    writer = KindWriter(run_dir, kind)
    for index in range(24):
        writer.write({"apiVersion": kind.api_version, "kind": kind.kind,
                      "metadata": {"name": f"s{index}", "namespace": "shop"},
                      "report": {"blob": secrets.token_hex(MIB // 4)}})  # fmt: skip
    result = KindResult(kind, KindStatus.COMPLETE, writer.close())
    info = RunInfo(run_dir.name, CLUSTER, started, started, "test", None, {"type": "test"})
    write_manifest(run_dir, build_manifest(info, [result]))
    return run_dir


def run_dir_of(outcome: CliOutcome) -> Path:
    """The run directory `run` printed: still on disk, still matching its manifest."""
    run_dir = Path(outcome.stdout.strip())
    assert reader.verify(run_dir) == [], "the local run directory is kept, whole, for the next attempt"
    return run_dir


# --- uploads ---------------------------------------------------------------------------------------------------


def test_a_put_answered_503_is_retried_and_the_night_completes(archive: Archive) -> None:
    archive.proxy.add(method="PUT", path=REPORT_KEYS, status=503, body=s3_error("ServiceUnavailable"))
    night = archive.night()
    assert night.code == 0, night.stderr
    [hurt] = archive.proxy.hurt()
    again = [e for e in archive.proxy.exchanges if e.target == hurt.target and e.method == "PUT" and e.rule is None]
    assert [e.status for e in again] == [200], "the same object was sent again and stored"
    assert archive.listed() == [(run_dir_of(night).name, "complete")]
    assert archive.assert_sound() == [run_dir_of(night).name]


def test_a_reset_mid_multipart_upload_is_retried_and_the_run_completes(archive: Archive) -> None:
    run_dir = large_run(archive.tmp_path / "large")
    archive.proxy.add(method="PUT", path=r"partNumber=2", reset_request_after=MIB)
    uploaded = archive.cli("upload", "--from", str(run_dir), multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    assert uploaded.code == 0, uploaded.stderr
    assert len(archive.proxy.hurt()) == 1 and archive.proxy.hurt()[0].status is None, "the part never arrived"
    assert archive.assert_sound() == [run_dir.name]


def test_a_multipart_upload_reset_on_every_attempt_writes_no_manifest_and_the_next_upload_completes(
    archive: Archive,
) -> None:
    run_dir = large_run(archive.tmp_path / "large")
    multipart = {"multipart_threshold": 5 * MIB, "multipart_chunksize": 5 * MIB}
    archive.proxy.add(method="PUT", path=r"partNumber=2", reset_request_after=MIB, times=None)
    failed = archive.cli("upload", "--from", str(run_dir), **multipart)
    assert failed.code == 1, failed.stderr
    [error] = failed.errors()
    assert error.startswith(f"cannot upload {run_dir}") and "sbomreports.jsonl.gz" in error, error
    assert len(archive.proxy.hurt()) == 3, "archive.max_attempts 3: three attempts at the part, then it gave up"
    assert archive.listed() in ([], [(run_dir.name, "incomplete")]), "no manifest over a partial upload"
    assert archive.assert_sound() == []
    assert reader.verify(run_dir) == []
    archive.proxy.rules.clear()
    again = archive.cli("upload", "--from", str(run_dir), **multipart)
    assert again.code == 0, again.stderr
    assert archive.listed() == [(run_dir.name, "complete")]
    assert archive.assert_sound() == [run_dir.name]


def test_a_manifest_put_answered_500_leaves_no_manifest_and_the_rerun_completes(archive: Archive) -> None:
    archive.proxy.add(method="PUT", path=MANIFEST_KEY, status=500, body=s3_error("InternalError"), times=None)
    failed = archive.night()
    assert failed.code == 1, failed.stderr
    [error] = failed.errors()
    assert "manifest.json" in error and "500 InternalError" in error, error
    run_dir = run_dir_of(failed)
    assert [e.status for e in archive.proxy.hurt()] == [500, 500, 500]
    assert archive.listed() == [(run_dir.name, "incomplete")], "the objects are there, the manifest is not"
    assert archive.assert_sound() == []
    archive.proxy.rules.clear()
    rerun = archive.cli("upload", "--from", str(archive.runs))
    assert rerun.code == 0, rerun.stderr
    assert archive.listed() == [(run_dir.name, "complete")]
    assert archive.assert_sound() == [run_dir.name]


def test_a_manifest_stored_but_its_answer_lost_is_sent_again_and_the_night_completes(archive: Archive) -> None:
    archive.proxy.add(method="PUT", path=MANIFEST_KEY, reset_response_after=0)
    night = archive.night()
    assert night.code == 0, night.stderr
    exchanges = archive.proxy.exchanges
    puts = [
        (e.status, e.rule is not None) for e in exchanges if e.method == "PUT" and re.search(MANIFEST_KEY, e.target)
    ]
    assert puts == [(200, True), (200, False)], "stored, answer lost; sent again, stored again"
    assert archive.assert_sound() == [run_dir_of(night).name]


def test_access_denied_on_every_put_is_one_line_and_keeps_the_run(archive: Archive) -> None:
    """A key that may read the bucket but not write to it (403 AccessDenied; wrong credentials are
    tests/swift/test_archive_swift.py::test_wrong_credentials_fail_with_one_line_and_keep_the_run)."""
    archive.proxy.add(method="PUT", path=r"/nightly/", status=403, body=s3_error("AccessDenied", "Access Denied."),
                      times=None)  # fmt: skip
    failed = archive.night()
    assert failed.code == 1
    [error] = failed.errors()
    assert "denied access to bucket" in error and "may list, read, write and delete" in error, error
    assert [e.status for e in archive.proxy.hurt()].count(403) >= 1
    run_dir_of(failed)
    assert archive.assert_sound() == []


def test_a_store_that_stops_answering_fails_within_its_attempts_not_per_file(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    """READ_TIMEOUT is 120 s in production; 1 s here. A store that takes every request and answers none costs two
    rounds of max_attempts read timeouts (the uploads in flight, then those already taken by a worker when the first
    gave up), not a round for every file of the run: the pool's pending uploads are cancelled."""
    monkeypatch.setattr(s3client, "READ_TIMEOUT", 1.0)
    archive.proxy.add(method="PUT", path=REPORT_KEYS, delay=30, times=None)
    started = time.monotonic()
    failed = archive.night(max_attempts=2, max_concurrency=2)
    elapsed = time.monotonic() - started
    assert failed.code == 1
    [error] = failed.errors()
    assert "stopped answering" in error, error
    run_dir_of(failed)
    attempts = len(archive.proxy.hurt())
    # the uploads in flight when the first one gave up, and those the workers had already taken: two rounds at most
    assert attempts <= 2 * 2 * 2, f"{attempts} delayed PUTs: the files after the first failure spent their attempts"
    assert elapsed < 20, f"{elapsed:.1f} s; a round for every file of the run would take over 30 s"
    assert archive.assert_sound() == []


def test_a_store_slow_once_is_waited_out_and_the_night_completes(
    archive: Archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3client, "READ_TIMEOUT", 1.0)
    archive.proxy.add(method="PUT", path=REPORT_KEYS, delay=3)
    night = archive.night()
    assert night.code == 0, night.stderr
    assert archive.assert_sound() == [run_dir_of(night).name]


# --- restores ---------------------------------------------------------------------------------------------------


def test_a_truncated_download_once_is_retried_and_the_restore_verifies(archive: Archive) -> None:
    night = archive.night()
    assert night.code == 0, night.stderr
    archive.proxy.add(method="GET", path=REPORT_KEYS + r"aquasecurity", truncate_response=500)
    restored = archive.cli("runs", "restore", "latest", "--to", str(archive.tmp_path / "restored"))
    assert restored.code == 0, restored.stderr
    assert len(archive.proxy.hurt()) == 1
    original = run_dir_of(night)
    for path in original.rglob("*"):
        if path.is_file():
            assert (Path(restored.stdout.strip()) / path.relative_to(original)).read_bytes() == path.read_bytes()
    assert archive.assert_sound() == [original.name]


def test_a_download_truncated_on_every_attempt_fails_the_restore_and_leaves_nothing_half_restored(
    archive: Archive,
) -> None:
    night = archive.night()
    assert night.code == 0, night.stderr
    archive.proxy.add(method="GET", path=REPORT_KEYS + r".*vulnerabilityreports", truncate_response=500, times=None)
    target = archive.tmp_path / "restored"
    failed = archive.cli("runs", "restore", "latest", "--to", str(target))
    assert failed.code == 1
    [error] = failed.errors()
    assert "vulnerabilityreports.jsonl.gz" in error, error
    assert not (target / run_dir_of(night).name).exists(), "nothing half-restored"
    assert archive.assert_sound() == [run_dir_of(night).name]


def test_a_truncated_manifest_read_lists_the_run_partial_never_complete(archive: Archive) -> None:
    night = archive.night()
    assert night.code == 0, night.stderr
    archive.proxy.add(method="GET", path=MANIFEST_KEY, truncate_response=100, times=None)
    listed = archive.cli("runs", "list")
    assert listed.code == 0
    [row] = [line.split("\t") for line in listed.stdout.splitlines()]
    assert row[0] == run_dir_of(night).name and row[2] == "partial" and "manifest unreadable" in row[4], row
    assert archive.assert_sound() == [run_dir_of(night).name]


# --- retention --------------------------------------------------------------------------------------------------


def test_a_listing_failing_during_retention_leaves_the_upload_standing_exit_3(archive: Archive) -> None:
    first = archive.night()
    assert first.code == 0, first.stderr
    archive.proxy.add(method="GET", path=CLUSTER_LISTING, status=500, body=s3_error("InternalError"), times=None)
    second = archive.night()
    assert second.code == 3, second.stderr
    assert second.events("upload_finished") and second.events("prune_failed")
    assert all(message.startswith("retention failed after a verified upload") for message in second.errors())
    assert second.events("prune_finished") == []
    archive.proxy.rules.clear()
    both = [run_dir_of(first).name, run_dir_of(second).name]
    assert archive.listed() == [(run_id, "complete") for run_id in both], "nothing was deleted"
    third = archive.night()
    assert third.code == 0, third.stderr
    assert archive.assert_sound() == [run_dir_of(third).name], "keep_last 1 applied on the next night"


def test_a_delete_failing_half_way_through_a_prune_never_leaves_a_complete_run_over_missing_objects(
    archive: Archive,
) -> None:
    first = archive.night()
    assert first.code == 0, first.stderr
    # retention deletes a run manifest first (the first DeleteObjects), then its other objects (the second)
    archive.proxy.add(method="POST", path=r"\?delete", nth=2, status=500, body=s3_error("InternalError"), times=None)
    second = archive.night()
    assert second.code == 3, second.stderr
    assert second.events("prune_failed")
    listed = dict(archive.listed())
    assert listed == {run_dir_of(first).name: "incomplete", run_dir_of(second).name: "complete"}
    assert archive.assert_sound() == [run_dir_of(second).name], "the newest complete run is kept"


# --- the DefectDojo state ---------------------------------------------------------------------------------------


def test_a_dojo_state_swift_cannot_give_back_sends_nothing_and_keeps_it(archive: Archive) -> None:
    """The state is read from the archive before the sync: when Swift answers its GET with 500 on every attempt the
    sync stops before one call to DefectDojo and the state is not overwritten. The first night, when Swift says the
    state is not there (NoSuchKey), is a first night, not an error."""
    state_key = r"/nightly/prod/dojo/state\.json$"
    with DojoStandin(token=DOJO_TOKEN) as dojo:
        config = Path(archive.config())
        settings = yaml.safe_load(config.read_text())
        config.write_text(yaml.safe_dump({**settings, "dojo": {"url": dojo.url, "retries": 1, "backoff_factor": 0}}))

        def night() -> CliOutcome:
            time.sleep(1.1)  # run ids sort by their start second
            outcome = invoke(["run", "--sample", "--out", str(archive.runs), "--config", str(config)],
                             env={"DD_API_KEY": DOJO_TOKEN})  # fmt: skip
            assert_clean(outcome, archive.swift.secret_key, DOJO_TOKEN)
            return outcome

        first = night()
        assert first.code == 0, first.stderr
        assert first.events("dojo_finished")[0]["reimported"] >= 30
        saved = archive.direct().get_bytes(keys.dojo_state_key(CLUSTER))
        archive.proxy.add(method="GET", path=state_key, status=500, body=s3_error("InternalError"), times=None)
        dojo.clear_requests()
        second = night()
        assert second.code == 3, second.stderr
        [error] = second.errors()
        assert error.startswith("DefectDojo import failed, the run is archived: cannot read the DefectDojo state, "
                                "nothing was sent: cannot download s3://"), error  # fmt: skip
        assert dojo.requests == [], "no call to DefectDojo without the state"
        assert archive.direct().get_bytes(keys.dojo_state_key(CLUSTER)) == saved, "the state is not overwritten"
        assert second.events("prune_finished"), "retention still runs"
        archive.proxy.rules.clear()
        third = night()
        assert third.code == 0, third.stderr
        assert third.events("dojo_finished")[0]["reimported"] == 0, "the state read again: every test unchanged"
