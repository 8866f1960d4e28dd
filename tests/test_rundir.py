import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exporter import catalog
from exporter.errors import RunDirError
from exporter.rundir import layout, reader
from exporter.rundir.manifest import KindResult, KindStatus, RunInfo, build_manifest, run_status
from exporter.rundir.writer import KindWriter, write_manifest

VULNS = catalog.resolve("vulnerabilityreports")
NOW = datetime(2026, 11, 23, 2, 0, 0, tzinfo=UTC)


def info(**overrides: object) -> RunInfo:
    values: dict[str, object] = dict(
        run_id="20261123T020000Z-3f9a", cluster="prod", started_at=NOW, finished_at=NOW, exporter_version="1",
        kubernetes_version="v1.34.3", source={"type": "kubernetes"},
    )  # fmt: skip
    values.update(overrides)
    return RunInfo(**values)  # type: ignore[arg-type]


def test_run_id_is_sortable_utc_time_with_a_suffix() -> None:
    run_id = layout.new_run_id(NOW, "3f9a")
    assert run_id == "20261123T020000Z-3f9a" and layout.is_run_id(run_id)
    assert layout.run_started_at(run_id) == NOW
    assert layout.is_run_id(layout.new_run_id(NOW))


def test_kind_file_path_follows_the_architecture() -> None:
    assert str(layout.kind_file(VULNS)) == "reports/aquasecurity.github.io/vulnerabilityreports.jsonl.gz"


def test_writer_streams_gzip_json_lines_with_checksum(tmp_path: Path) -> None:
    writer = KindWriter(tmp_path, VULNS)
    for index in range(3):
        writer.write({"apiVersion": "a/v1", "kind": "K", "metadata": {"name": f"o{index}"}, "text": "ü"})
    written = writer.close()
    path = tmp_path / written.path
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert [json.loads(line)["metadata"]["name"] for line in lines] == ["o0", "o1", "o2"]
    assert written.objects == 3
    assert (written.bytes, written.sha256) == reader.file_digest(path)


def test_writer_restart_keeps_only_the_second_listing(tmp_path: Path) -> None:
    writer = KindWriter(tmp_path, VULNS)
    writer.write({"n": 1})
    writer.write({"n": 2})
    writer.restart()
    writer.write({"n": 3})
    written = writer.close()
    assert written.objects == 1
    assert gzip.decompress((tmp_path / written.path).read_bytes()) == b'{"n":3}\n'


def test_same_objects_give_the_same_bytes(tmp_path: Path) -> None:
    digests = set()
    for name in ("a", "b"):
        writer = KindWriter(tmp_path / name, VULNS)
        writer.write({"x": 1})
        digests.add(writer.close().sha256)
    assert len(digests) == 1


def test_manifest_status_is_partial_when_a_kind_failed_or_objects_are_malformed() -> None:
    ok = KindResult(VULNS, KindStatus.COMPLETE)
    absent = KindResult(catalog.resolve("sbomreports"), KindStatus.ABSENT)
    assert run_status([ok, absent]) == "complete"
    assert run_status([ok, KindResult(VULNS, KindStatus.FAILED, error="x")]) == "partial"
    assert run_status([KindResult(VULNS, KindStatus.COMPLETE, malformed=("a: b",))]) == "partial"
    assert run_status([ok], unreadable=["f.yaml: bad"]) == "partial"
    assert run_status([KindResult(VULNS, KindStatus.COMPLETE, warnings=("a: report is missing",))]) == "complete"


def test_manifest_records_each_kind_with_status_and_error() -> None:
    failed = KindResult(VULNS, KindStatus.FAILED, error="forbidden to list")
    manifest = build_manifest(info(), [failed])
    entry = manifest["kinds"][0]
    assert manifest["schema_version"] == 1 and manifest["status"] == "partial"
    assert manifest["started_at"] == "2026-11-23T02:00:00.000000Z"
    assert entry["status"] == "failed" and entry["error"] == "forbidden to list"
    assert entry["apiVersion"] == "aquasecurity.github.io/v1alpha1" and entry["file"] is None


def test_reader_refuses_a_run_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="did not finish"):
        reader.read_manifest(tmp_path)


def test_verify_detects_a_changed_file(tmp_path: Path) -> None:
    writer = KindWriter(tmp_path, VULNS)
    writer.write({"x": 1})
    result = KindResult(VULNS, KindStatus.COMPLETE, writer.close())
    write_manifest(tmp_path, build_manifest(info(), [result]))
    manifest = reader.read_manifest(tmp_path)
    assert reader.verify(tmp_path, manifest) == []
    assert list(reader.iter_objects(tmp_path, manifest["kinds"][0])) == [{"x": 1}]
    (tmp_path / result.written.path).write_bytes(gzip.compress(b'{"x":2}\n'))  # type: ignore[union-attr]
    assert "manifest says" in reader.verify(tmp_path)[0]


def test_manifest_write_is_atomic_and_leaves_no_temporary(tmp_path: Path) -> None:
    write_manifest(tmp_path, {"kinds": []})
    assert [path.name for path in tmp_path.iterdir()] == ["manifest.json"]
