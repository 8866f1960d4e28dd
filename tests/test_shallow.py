"""Shallow decoding of list pages must write what a full decode would, for every kind and every odd object."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exporter import normalize
from exporter.catalog import ReportKind, resolve
from exporter.filesource import FileScan, iter_report_objects
from exporter.kube.shallow import ShallowObject, decode_page
from exporter.samples import sample_cluster_dir
from tests.kube_standin import LISTED_ZERO_SPECS

SAMPLES = list(iter_report_objects(sample_cluster_dir(), FileScan()))
VULNS = resolve("vulnerabilityreports")
MANIFESTS = resolve("vulnerabilitymanifests")


def shallow(obj: dict[str, Any]) -> ShallowObject:
    """As the getter sees an object: one item of a page the server sent."""
    (item,) = decode_page(json.dumps({"kind": "List", "items": [obj], "metadata": {}}).encode()).items
    assert isinstance(item, ShallowObject)
    return item


def with_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = {**obj["metadata"], "managedFields": [{"manager": "trivy-operator", "operation": "Update"}]}
    return {**obj, "metadata": metadata}


@pytest.mark.parametrize(("kind", "obj"), SAMPLES, ids=[f"{k.plural}-{i}" for i, (k, _) in enumerate(SAMPLES)])
def test_every_sample_object_is_written_as_a_full_decode_writes_it(kind: ReportKind, obj: dict[str, Any]) -> None:
    served = with_managed_fields(obj)
    item = shallow(served)
    line = item.line(kind)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == normalize.normalize(kind, served)
    assert list(json.loads(line))[:2] == ["apiVersion", "kind"]
    assert item.check(kind) == normalize.check(kind, served) == normalize.Checks()
    assert (item.namespace, item.name) == (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


def test_api_version_and_kind_are_restored_when_the_list_leaves_them_out() -> None:
    obj = {"metadata": {"name": "a", "namespace": "n"}, "spec": {}}
    line = json.loads(shallow(obj).line(MANIFESTS))
    assert line["apiVersion"] == MANIFESTS.api_version and line["kind"] == MANIFESTS.kind


def test_server_spelling_is_kept_and_big_integers_survive() -> None:
    body = (b'{"items":[{"apiVersion":"v","kind":"K","metadata":{"name":"a","namespace":"n"},'
            b'"report":{"note":"\\u003cb\\u003e","big":123456789012345678901234567890}}],"metadata":{}}')  # fmt: skip
    (item,) = decode_page(body).items
    line = item.line(VULNS)
    assert b"\\u003cb\\u003e" in line
    assert json.loads(line)["report"] == {"note": "<b>", "big": 123456789012345678901234567890}


@pytest.mark.parametrize(
    ("obj", "malformed", "warnings"),
    [
        ({"apiVersion": "v", "kind": "K", "report": {"a": 1}}, ["metadata is missing"], []),
        ({"metadata": "oops", "report": {"a": 1}}, ["metadata is missing"], []),
        ({"metadata": {"namespace": "n"}, "report": {"a": 1}}, ["metadata.name is missing"], []),
        ({"metadata": {"name": "a"}, "report": {"a": 1}}, ["metadata.namespace is missing on a namespaced kind"], []),
        ({"metadata": {"name": "a", "namespace": "n"}}, [], ["report is missing or not an object: archived without "
                                                              "findings"]),
        ({"metadata": {"name": "a", "namespace": "n"}, "report": [1]}, [], ["report is missing or not an object: "
                                                                             "archived without findings"]),
        ({"metadata": {"name": None, "namespace": "n"}, "report": {}}, ["metadata.name is missing"], []),
        ({"metadata": {"name": 7, "namespace": "n"}, "report": {}}, [], []),
        ({"kind": "ConfigAuditReport", "metadata": {"name": "a", "namespace": "n"}, "report": {}},
         ["kind is 'ConfigAuditReport' where 'VulnerabilityReport' was listed"], []),
        ({"kind": "VulnerabilityReport", "metadata": {"name": "a", "namespace": "n"}, "report": {}}, [], []),
    ],
)  # fmt: skip
def test_odd_objects_get_the_same_checks_from_a_shallow_and_a_full_decode(
    obj: dict[str, Any], malformed: list[str], warnings: list[str]
) -> None:
    expected = normalize.Checks(malformed=tuple(malformed), warnings=tuple(warnings))
    assert shallow(obj).check(VULNS) == expected == normalize.check(VULNS, normalize.normalize(VULNS, obj))


def test_payload_presence_and_annotations_for_kubescape_lists() -> None:
    listed = shallow({"metadata": {"name": "a", "namespace": "n", "annotations": {"kubescape.io/status": "too-large"}},
                      "spec": {}})  # fmt: skip
    assert not listed.has_object("spec") and listed.annotation("kubescape.io/status") == "too-large"
    whole = shallow({"metadata": {"name": "a", "namespace": "n"},
                     "spec": {"payload": {"matches": [], "descriptor": {"name": "grype"}}}})  # fmt: skip
    assert whole.has_object("spec") and whole.annotation("kubescape.io/status") == ""
    assert not shallow({"metadata": {"name": "a"}, "spec": {  }}).has_object("spec")  # fmt: skip


@pytest.mark.parametrize("plural", sorted(LISTED_ZERO_SPECS))
def test_a_zero_filled_spec_as_kubescape_storage_lists_it_is_no_report(plural: str) -> None:
    """The real storage's plain LIST zero-fills each spec (docs/kubescape-storage.md): taken for a report, it would
    archive an empty scan and close the workload's findings in DefectDojo, so the getter must GET the object."""
    zero = LISTED_ZERO_SPECS[plural]
    assert not shallow({"metadata": {"name": "a", "namespace": "n"}, "spec": zero}).has_object("spec")


