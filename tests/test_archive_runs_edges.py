"""exporter.archive.runs at its edges: what `runs show --manifest`, `runs restore` and run names say when they fail.

Every message here is read by a person at a terminal, often at night: it names the run, the cluster and the archive,
and says what to do next. A restore that fails leaves nothing behind and reports the failure that stopped it.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exporter.archive import keys, runs
from exporter.archive.filestore import FileStore
from exporter.archive.store import StoredObject
from exporter.errors import ArchiveError
from tests.archive_helpers import gz_entry, manifest_naming

RUN = "20261121T020000Z-aaaa"
OTHER = "20261122T020000Z-bbbb"
ANOTHER_MONTH = "20261201T020000Z-cccc"
REPORT_FILE = "reports/aquasecurity.github.io/vulnerabilityreports.jsonl.gz"


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    archive = FileStore((tmp_path / "archive").as_uri())
    archive.check()
    return archive


def archive_run(store: FileStore, run_id: str, manifest_bytes: bytes | None) -> None:
    """One report file and, unless None, the manifest bytes, under the run's keys."""
    store.put_bytes(b"0123456789", keys.run_file_key("prod", run_id, REPORT_FILE))
    if manifest_bytes is not None:
        store.put_bytes(manifest_bytes, keys.manifest_key("prod", run_id))


# --- read_archived_manifest: `runs show --manifest` ----------------------------------------------------------------


def test_the_archived_manifest_is_read_back_as_the_document_that_was_stored(store: FileStore) -> None:
    archive_run(store, RUN, b'{"run_id": "20261121T020000Z-aaaa", "status": "partial", "kinds": []}')
    assert runs.read_archived_manifest(store, "prod", RUN) == {
        "run_id": "20261121T020000Z-aaaa",
        "status": "partial",
        "kinds": [],
    }


def test_an_archived_manifest_that_is_not_json_or_not_an_object_is_refused_by_name(store: FileStore) -> None:
    archive_run(store, RUN, b'{"status": "complete", "kinds": [')
    archive_run(store, OTHER, b'["not", "a", "manifest"]')
    with pytest.raises(ArchiveError) as not_json:
        runs.read_archived_manifest(store, "prod", RUN)
    assert str(not_json.value) == f"the manifest of run {RUN} in {store.url} is not JSON"
    with pytest.raises(ArchiveError) as not_object:
        runs.read_archived_manifest(store, "prod", OTHER)
    assert str(not_object.value) == f"the manifest of run {OTHER} in {store.url} is not a manifest"


# --- manifest_outcome: naming the failed kinds ---------------------------------------------------------------------


def test_a_failed_kind_without_a_plural_is_named_by_its_kind_or_as_unnamed() -> None:
    manifest = {
        "status": "partial",
        "kinds": [
            {"kind": "ConfigAuditReport", "status": "failed"},
            {"status": "failed"},
            {"plural": "sbomreports", "kind": "SbomReport", "status": "failed"},
        ],
    }
    assert runs.manifest_outcome(manifest) == (True, ("ConfigAuditReport", "unnamed kind", "sbomreports"), "")


def test_malformed_objects_or_unreadable_inputs_make_a_run_partial_even_when_its_status_says_complete() -> None:
    malformed = {
        "status": "complete",
        "kinds": [
            {"plural": "vulnerabilityreports", "status": "complete", "malformed_objects": 2},
            {"kind": "ExposedSecretReport", "status": "complete", "malformed_objects": 1},
            {"plural": "sbomreports", "status": "complete", "malformed_objects": 0},
        ],
    }
    assert runs.manifest_outcome(malformed) == (
        True,
        (),
        "malformed objects in vulnerabilityreports, ExposedSecretReport",
    )
    unreadable = {"status": "complete", "kinds": [], "unreadable_inputs": ["dump/a.yaml"]}
    assert runs.manifest_outcome(unreadable) == (True, (), "1 unreadable inputs")


# --- list_runs: what else a bucket may hold under a cluster's prefix ------------------------------------------------


def test_objects_under_the_runs_prefix_that_belong_to_no_run_are_ignored_not_fatal(store: FileStore) -> None:
    archive_run(store, RUN, b'{"status": "complete", "kinds": []}')
    archive_run(store, OTHER, None)
    for stray in ("prod/runs/0-README.txt", "prod/runs/2026/11/21/not-a-run/manifest.json", "prod/runs/zz.txt"):
        store.put_bytes(b"left here by a person", stray)
    assert [(run.run_id, run.status, run.size) for run in runs.list_runs(store, "prod")] == [
        (RUN, "complete", 10 + len(b'{"status": "complete", "kinds": []}')),
        (OTHER, "incomplete", 10),
    ]


