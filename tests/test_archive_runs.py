"""exporter.archive.runs: archived runs listed with the status their manifests give them."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from exporter.archive import keys, runs
from exporter.archive.filestore import FileStore
from exporter.errors import ArchiveError

COMPLETE = "20261121T020000Z-aaaa"
PARTIAL = "20261122T020000Z-bbbb"
INCOMPLETE = "20261123T020000Z-cccc"


def kind(plural: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"plural": plural, "status": status, "error": None, "malformed_objects": 0, **extra}


def manifest(status: str, *kinds: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"schema_version": 1, "status": status, "kinds": list(kinds), "unreadable_inputs": [], **extra}


ALL_COMPLETE = manifest("complete", kind("vulnerabilityreports", "complete"), kind("configauditreports", "complete"))
TWO_FAILED = manifest(
    "partial",
    kind("vulnerabilityreports", "complete"),
    kind("configauditreports", "failed", error="403 Forbidden"),
    kind("workloadconfigurationscans", "absent"),
    kind("rbacassessmentreports", "failed", error="connection reset"),
)


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    archive = FileStore((tmp_path / "archive").as_uri())
    archive.check()
    return archive


def archive_run(store: FileStore, run_id: str, manifest_bytes: bytes | None, *, cluster: str = "prod") -> None:
    """A run's report file and, unless None, its manifest bytes, stored as the uploader lays them out."""
    store.put_bytes(b"0123456789", keys.run_file_key(cluster, run_id, "reports/x/vulnerabilityreports.jsonl.gz"))
    if manifest_bytes is not None:
        store.put_bytes(manifest_bytes, keys.manifest_key(cluster, run_id))


def archive_three_runs(store: FileStore) -> None:
    archive_run(store, COMPLETE, json.dumps(ALL_COMPLETE).encode())
    archive_run(store, PARTIAL, json.dumps(TWO_FAILED).encode())
    archive_run(store, INCOMPLETE, None)


def test_list_runs_shows_complete_partial_with_its_failed_kinds_and_incomplete(store: FileStore) -> None:
    archive_three_runs(store)
    listed = runs.list_runs(store, "prod")
    assert [(run.run_id, run.status, run.failed_kinds) for run in listed] == [
        (COMPLETE, "complete", ()),
        (PARTIAL, "partial", ("configauditreports", "rbacassessmentreports")),
        (INCOMPLETE, "incomplete", ()),
    ]
    assert [run.status_text for run in listed] == [
        "complete",
        "partial: failed configauditreports, rbacassessmentreports",
        "incomplete",
    ]
    assert [run.complete for run in listed] == [True, True, False], "complete still means finished"


@pytest.mark.parametrize(
    ("manifest_bytes", "expected"),
    [
        (b'{"status": "complete", "kinds": [', "partial: manifest unreadable: not JSON"),
        (b'["not", "a", "manifest"]', "partial: manifest unreadable: not a JSON object"),
        (b'{"status": "complete"}', "partial: manifest unreadable: no run status or list of kinds"),
        (b'{"kinds": []}', "partial: manifest unreadable: no run status or list of kinds"),
    ],
)
def test_an_unreadable_manifest_makes_its_run_partial_never_complete(
    store: FileStore, manifest_bytes: bytes, expected: str
) -> None:
    archive_run(store, COMPLETE, manifest_bytes)
    (listed,) = runs.list_runs(store, "prod")
    assert (listed.status, listed.status_text) == ("partial", expected)


def test_a_manifest_the_store_cannot_read_makes_its_run_partial(tmp_path: Path) -> None:
    class RefusingStore(FileStore):
        def get_bytes(self, key: str) -> bytes:
            raise ArchiveError(f"access denied to {key}")

    store = RefusingStore((tmp_path / "archive").as_uri())
    archive_run(store, COMPLETE, json.dumps(ALL_COMPLETE).encode())
    (listed,) = runs.list_runs(store, "prod")
    assert listed.status_text == (
        "partial: manifest unreadable: access denied to prod/runs/2026/11/21/20261121T020000Z-aaaa/manifest.json"
    )


def test_many_runs_each_get_the_status_of_their_own_manifest(store: FileStore) -> None:
    run_ids = [f"202611{day:02}T020000Z-{day:04x}" for day in range(1, 31)]
    for day, run_id in enumerate(run_ids, start=1):
        failed = manifest("partial", kind(f"kind{day}s", "failed"))
        archive_run(store, run_id, json.dumps(failed if day % 3 == 0 else ALL_COMPLETE).encode())
    listed = runs.list_runs(store, "prod")
    assert [run.run_id for run in listed] == run_ids
    assert [run.failed_kinds for run in listed if run.partial] == [(f"kind{day}s",) for day in range(3, 31, 3)]


