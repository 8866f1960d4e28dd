"""One pass over a run's reports into per-test scratch files (JSON Lines), so memory holds one test at a time.

Each object goes to the tests it feeds (`placements_of`): its own namespace's, `cluster` for cluster-scoped
reports, and for a Kubescape image manifest one test per namespace and image, since kubescape scans an image once
and the workloads of several namespaces may run it. Along the way the spool notes what must not be imported:
a report of a workload whose newer report is also in the run, an object whose report is not whole (it holds
its family), an image manifest no workload runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from exporter import catalog
from exporter.catalog import ReportKind
from exporter.dojo import WORKLOADS_ANNOTATION, Workload, convert
from exporter.dojo.coverage import CLUSTER_SCOPE, Family, family_of
from exporter.rundir.writer import json_line

KUBESCAPE_CONTEXT_LABEL = "kubescape.io/context"

SpoolKey = tuple[str, str, str, str, str]  # scanner, family, scope, subject, scan type
Placement = tuple[str, str]  # scope (a namespace or `cluster`), subject (an image, or "" for the whole scope)


class Spool:
    """The scratch files of a run's tests, and what was set aside on the way."""

    def __init__(self, scratch: Path, images: Mapping[str, tuple[Workload, ...]]) -> None:
        self.scratch, self.images = scratch, images
        self.paths: dict[SpoolKey, Path] = {}
        self.holes: dict[Family, str] = {}
        self.unplaced: list[str] = []
        self._handles: dict[SpoolKey, IO[bytes]] = {}
        self._newest: dict[tuple[str, Workload], _Candidate] = {}
        self._older: list[_Candidate] = []

    def add(self, kind: ReportKind, obj: Mapping[str, Any]) -> None:
        placements = placements_of(kind, obj, self.images)
        if not placements:
            if kind.scoped_by and not _filtered(obj):
                self.unplaced.append(f"{kind.plural} {_name(obj)}: no workload runs its image")
            return
        if not convert.has_report(kind, obj):
            why = f"{kind.plural} {_name(obj)} has no report to import; not reimported"
            self.holes.setdefault(family_of(kind), why)
            return
        candidate = _Candidate.of(kind, obj)
        if candidate is not None:
            self._note(candidate)
        for scope, subject in placements:
            key = (kind.scanner.value, kind.family.value, scope, subject, str(kind.dojo.scan_type))
            if key not in self._handles:
                self.paths[key] = self.scratch / f"{len(self.paths):05d}.jsonl"
                self._handles[key] = open(self.paths[key], "wb")  # noqa: SIM115 - closed in close()
            placed = _with_workloads(obj, self.images, scope) if subject else obj
            self._handles[key].write(json_line(placed))  # takes integers beyond 64 bit, which orjson refuses

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def drop_superseded(self) -> list[str]:
        """Take the older reports of each workload out of the scratch files; say which they were."""
        dropped = {(older.plural, older.namespace, older.name) for older in self._older}
        if not dropped:
            return []
        for path in self.paths.values():
            lines = path.read_bytes().splitlines(keepends=True)
            kept = [line for line in lines if _identity_of(orjson.loads(line)) not in dropped]
            if len(kept) != len(lines):
                path.write_bytes(b"".join(kept))
        return sorted(
            f"{older.plural} {older.namespace}/{older.name}: superseded by {newer.namespace}/{newer.name}"
            for older, newer in ((older, self._newest[older.key]) for older in self._older)
        )

    def _note(self, candidate: _Candidate) -> None:
        newest = self._newest.get(candidate.key)
        if newest is None:
            self._newest[candidate.key] = candidate
        elif candidate.order > newest.order:
            self._newest[candidate.key] = candidate
            self._older.append(newest)
        else:
            self._older.append(candidate)


def placements_of(
    kind: ReportKind, obj: Mapping[str, Any], images: Mapping[str, tuple[Workload, ...]]
) -> tuple[Placement, ...]:
    """The tests an object feeds: for a namespaced kind its own namespace, `cluster` for cluster-scoped reports.

    The object's namespace is authoritative: trivy-operator writes a workload's reports into the workload's
    namespace, whether or not it also labels them with it. Kubescape scans each image once (an image-level
    VulnerabilityManifest, in kubescape's namespace) and points every workload's summary at it: such a manifest
    feeds, in each namespace whose workloads run the image, that image's own test, so the same vulnerable package
    in two images stays two findings; and none when no workload runs it any more. The relevancy-filtered manifests
    repeat a subset of the same matches and are skipped, so no finding is sent twice.
    """
    if not kind.namespaced:
        return ((CLUSTER_SCOPE, ""),)
    metadata = obj.get("metadata") or {}
    if kind.scoped_by:
        if _filtered(obj):
            return ()
        image = convert.workload_of(obj).name
        namespaces = sorted({w.namespace or CLUSTER_SCOPE for w in images.get(str(metadata.get("name") or ""), ())})
        return tuple((namespace, image) for namespace in namespaces)
    return ((str(metadata.get("namespace") or CLUSTER_SCOPE), ""),)


@dataclass(frozen=True)
class _Candidate:
    """A report as one of possibly several of the same workload: the newest object wins (creationTimestamp, then
    the report's updateTimestamp): after a rollout trivy-operator stops scanning the old ReplicaSet, but its reports
    stay until their TTL, and their CVEs were fixed by the rollout."""

    key: tuple[str, Workload]
    order: tuple[str, str, str]
    plural: str
    namespace: str
    name: str

    @classmethod
    def of(cls, kind: ReportKind, obj: Mapping[str, Any]) -> _Candidate | None:
        workload = convert.workload_of(obj)
        if workload.kind == convert.IMAGE_KIND or not workload.name:
            return None  # an image scanned once is no workload's report; placed by the summaries instead
        metadata = obj.get("metadata") or {}
        payload = obj.get(kind.payload_key) or obj.get("status") or {}
        updated = str(payload.get("updateTimestamp") or "") if isinstance(payload, Mapping) else ""
        name = str(metadata.get("name") or "")
        order = (str(metadata.get("creationTimestamp") or ""), updated, name)
        return cls((kind.plural, workload), order, kind.plural, str(metadata.get("namespace") or ""), name)


def _with_workloads(obj: Mapping[str, Any], images: Mapping[str, tuple[Workload, ...]], scope: str) -> dict[str, Any]:
    """An image manifest told which workloads of `scope` run it (for the findings' description), as an
    annotation of the scratch copy; the archive keeps the object as served."""
    metadata = dict(obj.get("metadata") or {})
    running = images.get(str(metadata.get("name") or ""), ())
    names = sorted({w.service for w in running if (w.namespace or CLUSTER_SCOPE) == scope})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), WORKLOADS_ANNOTATION: ", ".join(names)}
    return {**obj, "metadata": metadata}


def _identity_of(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """An object's plural, namespace and name. The kind is found by group and kind whatever the version, as the
    files source takes objects (exporter/filesource.py): a superseded object of another version is dropped too."""
    metadata = obj.get("metadata") or {}
    kind = catalog.by_group_kind(str(obj.get("apiVersion")).partition("/")[0], str(obj.get("kind")))
    plural = kind.plural if kind is not None else ""
    return plural, str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


def _filtered(obj: Mapping[str, Any]) -> bool:
    """A relevancy-filtered Kubescape manifest: a subset of its image manifest's matches."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(KUBESCAPE_CONTEXT_LABEL) == "filtered")


def _name(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
    return f"{namespace}/{name}" if namespace else name
