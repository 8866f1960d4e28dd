"""Pure clean-up and checks of report objects before they are written.

List responses of built-in and aggregated APIs omit each item's `apiVersion`/`kind`; the run directory's contract
says every stored object carries them. `managedFields` is bookkeeping of the API server that can double an
object's size and means nothing to an analyst, so it is dropped. Everything else, labels and annotations first
(DefectDojo's Trivy parser reads the `trivy-operator.*` labels), is kept as served.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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


def check(kind: ReportKind, obj: Mapping[str, Any]) -> Checks:
    """What is wrong with a full object: malformations (it cannot be identified) and warnings (an optional part is
    missing). Such objects are still kept."""
    metadata = obj.get("metadata")
    return check_facts(
        kind,
        has_metadata=isinstance(metadata, Mapping),
        name=str(metadata.get("name") or "") if isinstance(metadata, Mapping) else "",
        namespace=str(metadata.get("namespace") or "") if isinstance(metadata, Mapping) else "",
        served_kind=str(obj.get("kind") or ""),
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


@dataclass(frozen=True)
class Checks:
    """An object's problems in two grades.

    `malformed`: it cannot be identified or attributed (no metadata, no name, a namespaced kind without namespace,
    another kind than the one listed), which makes the run partial. `warnings`: an optional part is missing (every
    report CRD makes `report`/`status`/`spec` optional; trivy-operator creates a ClusterComplianceReport before it
    computes its status): the object is archived as it is, counted, and the run stays complete.
    """

    malformed: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def check_facts(
    kind: ReportKind, *, has_metadata: bool, name: str, namespace: str, served_kind: str, has_payload: bool
) -> Checks:
    """The checks and their wording, from what an object says of itself: shared by full dicts and by the
    getter's shallow objects (exporter/kube/shallow.py), which read those facts without decoding the report."""
    if not has_metadata:
        return Checks(malformed=("metadata is missing",))
    malformed: list[str] = []
    if not name:
        malformed.append("metadata.name is missing")
    if kind.namespaced and not namespace:
        malformed.append("metadata.namespace is missing on a namespaced kind")
    if served_kind and served_kind != kind.kind:
        malformed.append(f"kind is {served_kind!r} where {kind.kind!r} was listed")
    warnings = () if has_payload else (f"{kind.payload_key} is missing or not an object: archived without findings",)
    return Checks(malformed=tuple(malformed), warnings=warnings)


def describe_of(*, has_metadata: bool, name: str, namespace: str) -> str:
    if not has_metadata:
        return "<no metadata>"
    name = name or "<no name>"
    return f"{namespace}/{name}" if namespace else name
