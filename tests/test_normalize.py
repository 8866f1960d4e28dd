from hypothesis import given
from hypothesis import strategies as st

from exporter import catalog, normalize

VULNS = catalog.resolve("vulnerabilityreports")
MANIFESTS = catalog.resolve("vulnerabilitymanifests")


def test_list_items_get_apiversion_and_kind_back_and_lose_managed_fields() -> None:
    item = {"metadata": {"name": "a", "namespace": "shop", "labels": {"x": "y"}, "managedFields": [{}]}, "report": {}}
    obj = normalize.normalize(VULNS, item)
    assert list(obj)[:2] == ["apiVersion", "kind"]
    assert obj["apiVersion"] == "aquasecurity.github.io/v1alpha1" and obj["kind"] == "VulnerabilityReport"
    assert "managedFields" not in obj["metadata"] and obj["metadata"]["labels"] == {"x": "y"}
    assert "managedFields" in item["metadata"], "the input is not modified"


def test_an_objects_own_api_version_is_kept() -> None:
    obj = normalize.normalize(VULNS, {"apiVersion": "aquasecurity.github.io/v1alpha2", "kind": "X", "metadata": {}})
    assert (obj["apiVersion"], obj["kind"]) == ("aquasecurity.github.io/v1alpha2", "X")


def test_problems_name_what_is_missing() -> None:
    assert normalize.problems(VULNS, {"metadata": {"name": "a", "namespace": "n"}, "report": {}}) == []
    assert normalize.problems(VULNS, {"report": {}}) == ["metadata is missing"]
    assert normalize.problems(MANIFESTS, {"metadata": {"name": "a"}}) == [
        "metadata.namespace is missing on a namespaced kind",
        "spec is missing or not an object",
    ]


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4))
def test_normalize_keeps_every_field_but_managed_fields(metadata: dict[str, object]) -> None:
    obj = normalize.normalize(VULNS, {"metadata": {**metadata, "managedFields": []}, "report": {"a": 1}})
    assert obj["metadata"] == {k: v for k, v in metadata.items() if k != "managedFields"}
    assert obj["report"] == {"a": 1}