@pytest.mark.parametrize(
    "spec",
    [
        {"severities": {"critical": {"all": 1}}},  # one count is a report
        {"payload": {"matches": None, "descriptor": {"name": "grype"}}},  # a report without findings names its tool
        {"controls": None, "relatedObjects": [{"kind": "Deployment"}]},
        {"counts": [0] * 3000},  # over the bytes read (6 KiB): taken as content, whatever it holds
    ],
)
def test_anything_but_zeros_is_a_report(spec: dict[str, Any]) -> None:
    assert shallow({"metadata": {"name": "a", "namespace": "n"}, "spec": spec}).has_object("spec")


def test_the_continue_token_is_read_and_an_empty_page_has_no_items() -> None:
    page = decode_page(b'{"kind":"List","items":null,"metadata":{"continue":"abc","resourceVersion":"7"}}')
    assert page.items == [] and page.continue_token == "abc"
    assert decode_page(b'{"items":[]}').continue_token == ""


def test_a_page_with_an_item_that_is_not_an_object_keeps_the_others() -> None:
    page = decode_page(b'{"items":[{"metadata":{"name":"a","namespace":"n"},"report":{}},42,"x"],"metadata":{}}')
    assert isinstance(page.items[0], ShallowObject) and page.items[0].name == "a"
    assert page.items[1:] == [42, "x"]


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'"a string"'])
def test_a_body_that_is_no_list_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError, match=r"."):
        decode_page(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(
    extra=st.dictionaries(st.text(min_size=1, max_size=10).filter(lambda k: k not in {"apiVersion", "kind",
                          "metadata"}), json_values, max_size=5),
    name=st.text(min_size=1, max_size=20),
    labels=st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
)  # fmt: skip
def test_any_object_round_trips_as_a_full_decode_would(
    extra: dict[str, Any], name: str, labels: dict[str, str]
) -> None:
    obj = with_managed_fields({"metadata": {"name": name, "namespace": "n", "labels": labels}, **extra})
    item = shallow(obj)
    assert msgspec.json.decode(item.line(VULNS)) == normalize.normalize(VULNS, obj)
    assert item.to_dict() == obj
