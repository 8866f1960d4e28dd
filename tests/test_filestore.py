"""FileStore: the directory archive, and open_store's choice of backend."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from exporter.archive import filestore
from exporter.archive.filestore import TEMP_SUFFIX, FileStore, root_from_url
from exporter.archive.open import open_store
from exporter.config import ArchiveSettings
from exporter.errors import ArchiveError

MIB = 1024 * 1024


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "archive" / "prod"


@pytest.fixture
def store(root: Path) -> FileStore:
    archive = FileStore(root.as_uri())
    archive.check()
    return archive


def failure(call: object) -> str:
    assert callable(call)
    with pytest.raises(ArchiveError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    return message


def temp_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.name.endswith(TEMP_SUFFIX))


# ---- destinations -----------------------------------------------------------------------------------------------


def test_urls_map_to_absolute_paths(tmp_path: Path) -> None:
    assert root_from_url("file:///var/lib/archive") == Path("/var/lib/archive")
    assert root_from_url("file://localhost/var/lib/archive") == Path("/var/lib/archive")
    assert root_from_url((tmp_path / "with space").as_uri()) == tmp_path / "with space"


@pytest.mark.parametrize("url", ["file://server/share", "file://relative", "s3://bucket"])
def test_urls_that_name_no_local_absolute_path_are_refused(url: str) -> None:
    assert failure(lambda: root_from_url(url)) == (
        f"archive destination {url!r} is not of the form file:///absolute/path"
    )


def test_open_store_picks_the_directory_for_file_urls(root: Path) -> None:
    store = open_store(ArchiveSettings(destination=root.as_uri()))
    assert isinstance(store, FileStore)
    assert store.url == root.as_uri()


def test_open_store_without_destination_says_what_to_set() -> None:
    assert failure(lambda: open_store(ArchiveSettings())) == (
        "no archive destination: set REPORT_EXPORTER_ARCHIVE to s3://bucket/prefix or file:///path"
    )


def test_open_store_refuses_other_schemes() -> None:
    settings = ArchiveSettings.model_construct(destination="gs://bucket/x")
    assert failure(lambda: open_store(settings)) == (
        "archive destination 'gs://bucket/x' is neither s3://bucket/prefix nor file:///path"
    )


# ---- check ------------------------------------------------------------------------------------------------------


def test_check_creates_the_root(root: Path) -> None:
    FileStore(root.as_uri()).check()
    assert root.is_dir()
    assert list(root.iterdir()) == []  # the probe file is gone


def test_check_names_a_root_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    message = failure(FileStore((blocker / "archive").as_uri()).check)
    assert message.startswith(f"cannot check {(blocker / 'archive').as_uri()}: ")
    assert str(blocker) in message


# ---- put, verify, get ---------------------------------------------------------------------------------------------


def test_put_file_lays_out_keys_as_paths(store: FileStore, root: Path, tmp_path: Path) -> None:
    source = tmp_path / "kind.jsonl.gz"
    source.write_bytes(os.urandom(3 * MIB + 5))
    store.put_file(source, "runs/2026/11/23/r1/reports/kind.jsonl.gz")
    stored = root / "runs" / "2026" / "11" / "23" / "r1" / "reports" / "kind.jsonl.gz"
    assert stored.read_bytes() == source.read_bytes()
    assert temp_files(root) == []


def test_put_bytes_replaces_atomically(store: FileStore, root: Path) -> None:
    store.put_bytes(b"first", "manifest.json")
    store.put_bytes(b"second", "manifest.json")
    assert (root / "manifest.json").read_bytes() == b"second"
    assert store.get_bytes("manifest.json") == b"second"


def test_writes_are_fsynced_before_the_rename(store: FileStore, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(filestore.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    store.put_bytes(b"x", "a/b")
    assert len(synced) >= 2  # the file, then its directory


def test_verification_failure_leaves_no_object_and_no_temporary_file(
    store: FileStore, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What landed on disk is read back; a mismatch (here simulated) must not be renamed into place."""
    monkeypatch.setattr(filestore, "_file_digest", lambda path: (1, hashlib.md5(b"?").hexdigest()))
    message = failure(lambda: store.put_bytes(b"payload", "runs/r1/manifest.json"))
    assert message.startswith(f"verification of {root / 'runs' / 'r1' / 'manifest.json'} failed: it holds 1 bytes")
    assert "but 7 bytes in memory has 7 bytes" in message
    assert not (root / "runs" / "r1" / "manifest.json").exists()
    assert temp_files(root) == []


def test_a_failed_copy_removes_its_temporary_file(store: FileStore, root: Path, tmp_path: Path) -> None:
    source = tmp_path / "dir-not-file"
    source.mkdir()
    message = failure(lambda: store.put_file(source, "k"))
    assert message.startswith(f"cannot store {source} as k in {store.url}: ")
    assert temp_files(root) == []


