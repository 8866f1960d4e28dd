"""The getter reading files: the run directory contract, filters, malformed input."""

from collections.abc import Callable
from pathlib import Path

import yaml

from exporter.config import Settings
from exporter.errors import ExitCode
from exporter.getter import get_from_files
from exporter.pipeline import run_outcome
from exporter.progress import JsonReporter
from exporter.rundir import reader
from tests.report_objects import vulnerability_manifest, vulnerability_report


def write_reports(directory: Path, objects: list[dict]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "reports.yaml").write_text(yaml.safe_dump_all(objects))
    return directory


def run(settings: Settings, source: Path, out: Path, capsys_log: list[str] | None = None):
    import io

    stream = io.StringIO()
    result = get_from_files(settings, source, out, JsonReporter(stream))
    if capsys_log is not None:
        capsys_log.extend(stream.getvalue().splitlines())
    return result


def test_run_directory_holds_one_file_per_kind_and_a_verified_manifest(
    tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    source = write_reports(tmp_path / "in", [vulnerability_report("shop", "r1"), vulnerability_manifest("m1"),
                                             vulnerability_report("pay", "r2")])  # fmt: skip
    result = run(settings_with(cluster="prod"), source, tmp_path / "out")
    assert run_outcome(result.manifest).exit_code is ExitCode.OK
    assert result.run_dir.parent == tmp_path / "out"
    manifest = reader.read_manifest(result.run_dir)
    assert manifest["status"] == "complete" and manifest["cluster"] == "prod"
    assert reader.verify(result.run_dir, manifest) == []
    by_plural = {entry["plural"]: entry for entry in manifest["kinds"]}
    assert by_plural["vulnerabilityreports"]["objects"] == 2
    assert by_plural["vulnerabilitymanifests"]["status"] == "complete"
    assert by_plural["sbomreports"]["status"] == "absent" and by_plural["sbomreports"]["file"] is None
    objects = list(reader.iter_objects(result.run_dir, by_plural["vulnerabilityreports"]))
    assert all("managedFields" not in obj["metadata"] for obj in objects)
    assert objects[0]["metadata"]["labels"]["trivy-operator.resource.kind"] == "ReplicaSet"


def test_filters_select_kinds_namespaces_and_labels(tmp_path: Path, settings_with: Callable[..., Settings]) -> None:
    source = write_reports(tmp_path / "in", [
        vulnerability_report("shop", "r1", team="a"), vulnerability_report("shop", "r2", team="b"),
        vulnerability_report("kube-system", "r3", team="a"), vulnerability_manifest("m1"),
    ])  # fmt: skip
    settings = settings_with(filters__kinds=["vulnerabilityreports"], filters__exclude_namespaces=["kube-system"],
                             filters__label_selector="team=a")  # fmt: skip
    manifest = run(settings, source, tmp_path / "out").manifest
    assert [entry["plural"] for entry in manifest["kinds"]] == ["vulnerabilityreports"]
    assert manifest["kinds"][0]["objects"] == 1
    only = run(settings_with(filters__namespaces=["kube-system"]), source, tmp_path / "out2").manifest
    counts = {entry["plural"]: entry["objects"] for entry in only["kinds"]}
    assert counts["vulnerabilityreports"] == 1
    assert counts["vulnerabilitymanifests"] == 0, "namespace filters apply to an object's own namespace"


def test_an_object_without_its_report_is_archived_with_a_warning_and_the_run_stays_complete(
    tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    unfinished = vulnerability_report("shop", "unfinished")
    del unfinished["report"]
    source = write_reports(tmp_path / "in", [vulnerability_report("shop", "r1"), unfinished])
    log: list[str] = []
    result = run(settings_with(), source, tmp_path / "out", log)
    entry = next(e for e in result.manifest["kinds"] if e["plural"] == "vulnerabilityreports")
    assert entry["objects"] == 2 and entry["malformed_objects"] == 0 and entry["status"] == "complete"
    assert entry["objects_with_warnings"] == 1
    assert entry["warnings"] == ["shop/unfinished: report is missing or not an object: archived without findings"]
    assert result.manifest["status"] == "complete" and run_outcome(result.manifest).exit_code is ExitCode.OK
    assert any("1 objects archived with a warning" in line for line in log)
    stored = [obj["metadata"]["name"] for obj in reader.iter_objects(result.run_dir, entry)]
    assert stored == ["r1", "unfinished"], "the object is archived as it is"


def test_strict_counts_a_missing_report_as_malformed_and_the_run_is_partial(
    tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    unfinished = vulnerability_report("shop", "unfinished")
    del unfinished["report"]
    source = write_reports(tmp_path / "in", [vulnerability_report("shop", "r1"), unfinished])
    result = run(settings_with(strict=True), source, tmp_path / "out")
    entry = next(e for e in result.manifest["kinds"] if e["plural"] == "vulnerabilityreports")
    assert entry["objects"] == 2 and entry["malformed_objects"] == 1 and entry["objects_with_warnings"] == 0
    assert result.manifest["status"] == "partial" and run_outcome(result.manifest).exit_code is ExitCode.PARTIAL


def test_an_object_without_name_is_malformed_kept_counted_and_reported(
    tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    nameless = vulnerability_report("shop", "x")
    del nameless["metadata"]["name"]
    source = write_reports(tmp_path / "in", [vulnerability_report("shop", "r1"), nameless])
    log: list[str] = []
    result = run(settings_with(), source, tmp_path / "out", log)
    entry = next(e for e in result.manifest["kinds"] if e["plural"] == "vulnerabilityreports")
    assert entry["objects"] == 2 and entry["malformed_objects"] == 1
    assert entry["malformed"] == ["shop/<no name>: metadata.name is missing"]
    assert result.manifest["status"] == "partial" and run_outcome(result.manifest).exit_code is ExitCode.PARTIAL
    assert any("1 malformed objects kept" in line for line in log)


def test_unreadable_input_is_partial_and_named(tmp_path: Path, settings_with: Callable[..., Settings]) -> None:
    source = write_reports(tmp_path / "in", [vulnerability_report("shop", "r1")])
    (source / "zz-bad.json").write_text("{not json")
    log: list[str] = []
    result = run(settings_with(), source, tmp_path / "out", log)
    assert run_outcome(result.manifest).exit_code is ExitCode.PARTIAL
    assert result.manifest["unreadable_inputs"][0].startswith(str(source / "zz-bad.json"))
    assert any("zz-bad.json" in line and '"level": "error"' in line for line in log)


def test_duplicates_across_files_are_written_once(tmp_path: Path, settings_with: Callable[..., Settings]) -> None:
    source = write_reports(tmp_path / "in", [vulnerability_report("shop", "r1")])
    (source / "again.yaml").write_text(yaml.safe_dump(vulnerability_report("shop", "r1")))
    manifest = run(settings_with(), source, tmp_path / "out").manifest
    assert next(e for e in manifest["kinds"] if e["plural"] == "vulnerabilityreports")["objects"] == 1
