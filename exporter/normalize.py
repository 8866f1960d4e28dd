"""Pure clean-up and checks of report objects before they are written.

List responses of built-in and aggregated APIs omit each item's `apiVersion`/`kind`; the run directory's contract
says every stored object carries them. `managedFields` is bookkeeping of the API server that can double an
object's size and means nothing to an analyst, so it is dropped. Everything else, labels and annotations first
(DefectDojo's Trivy parser reads the `trivy-operator.*` labels), is kept as served.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.catalog import ReportKind


def normalize(kind: ReportKind, item: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `item` with apiVersion and kind restored and managedFields dropped."""
    obj = dict(item)
    obj.setdefault("apiVersion", kind.api_version)
    obj.setdefault("kind", kind.kind)
    metadata = obj.get("metadata")
    if isinstance(metadata, Mapping) and "managedFields" in metadata:
        obj["metadata"] = {key: value for key, value in metadata.items() if key != "managedFields"}
    # Keep apiVersion and kind first, as kubectl prints them, so `zcat | head` reads naturally.
    return {"apiVersion": obj.pop("apiVersion"), "kind": obj.pop("kind"), **obj}


def problems(kind: ReportKind, obj: Mapping[str, Any]) -> list[str]:
    """What makes an object unusable downstream; empty when it is well-formed. Such objects are still kept."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return problems_of(kind, has_metadata=False, name="", namespace="", has_payload=False)
    return problems_of(
        kind,
        has_metadata=True,
        name=str(metadata.get("name") or ""),
        namespace=str(metadata.get("namespace") or ""),
        has_payload=isinstance(obj.get(kind.payload_key), Mapping),
    )


def describe(obj: Mapping[str, Any]) -> str:
    """`namespace/name` (or `name`) of an object, for messages; tolerant of malformed objects."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return describe_of(has_metadata=False, name="", namespace="")
    return describe_of(
        has_metadata=True, name=str(metadata.get("name") or ""), namespace=str(metadata.get("namespace") or "")
    )


def problems_of(kind: ReportKind, *, has_metadata: bool, name: str, namespace: str, has_payload: bool) -> list[str]:
    """The checks and their wording, from what an object says of itself: shared by full dicts and by the
    getter's shallow objects (exporter/kube/shallow.py), which read those facts without decoding the report."""
    if not has_metadata:
        return ["metadata is missing"]
    found: list[str] = []
    if not name:
        found.append("metadata.name is missing")
    if kind.namespaced and not namespace:
        found.append("metadata.namespace is missing on a namespaced kind")
    if not has_payload:
        found.append(f"{kind.payload_key} is missing or not an object")
    return found


def describe_of(*, has_metadata: bool, name: str, namespace: str) -> str:
    if not has_metadata:
        return "<no metadata>"
    name = name or "<no name>"
    return f"{namespace}/{name}" if namespace else name
