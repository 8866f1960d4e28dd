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


def test_checks_tell_malformed_from_a_missing_optional_report() -> None:
    assert normalize.check(VULNS, {"metadata": {"name": "a", "namespace": "n"}, "report": {}}) == normalize.Checks()
    assert normalize.check(VULNS, {"report": {}}).malformed == ("metadata is missing",)
    checks = normalize.check(MANIFESTS, {"metadata": {"name": "a"}})
    assert checks.malformed == ("metadata.namespace is missing on a namespaced kind",)
    assert checks.warnings == ("spec is missing or not an object: archived without findings",)


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=4))
def test_normalize_keeps_every_field_but_managed_fields(metadata: dict[str, object]) -> None:
    obj = normalize.normalize(VULNS, {"metadata": {**metadata, "managedFields": []}, "report": {"a": 1}})
    assert obj["metadata"] == {k: v for k, v in metadata.items() if k != "managedFields"}
    assert obj["report"] == {"a": 1}
