import json
from pathlib import Path

import yaml

from exporter.filesource import FileScan, input_files, iter_report_objects
from tests.report_objects import vulnerability_manifest, vulnerability_report


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


BILLION_LAUGHS = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    + ["kind: VulnerabilityReport", "apiVersion: aquasecurity.github.io/v1alpha1"]
)


def test_a_billion_laughs_file_is_refused_at_a_bounded_cost_and_the_rest_read(tmp_path: Path) -> None:
    (tmp_path / "a-laughs.yaml").write_text(BILLION_LAUGHS)
    (tmp_path / "b-good.yaml").write_text(yaml.safe_dump(vulnerability_report("shop", "r1")))
    scan = FileScan()
    found = [obj["metadata"]["name"] for _, obj in iter_report_objects(tmp_path, scan)]
    assert found == ["r1"]
    assert len(scan.unreadable) == 1 and "once YAML aliases are expanded" in scan.unreadable[0]


def test_json_nested_too_deep_is_unreadable_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    (tmp_path / "deep-but-parseable.json").write_text(json.dumps({"a": _nested(150)}))
    (tmp_path / "good.json").write_text(json.dumps(vulnerability_report("shop", "r1")))
    scan = FileScan()
    assert [obj["metadata"]["name"] for _, obj in iter_report_objects(tmp_path, scan)] == ["r1"]
    assert sorted(line.split(": ", 1)[1] for line in scan.unreadable) == [
        "nested more than 100 levels deep",
        "nested too deeply to parse (more than 100 levels)",
    ]


def test_a_bare_array_is_read_as_items_and_a_scalar_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "array.json").write_text(json.dumps([vulnerability_report("shop", "r1"), 7]))
    (tmp_path / "scalar.json").write_text("42")
    scan = FileScan()
    assert [obj["metadata"]["name"] for _, obj in iter_report_objects(tmp_path, scan)] == ["r1"]
    assert scan.unreadable == [f"{tmp_path / 'scalar.json'}: a document is a int, not an object or a list"]
    assert scan.ignored == {"?": 1}, "the array's non-object item is counted"


def _nested(depth: int) -> object:
    value: object = "leaf"
    for _ in range(depth):
        value = {"x": value}
    return value


def test_a_yaml_alias_that_contains_itself_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "loop.yaml").write_text("kind: VulnerabilityReport\nreport: &r\n  again: *r\n")
    scan = FileScan()
    assert list(iter_report_objects(tmp_path, scan)) == []
    assert scan.unreadable == [f"{tmp_path / 'loop.yaml'}: a YAML alias refers to itself: the document is infinite"]