def test_list_runs_reads_no_other_cluster(store: FileStore) -> None:
    archive_run(store, COMPLETE, json.dumps(ALL_COMPLETE).encode())
    archive_run(store, PARTIAL, json.dumps(TWO_FAILED).encode(), cluster="staging")
    assert [(run.run_id, run.status) for run in runs.list_runs(store, "staging")] == [(PARTIAL, "partial")]


def test_read_run_shows_one_run_as_list_runs_does(store: FileStore) -> None:
    archive_three_runs(store)
    partial = runs.read_run(store, "prod", PARTIAL)
    assert (partial.status_text, partial.size) == (
        "partial: failed configauditreports, rbacassessmentreports",
        10 + len(json.dumps(TWO_FAILED)),
    )
    assert runs.read_run(store, "prod", COMPLETE).status == "complete"
    assert runs.read_run(store, "prod", INCOMPLETE).status == "incomplete"
    with pytest.raises(ArchiveError, match="no run 20261124T020000Z-dddd of cluster 'prod'"):
        runs.read_run(store, "prod", "20261124T020000Z-dddd")


def test_latest_is_the_newest_finished_run_even_when_partial(store: FileStore) -> None:
    archive_three_runs(store)
    assert runs.resolve_run(store, "prod", "latest") == PARTIAL


# --- manifest_outcome: the pure reading of a manifest ------------------------------------------------------------


def test_a_complete_manifest_is_not_partial() -> None:
    assert runs.manifest_outcome(ALL_COMPLETE) == runs.ManifestOutcome(partial=False)


def test_failed_kinds_are_named_by_plural_in_manifest_order() -> None:
    assert runs.manifest_outcome(TWO_FAILED) == (True, ("configauditreports", "rbacassessmentreports"), "")


def test_a_failed_kind_makes_a_run_partial_whatever_its_status_says() -> None:
    contradicting = manifest("complete", kind("exposedsecretreports", "failed"))
    assert runs.manifest_outcome(contradicting) == (True, ("exposedsecretreports",), "")


def test_partial_without_a_failed_kind_says_what_else_went_wrong() -> None:
    malformed = manifest(
        "partial",
        kind("vulnerabilityreports", "complete", malformed_objects=2),
        kind("sbomreports", "complete"),
        unreadable_inputs=["a.yaml", "b.yaml"],
    )
    assert runs.manifest_outcome(malformed) == (
        True,
        (),
        "malformed objects in vulnerabilityreports; 2 unreadable inputs",
    )
    assert runs.manifest_outcome(manifest("partial")) == (True, (), "")


# --- what the listing says of when runs were written, and `latest` -----------------------------------------------


def set_mtime(store: FileStore, run_id: str, moment: datetime, *, cluster: str = "prod") -> None:
    """Make a directory archive say the run's objects were last written at `moment` (LastModified is the mtime)."""
    for stored in store.list(keys.run_prefix(cluster, run_id)):
        path = store.root.joinpath(*stored.key.split("/"))
        os.utime(path, (moment.timestamp(), moment.timestamp()))


def test_each_listed_run_carries_the_newest_last_modified_of_its_objects(store: FileStore) -> None:
    archive_run(store, INCOMPLETE, None)
    store.put_bytes(b"x", keys.run_file_key("prod", INCOMPLETE, "reports/x/configauditreports.jsonl.gz"))
    set_mtime(store, INCOMPLETE, datetime(2026, 11, 20, 2, tzinfo=UTC))
    newest = store.root / keys.run_file_key("prod", INCOMPLETE, "reports/x/configauditreports.jsonl.gz")
    os.utime(newest, (datetime(2026, 11, 25, 4, tzinfo=UTC).timestamp(),) * 2)
    (listed,) = runs.list_runs(store, "prod")
    assert listed.last_modified == datetime(2026, 11, 25, 4, tzinfo=UTC)
    assert runs.read_run(store, "prod", INCOMPLETE).last_modified == datetime(2026, 11, 25, 4, tzinfo=UTC)


def test_latest_is_not_a_run_dated_in_the_future_but_the_one_written_last(store: FileStore) -> None:
    ahead = "20991231T020000Z-dddd"  # a getter whose clock was decades ahead
    archive_run(store, ahead, json.dumps(ALL_COMPLETE).encode())
    archive_run(store, COMPLETE, json.dumps(ALL_COMPLETE).encode())
    set_mtime(store, ahead, datetime(2026, 11, 20, 2, tzinfo=UTC))
    set_mtime(store, COMPLETE, datetime(2026, 11, 21, 2, 5, tzinfo=UTC))
    assert runs.resolve_run(store, "prod", "latest") == COMPLETE
    set_mtime(store, ahead, datetime(2026, 11, 22, 2, tzinfo=UTC))
    assert runs.resolve_run(store, "prod", "latest") == ahead, "written after the other, it is the latest"
