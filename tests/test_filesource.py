import json
from pathlib import Path

import yaml

from exporter.filesource import FileScan, input_files, iter_report_objects
from tests.conftest import vulnerability_manifest, vulnerability_report


def test_reads_yaml_documents_json_objects_and_kubectl_lists(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        yaml.safe_dump_all([vulnerability_report("shop", "r1"), {"apiVersion": "v1", "kind": "ConfigMap"}])
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.json").write_text(json.dumps(vulnerability_manifest("m1")))
    kubectl_list = {"apiVersion": "v1", "kind": "List", "items": [vulnerability_report("pay", "r2")]}
    (tmp_path / "c.json").write_text(json.dumps(kubectl_list))
    (tmp_path / "notes.txt").write_text("not a report")
    scan = FileScan()
    found = [(kind.plural, obj["metadata"]["name"]) for kind, obj in iter_report_objects(tmp_path, scan)]
    assert found == [("vulnerabilityreports", "r1"), ("vulnerabilityreports", "r2"), ("vulnerabilitymanifests", "m1")]
    assert scan.ignored == {"v1/ConfigMap": 1}
    assert scan.unreadable == []


def test_items_of_a_typed_list_inherit_its_kind(tmp_path: Path) -> None:
    item = vulnerability_report("shop", "r1")
    del item["apiVersion"], item["kind"]
    typed = {"apiVersion": "aquasecurity.github.io/v1alpha1", "kind": "VulnerabilityReportList", "items": [item]}
    (tmp_path / "list.json").write_text(json.dumps(typed))
    assert [kind.kind for kind, _ in iter_report_objects(tmp_path, FileScan())] == ["VulnerabilityReport"]


def test_an_unparseable_file_is_reported_and_the_rest_still_read(tmp_path: Path) -> None:
    (tmp_path / "a-broken.yaml").write_text("kind: [unclosed\n")
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(vulnerability_report("shop", "r1")))
    scan = FileScan()
    assert len(list(iter_report_objects(tmp_path, scan))) == 1
    assert len(scan.unreadable) == 1 and scan.unreadable[0].startswith(str(tmp_path / "a-broken.yaml"))
    assert "\n" not in scan.unreadable[0]


def test_a_single_file_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text("{}")
    assert input_files(path) == [path]