def test_get_file_round_trip_into_new_directories(store: FileStore, tmp_path: Path) -> None:
    store.put_bytes(b"data", "runs/r1/x")
    target = tmp_path / "restore" / "deep" / "x"
    store.get_file("runs/r1/x", target)
    assert target.read_bytes() == b"data"


def test_missing_objects_are_named(store: FileStore, tmp_path: Path) -> None:
    assert failure(lambda: store.get_bytes("runs/none")).startswith(f"there is no object runs/none in {store.url}")
    assert failure(lambda: store.get_file("runs/none", tmp_path / "x")).startswith("there is no object runs/none")


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "../escape", "runs/../../escape", "a//b", "./a", f"a/.b.x{TEMP_SUFFIX}"]
)
def test_keys_cannot_leave_the_root_or_look_temporary(store: FileStore, key: str) -> None:
    assert "invalid archive key" in failure(lambda: store.put_bytes(b"x", key))


# ---- list, delete, abort ----------------------------------------------------------------------------------------


def test_list_is_sorted_like_s3_and_filters_by_prefix(store: FileStore) -> None:
    for key in ("runs/a-b/x", "runs/a/y", "runs/a/x", "runs/b", "other/z", "runsx"):
        store.put_bytes(key.encode(), key)
    (store.root / "runs" / "a" / f".x.partial01{TEMP_SUFFIX}").write_bytes(b"half")

    assert [item.key for item in store.list("runs/")] == ["runs/a-b/x", "runs/a/x", "runs/a/y", "runs/b"]
    assert [item.key for item in store.list("runs/a")] == ["runs/a-b/x", "runs/a/x", "runs/a/y"]
    assert [item.key for item in store.list("runs")] == [
        "runs/a-b/x",
        "runs/a/x",
        "runs/a/y",
        "runs/b",
        "runsx",
    ]
    assert len(list(store.list(""))) == 6
    assert list(store.list("nothing/here/")) == []


def test_list_reports_size_and_utc_mtime(store: FileStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)
    store.put_bytes(b"12345", "runs/r1/manifest.json")
    (item,) = store.list("runs/")
    assert item.size == 5
    assert item.last_modified.tzinfo is UTC
    assert before <= item.last_modified <= datetime.now(UTC) + timedelta(seconds=2)


def test_list_of_a_missing_root_is_an_error(tmp_path: Path) -> None:
    store = FileStore((tmp_path / "nowhere").as_uri())
    assert "does not exist" in failure(lambda: list(store.list("")))


def test_delete_removes_files_and_prunes_empty_directories(store: FileStore, root: Path) -> None:
    for key in ("runs/r1/reports/a", "runs/r1/manifest.json", "runs/r2/manifest.json"):
        store.put_bytes(b"x", key)

    store.delete(["runs/r1/reports/a", "runs/r1/manifest.json", "runs/r1/never-existed"])

    assert [item.key for item in store.list("")] == ["runs/r2/manifest.json"]
    assert not (root / "runs" / "r1").exists()
    assert (root / "runs" / "r2").is_dir()
    store.delete(["runs/r2/manifest.json"])
    assert root.is_dir()  # the root itself stays
    assert list(root.iterdir()) == []


def test_abort_stale_uploads_removes_old_temporary_files_under_the_prefix(store: FileStore, root: Path) -> None:
    (root / "runs" / "r1").mkdir(parents=True)
    (root / "other").mkdir()
    old = root / "runs" / "r1" / f".big.jsonl.gz.abcd1234{TEMP_SUFFIX}"
    fresh = root / "runs" / "r1" / f".manifest.json.efgh5678{TEMP_SUFFIX}"
    elsewhere = root / "other" / f".x.ijkl9012{TEMP_SUFFIX}"
    for path in (old, fresh, elsewhere):
        path.write_bytes(b"half")
    hour_ago = time.time() - 3600
    for path in (old, elsewhere):
        os.utime(path, (hour_ago, hour_ago))
    store.put_bytes(b"kept", "runs/r1/kept")

    cutoff = datetime.now(UTC) - timedelta(minutes=30)
    assert store.abort_stale_uploads("runs/r1/big", cutoff) == 1
    assert store.abort_stale_uploads("runs/", cutoff) == 0

    assert temp_files(root) == sorted([fresh, elsewhere])
    assert store.get_bytes("runs/r1/kept") == b"kept"
    assert store.abort_stale_uploads("", datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=1)) == 2


def test_errors_name_the_action_and_the_path(store: FileStore) -> None:
    store.put_bytes(b"x", "runs/r1")
    message = failure(lambda: store.put_bytes(b"y", "runs/r1/y"))
    assert message.startswith(f"cannot store runs/r1/y in {store.url}: ")
    assert str(store.root / "runs" / "r1") in message