class _FolderMarkers(FileStore):
    """A directory store whose listings also hold the empty "folder" objects an S3 console or a sync tool leaves:
    a key ending in `/`, equal to the prefix listed (S3 and Swift list them like any object)."""

    def list(self, prefix: str) -> Iterator[StoredObject]:
        yield StoredObject(key=prefix, size=0, last_modified=datetime(2026, 11, 21, 2, tzinfo=UTC))
        yield from super().list(prefix)


def test_a_folder_marker_under_a_run_is_not_taken_for_one_of_its_objects(tmp_path: Path) -> None:
    store = _FolderMarkers((tmp_path / "archive").as_uri())
    store.check()
    archive_run(store, RUN, b'{"status": "complete", "kinds": []}')
    shown = runs.read_run(store, "prod", RUN)
    assert (shown.run_id, shown.status, shown.size) == (
        RUN,
        "complete",
        10 + len(b'{"status": "complete", "kinds": []}'),
    )
    assert [run.run_id for run in runs.list_runs(store, "prod")] == [RUN]


class _ReadersCounter(FileStore):
    """Holds each manifest read until one more than `runs.MANIFEST_READERS` are in flight (never, unless the bound is
    gone) or a moment has passed, and records the most that were in flight at once."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._changed = threading.Condition()
        self._in_flight = 0
        self.most_in_flight = 0

    def get_bytes(self, key: str) -> bytes:
        with self._changed:
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._in_flight > runs.MANIFEST_READERS, timeout=0.5)
        try:
            return super().get_bytes(key)
        finally:
            with self._changed:
                self._in_flight -= 1


def test_manifests_are_read_manifest_readers_at_a_time(tmp_path: Path) -> None:
    """An archive holds hundreds of runs: their manifests are read a few at a time, never all at once."""
    store = _ReadersCounter((tmp_path / "archive").as_uri())
    store.check()
    run_ids = [f"202611{day:02}T020000Z-{day:04x}" for day in range(1, 21)]
    for run_id in run_ids:
        archive_run(store, run_id, b'{"status": "complete", "kinds": []}')
    assert [run.run_id for run in runs.list_runs(store, "prod")] == run_ids
    assert runs.MANIFEST_READERS > 1 and store.most_in_flight == runs.MANIFEST_READERS


# --- resolve_run: what the user typed ------------------------------------------------------------------------------


def test_latest_without_a_finished_run_says_so_naming_cluster_and_archive(store: FileStore) -> None:
    archive_run(store, RUN, None)  # uploading, or died: not finished
    with pytest.raises(ArchiveError) as raised:
        runs.resolve_run(store, "prod", "latest")
    assert str(raised.value) == f"no finished run of cluster 'prod' in {store.url}"


def test_a_unique_prefix_names_its_run_and_an_unmatched_or_ambiguous_one_says_how_many_matched(
    store: FileStore,
) -> None:
    for run_id in (RUN, OTHER, ANOTHER_MONTH):
        archive_run(store, run_id, b"{}")
    assert runs.resolve_run(store, "prod", "202612") == ANOTHER_MONTH
    assert runs.resolve_run(store, "prod", RUN) == RUN
    with pytest.raises(ArchiveError) as unmatched:
        runs.resolve_run(store, "prod", "2025")
    assert str(unmatched.value) == (
        f"no run of cluster 'prod' in {store.url} match '2025'; see `report-exporter runs list`"
    )
    with pytest.raises(ArchiveError) as ambiguous:
        runs.resolve_run(store, "prod", "202611")
    assert str(ambiguous.value) == (
        f"2 runs of cluster 'prod' in {store.url} match '202611'; see `report-exporter runs list`"
    )


# --- restore_run: refusals, and what a failed restore leaves ------------------------------------------------------


def test_restore_refuses_a_name_that_is_not_a_run_id_before_reading_the_archive(
    store: FileStore, tmp_path: Path
) -> None:
    with pytest.raises(ArchiveError) as raised:
        runs.restore_run(store, "prod", "../20261121T020000Z-aaaa", tmp_path / "restored")
    assert str(raised.value) == "'../20261121T020000Z-aaaa' is not a run id; see `report-exporter runs list`"
    assert not (tmp_path / "restored").exists()


def test_restore_refuses_a_manifest_that_is_not_json_naming_the_run(store: FileStore, tmp_path: Path) -> None:
    archive_run(store, RUN, b"manifest.json, truncated")
    with pytest.raises(ArchiveError) as raised:
        runs.restore_run(store, "prod", RUN, tmp_path / "restored")
    assert str(raised.value) == f"the manifest of run {RUN} in {store.url} is not JSON"
    assert not (tmp_path / "restored" / RUN).exists()


def test_restore_never_writes_into_an_existing_run_directory(store: FileStore, tmp_path: Path) -> None:
    entry, content = gz_entry(REPORT_FILE)
    store.put_bytes(content, keys.run_file_key("prod", RUN, REPORT_FILE))
    store.put_bytes(json.dumps(manifest_naming(RUN, entry)).encode(), keys.manifest_key("prod", RUN))
    existing = tmp_path / "restored" / RUN
    existing.mkdir(parents=True)
    (existing / "notes.txt").write_text("mine")
    with pytest.raises(ArchiveError) as raised:
        runs.restore_run(store, "prod", RUN, tmp_path / "restored")
    assert str(raised.value) == f"{existing} already exists; restore into another directory or remove it"
    assert [path.name for path in existing.iterdir()] == ["notes.txt"]


def test_a_restore_that_does_not_match_names_every_mismatched_file(store: FileStore, tmp_path: Path) -> None:
    trivy, trivy_content = gz_entry(REPORT_FILE)
    audit_file = "reports/aquasecurity.github.io/configauditreports.jsonl.gz"
    audit, audit_content = gz_entry(audit_file, b'{"kind":"ConfigAuditReport"}\n')
    store.put_bytes(trivy_content + b"!", keys.run_file_key("prod", RUN, REPORT_FILE))
    store.put_bytes(audit_content[:-1], keys.run_file_key("prod", RUN, audit_file))
    store.put_bytes(json.dumps(manifest_naming(RUN, trivy, audit)).encode(), keys.manifest_key("prod", RUN))
    with pytest.raises(ArchiveError) as raised:
        runs.restore_run(store, "prod", RUN, tmp_path / "restored")
    message = str(raised.value)
    assert message.startswith(f"run {RUN} from {store.url} does not match its manifest: {REPORT_FILE}: ")
    assert f" bytes sha256 {trivy['sha256'][:12]}; {audit_file}: " in message
    assert not (tmp_path / "restored" / RUN).exists()


class _SymlinkPlantingStore(FileStore):
    """Plants a symlink to `outside` inside the run directory while the first file is downloaded: another process
    racing the restore, or a target directory shared with something that makes links."""

    def __init__(self, url: str, outside: Path) -> None:
        super().__init__(url)
        self.outside = outside

    def get_file(self, key: str, path: Path) -> None:
        super().get_file(key, path)
        run_dir = path.parents[2]
        if not (run_dir / "reports" / "trivy-operator.devopstales.io").exists():
            (run_dir / "reports" / "trivy-operator.devopstales.io").symlink_to(self.outside)


def test_restore_refuses_a_file_a_symlink_would_lead_out_of_the_target(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    store = _SymlinkPlantingStore((tmp_path / "archive").as_uri(), outside)
    store.check()
    first, first_content = gz_entry(REPORT_FILE)
    second_file = "reports/trivy-operator.devopstales.io/configauditreports.jsonl.gz"
    second, second_content = gz_entry(second_file, b'{"kind":"ConfigAuditReport"}\n')
    store.put_bytes(first_content, keys.run_file_key("prod", RUN, REPORT_FILE))
    store.put_bytes(second_content, keys.run_file_key("prod", RUN, second_file))
    store.put_bytes(json.dumps(manifest_naming(RUN, first, second)).encode(), keys.manifest_key("prod", RUN))
    with pytest.raises(ArchiveError) as raised:
        runs.restore_run(store, "prod", RUN, tmp_path / "restored")
    assert str(raised.value).startswith(f"run {RUN} is not restored: {tmp_path / 'restored' / RUN}: {second_file}")
    assert "leads outside the run directory" in str(raised.value)
    assert list(outside.iterdir()) == [], "nothing was written through the link"
    assert not (tmp_path / "restored" / RUN).exists()


class _VanishingTargetStore(FileStore):
    """Fails the download after the target run directory was removed under the restore (a cleanup job, a full disk
    unmounted): the clean-up then has nothing to remove."""

    def get_file(self, key: str, path: Path) -> None:
        shutil.rmtree(path.parents[2])  # the run directory, which holds only the folder made for this file
        raise ArchiveError(f"copy {key} from {self.url} failed: connection reset")


def test_a_failed_restore_reports_the_failure_that_stopped_it_not_its_clean_up(tmp_path: Path) -> None:
    store = _VanishingTargetStore((tmp_path / "archive").as_uri())
    store.check()
    entry, content = gz_entry(REPORT_FILE)
    store.put_bytes(content, keys.run_file_key("prod", RUN, REPORT_FILE))
    store.put_bytes(json.dumps(manifest_naming(RUN, entry)).encode(), keys.manifest_key("prod", RUN))
    with pytest.raises(ArchiveError, match="connection reset"):
        runs.restore_run(store, "prod", RUN, tmp_path / "restored")
