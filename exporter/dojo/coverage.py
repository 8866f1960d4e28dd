"""What a run looked at, and so what DefectDojo may be told: a reimport closes every finding its document lacks, so
a test is reimported, or re-sent empty, only when the run read its whole scope.

A scope the run did not look at is unknown, not fixed. The run may not have looked because:
- a kind of the family failed, or an object of it was archived without its report or could not be attributed
  (`hold_reason`): the whole family is held;
- a label selector was set: every scope holds only the matching objects, so every family is held;
- a kind was filtered out (`--kinds`, `--exclude-kinds`), or is not served (its operator was removed, or is not
  installed yet): the scopes it feeds are unknown (a namespaced kind feeds namespace scopes, a cluster-scoped kind
  the `cluster` scope); a scanner taken away fixed nothing;
- a namespace filter was set: the namespaces it left out are unknown;
- a kind placed in namespaces by another kind (`scoped_by`: kubescape's image manifests, by the workloads'
  summaries) lacks that kind, or is cut by a namespace filter that selects it by its own namespace: its family is
  held, rather than moved to the wrong scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter import catalog
from exporter.catalog import ReportKind
from exporter.rundir.manifest import KindStatus

CLUSTER_SCOPE = "cluster"

Family = tuple[str, str]  # (scanner, family)


@dataclass(frozen=True)
class Coverage:
    """The families held whole, and which scopes of the others this run read completely."""

    held: Mapping[Family, str] = field(default_factory=dict)
    unselected: frozenset[tuple[Family, bool]] = frozenset()  # (family, namespaced) whose feeding kind was left out
    namespaces: frozenset[str] = frozenset()  # only these namespaces were read (empty: all)
    excluded_namespaces: frozenset[str] = frozenset()

    def knows(self, family: Family, scope: str) -> bool:
        """Whether this run read every report that belongs to the family's test for `scope`."""
        if family in self.held:
            return False
        namespaced = scope != CLUSTER_SCOPE
        if (family, namespaced) in self.unselected:
            return False
        if not namespaced:
            return True
        return scope not in self.excluded_namespaces and (not self.namespaces or scope in self.namespaces)


def family_of(kind: ReportKind) -> Family:
    return kind.scanner.value, kind.family.value


def coverage_of(manifest: Mapping[str, Any]) -> Coverage:
    """What the run described by `manifest` read, from its kinds' statuses and the filters it recorded."""
    entries = _entries(manifest)
    filters = manifest.get("filters") or {}
    held: dict[Family, str] = {}
    for kind, entry in entries.items():
        if not kind.dojo.imported:
            continue
        why = hold_reason(kind, entry)
        if why is None and kind.scoped_by and entry["status"] != KindStatus.ABSENT:
            why = _unscoped(kind, entries, filters)
        if why is not None:
            held.setdefault(family_of(kind), why)
    if selector := filters.get("label_selector"):
        for kind in _imported(entries):
            held.setdefault(family_of(kind), f"the run read only objects labelled {selector!r}: every scope is partial")
    unread = [kind for kind in _imported(catalog.CATALOG) if _status(entries, kind) in (None, KindStatus.ABSENT)]
    unselected = frozenset((family_of(kind), kind.namespaced) for kind in unread)
    return Coverage(
        held=held,
        unselected=unselected,
        namespaces=frozenset(filters.get("namespaces") or ()),
        excluded_namespaces=frozenset(filters.get("exclude_namespaces") or ()),
    )


def hold_reason(kind: ReportKind, entry: Mapping[str, Any]) -> str | None:
    """Why a kind's family must not be reimported this run, or None.

    A failed kind, an object archived without its report (not computed yet, too large for Kubescape's storage, or
    its GET failed) and an object that could not be attributed to a scope all leave a hole that would read as
    "fixed".
    """
    if entry["status"] == KindStatus.FAILED:
        return f"{kind.plural} failed in this run ({entry.get('error')}); not reimported"
    if without_report := int(entry.get("objects_with_warnings") or 0):
        first = (entry.get("warnings") or ["?"])[0]
        return f"{without_report} {kind.plural} archived without their report (first: {first}); not reimported"
    if malformed := int(entry.get("malformed_objects") or 0):
        first = (entry.get("malformed") or ["?"])[0]
        return f"{malformed} malformed {kind.plural} (first: {first}); not reimported"
    return None


def _unscoped(
    kind: ReportKind, entries: Mapping[ReportKind, Mapping[str, Any]], filters: Mapping[str, Any]
) -> str | None:
    """Why objects of a kind placed by another kind cannot be placed this run, or None."""
    scoping = catalog.resolve(str(kind.scoped_by))
    entry = entries.get(scoping)
    if entry is None:
        return f"{kind.plural} are placed in namespaces by {scoping.plural}, which this run did not select"
    if entry["status"] != KindStatus.COMPLETE:
        return f"{kind.plural} are placed in namespaces by {scoping.plural}, which {_status_words(entry)}"
    if filters.get("namespaces") or filters.get("exclude_namespaces"):
        return (
            f"a namespace filter selects {kind.plural} by their own namespace, not by the workloads' that run the "
            "image: their scopes are unknown"
        )
    return None


def _status(entries: Mapping[ReportKind, Mapping[str, Any]], kind: ReportKind) -> str | None:
    entry = entries.get(kind)
    return None if entry is None else str(entry["status"])


def _status_words(entry: Mapping[str, Any]) -> str:
    if entry["status"] == KindStatus.ABSENT:
        return "the cluster does not serve"
    return f"failed in this run ({entry.get('error')})"


def _entries(manifest: Mapping[str, Any]) -> dict[ReportKind, Mapping[str, Any]]:
    entries = {}
    for entry in manifest["kinds"]:
        kind = catalog.by_api_kind(entry["apiVersion"], entry["kind"])
        if kind is not None:
            entries[kind] = entry
    return entries


def _imported(kinds: Iterable[ReportKind]) -> list[ReportKind]:
    return [kind for kind in kinds if kind.dojo.imported]
