"""Helpers for the archive-safety tests: moto in process, small run directories, stores that misbehave on cue.

Shared by tests/test_archive_safety.py, tests/test_archive_race.py, tests/test_upload_skips.py,
tests/test_s3_environment.py and tests/swift/test_archive_race_swift.py.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from exporter import catalog
from exporter.archive.pruning import PruneResult
from exporter.archive.retention import RetentionPolicy
from exporter.archive.store import Store, StoredObject
from exporter.progress import JsonReporter
from exporter.rundir import layout
from exporter.rundir.manifest import KindResult, KindStatus, RunInfo, build_manifest
from exporter.rundir.writer import KindWriter, write_manifest
from exporter.uploader import prune, upload_run

BUCKET = "archive"
ACCESS_KEY = "AKIDEXAMPLEONLY"
SECRET = "s3cr3t/Key+ThatMustNeverBePrinted"
KINDS = ("vulnerabilityreports", "configauditreports", "exposedsecretreports")


@contextmanager
def moto_s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """moto in process, known credentials, and nothing from the developer's AWS environment or files."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "REPORT_EXPORTER_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    with mock_aws(config={"core": {"mock_credentials": False}}):
        yield


def reporter() -> tuple[JsonReporter, io.StringIO]:
    """A JSON-lines reporter and the stream it writes, to assert on warnings."""
    stream = io.StringIO()
    return JsonReporter(stream), stream


def events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def small_run(parent: Path, started: datetime, *, cluster: str = "prod", suffix: str = "0a0a") -> Path:
    """A complete run directory of three small kinds, its id dated `started` (the getter's clock)."""
    run_dir = parent / layout.new_run_id(started, suffix)
    run_dir.mkdir(parents=True)
    results = []
    for plural in KINDS:
        kind = catalog.resolve(plural)
        writer = KindWriter(run_dir, kind)
        for index in range(3):
            writer.write({"apiVersion": kind.api_version, "kind": kind.kind,
                          "metadata": {"name": f"{plural}-{index}", "namespace": "shop"}})  # fmt: skip
        results.append(KindResult(kind, KindStatus.COMPLETE, writer.close()))
    info = RunInfo(run_dir.name, cluster, started, started, "test", None, {"type": "test"})
    write_manifest(run_dir, build_manifest(info, results))
    return run_dir


def gz_entry(name: str, body: bytes = b'{"kind":"VulnerabilityReport"}\n') -> tuple[dict[str, Any], bytes]:
    """A manifest kind entry naming `name`, with the size and sha256 of a gzip body, and that body."""
    content = gzip.compress(body, mtime=0)
    entry = {"plural": "vulnerabilityreports", "kind": "VulnerabilityReport", "status": "complete", "file": name,
             "objects": 1, "bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}  # fmt: skip
    return entry, content


def manifest_naming(run_id: str, *entries: dict[str, Any], cluster: str = "prod") -> dict[str, Any]:
    return {"schema_version": 1, "run_id": run_id, "cluster": cluster, "status": "complete", "kinds": list(entries),
            "unreadable_inputs": []}  # fmt: skip


class HookedStore:
    """Any Store, with a callback after each file upload: the place a prune running beside the upload strikes."""

    def __init__(self, store: Store, after_put: Callable[[str], None]) -> None:
        self._store = store
        self._after_put = after_put
        self.url = store.url
        self.listed: list[str] = []

    def check(self) -> None:
        self._store.check()

    def put_file(self, path: Path, key: str) -> None:
        self._store.put_file(path, key)
        self._after_put(key)

    def put_bytes(self, data: bytes, key: str) -> None:
        self._store.put_bytes(data, key)

    def get_file(self, key: str, path: Path) -> None:
        self._store.get_file(key, path)

    def get_bytes(self, key: str) -> bytes:
        return self._store.get_bytes(key)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        self.listed.append(prefix)
        return self._store.list(prefix)

    def delete(self, keys: Sequence[str]) -> None:
        self._store.delete(keys)

    def abort_stale_uploads(self, prefix: str, older_than: datetime) -> int:
        return self._store.abort_stale_uploads(prefix, older_than)


def utc(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC)


def upload_with_a_prune_beside(
    store: Store, run_dir: Path, policy: RetentionPolicy, *, prune_now: datetime | None = None
) -> tuple[PruneResult, io.StringIO]:
    """Upload `run_dir` while a second pod prunes the cluster: right after the run's last file is stored, before the
    uploader does anything else, a real plan and apply run against the same store. Returns what the prune did and
    the uploader's log; an upload that fails raises."""
    files = sum(1 for entry in json.loads((run_dir / "manifest.json").read_text())["kinds"] if entry.get("file"))
    stored: list[str] = []
    pruned: list[PruneResult] = []

    def prune_once_all_files_are_stored(key: str) -> None:
        stored.append(key)
        if len(stored) == files and not pruned:
            _, result = prune(store, "prod", policy, reporter()[0], now=prune_now)
            assert result is not None
            pruned.append(result)

    log, stream = reporter()
    upload_run(HookedStore(store, prune_once_all_files_are_stored), run_dir, max_concurrency=1, reporter=log)
    assert pruned, "the prune ran in the middle of the upload"
    return pruned[0], stream
