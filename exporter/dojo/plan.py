"""Which DefectDojo tests a run feeds, with what document, and which it must leave alone.

One test per (scanner, report family, scope), where scope is the workload's namespace or `cluster`. Each test is
reimported every run with the complete snapshot of its scope, so DefectDojo closes what was fixed and keeps
analysts' triage. A family with a `failed` kind in the manifest, or with an object archived without its report, is
not reimported at all: a missing report must never look like a fixed finding. Tests a previous run fed whose scope
has no reports today are reimported empty (their findings were fixed), but only when every kind of their family
completed.

Objects are spooled per test to a scratch directory in one pass over the run, so memory holds one test's document
at a time, not the cluster.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from exporter import catalog
from exporter.catalog import ReportKind
from exporter.config import DojoSettings
from exporter.dojo import Workload, convert, documents
from exporter.dojo.client import TestContext
from exporter.dojo.coverage import CLUSTER_SCOPE, Coverage, Family, coverage_of, family_of
from exporter.rundir import reader
from exporter.rundir.manifest import KindStatus

KUBESCAPE_CONTEXT_LABEL = "kubescape.io/context"


SpoolKey = tuple[str, str, str, str]  # scanner, family, scope, scan type


@dataclass(frozen=True, order=True)
class TestKey:
    """What identifies a test across runs; its title and service derive from it."""

    scanner: str
    family: str
    scope: str
    part: int = 1
    parts: int = 1

    def __str__(self) -> str:
        suffix = f"#{self.part}/{self.parts}" if self.parts > 1 else ""
        return f"{self.scanner}/{self.family}/{self.scope}{suffix}"


@dataclass(frozen=True)
class PlannedTest:
    key: TestKey
    context: TestContext
    document: bytes
    objects: int

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.document, self.context)


@dataclass
class DojoPlan:
    """The run's tests, built one at a time from per-scope spool files (`tests()`), and what is held back."""

    cluster: str
    settings: DojoSettings
    coverage: Coverage = field(default_factory=Coverage)
    spools: dict[SpoolKey, Path] = field(default_factory=dict)
    held: dict[Family, str] = field(default_factory=dict)  # (scanner, family) -> why it is not reimported
    superseded: list[str] = field(default_factory=list)  # reports of a workload's older object, archived only
    unplaced: list[str] = field(default_factory=list)  # image manifests no workload runs, archived only

    def tests(self) -> Iterator[PlannedTest]:
        """Each test with its document, converted when asked for: memory holds one scope's objects at a time."""
        limit = self.settings.max_document_bytes
        for (scanner, family, scope, scan_type), path in sorted(self.spools.items()):
            for key, document, objects in _documents(scanner, family, scope, scan_type, path, limit):
                yield PlannedTest(key, context_for(key, scan_type, self.cluster, self.settings), document, objects)

    def may_empty(self, key: str) -> bool:
        """Whether a test a previous run fed, and this one did not, may be re-sent empty: only when this run read
        its whole scope, so that its findings are known to be fixed."""
        scanner, family, scope = [*key.split("#", 1)[0].split("/", 2), "", ""][:3]
        return self.coverage.knows((scanner, family), scope)


def fingerprint(document: bytes, context: TestContext) -> str:
    """Changes when anything DefectDojo would see changes: the document or where it goes."""
    digest = hashlib.sha256(document)
    digest.update(repr(context).encode())
    return digest.hexdigest()


def build_plan(run_dir: Path, manifest: Mapping[str, Any], settings: DojoSettings, scratch: Path) -> DojoPlan:
    """Every test this run feeds, spooled under `scratch`; what the run did not read whole is held back."""
    coverage = coverage_of(manifest)
    plan = DojoPlan(str(manifest["cluster"]), settings, coverage, held=dict(coverage.held))
    entries = [(kind, entry) for kind, entry in _imported_entries(manifest) if family_of(kind) not in plan.held]
    spool = _Spool(scratch, _image_namespaces(run_dir, manifest))
    try:
        for kind, entry in entries:
            for obj in reader.iter_objects(run_dir, entry):
                spool.add(kind, obj)
    finally:
        spool.close()
    plan.superseded = spool.drop_superseded()
    for family, why in spool.holes.items():
        plan.held.setdefault(family, why)
    plan.spools = {key: path for key, path in spool.paths.items() if key[:2] not in plan.held}
    plan.unplaced = spool.unplaced
    plan.coverage = replace(coverage, held=plan.held)
    return plan


def context_for(key: TestKey, scan_type: str, cluster: str, settings: DojoSettings) -> TestContext:
    """Names from the configured templates; the service is the test's identity, the same every run."""
    values = {"cluster": cluster, "scanner": key.scanner, "family": key.family, "scope": key.scope}
    title = settings.test.format(**values) + (f" (part {key.part} of {key.parts})" if key.parts > 1 else "")
    return TestContext(
        product_type=settings.product_type.format(**values),
        product=settings.product.format(**values),
        engagement=settings.engagement.format(**values),
        title=title,
        scan_type=scan_type,
        service=f"{cluster}/{key}",
    )


def _imported_entries(manifest: Mapping[str, Any]) -> list[tuple[ReportKind, Mapping[str, Any]]]:
    entries = []
    for entry in manifest["kinds"]:
        kind = catalog.by_api_kind(entry["apiVersion"], entry["kind"])
        if kind is not None and kind.dojo.imported and entry["status"] != KindStatus.ABSENT:
            entries.append((kind, entry))
    return entries


class _Spool:
    """One pass over the run: each object appended (JSON Lines) to the scratch file of each test it feeds.

    Along the way it notes what must not be imported: a report of a workload whose newer report is also in the run
    (a lingering old ReplicaSet's, once both are named after their Deployment), and an object whose report is not
    whole, which holds its family.
    """

    def __init__(self, scratch: Path, images: Mapping[str, tuple[str, ...]]) -> None:
        self.scratch, self.images = scratch, images
        self.paths: dict[SpoolKey, Path] = {}
        self.holes: dict[Family, str] = {}
        self.unplaced: list[str] = []
        self._handles: dict[SpoolKey, Any] = {}
        self._newest: dict[tuple[str, Workload], _Candidate] = {}
        self._older: list[_Candidate] = []

    def add(self, kind: ReportKind, obj: Mapping[str, Any]) -> None:
        scopes = scopes_of(kind, obj, self.images)
        if not scopes:
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
        line = orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
        for scope in scopes:
            key = (kind.scanner.value, kind.family.value, scope, str(kind.dojo.scan_type))
            if key not in self._handles:
                self.paths[key] = self.scratch / f"{len(self.paths):05d}.jsonl"
                self._handles[key] = open(self.paths[key], "wb")  # noqa: SIM115 - closed in close()
            self._handles[key].write(line)

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def drop_superseded(self) -> list[str]:
        """Take the older reports of each workload out of the spool files; say which they were."""
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


def _identity_of(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    metadata = obj.get("metadata") or {}
    kind = catalog.by_api_kind(str(obj.get("apiVersion")), str(obj.get("kind")))
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


def scopes_of(kind: ReportKind, obj: Mapping[str, Any], images: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The tests an object feeds: for a namespaced kind its own namespace, `cluster` for cluster-scoped reports.

    The object's namespace is authoritative: trivy-operator writes a workload's reports into the workload's
    namespace, whether or not it also labels them with it. Kubescape scans each image once (an image-level
    VulnerabilityManifest, in kubescape's namespace) and points every workload's summary at it: such a manifest
    feeds the namespace of each workload running the image, and none when no workload runs it any more. The
    relevancy-filtered manifests repeat a subset of the same matches and are skipped, so no finding is sent twice.
    """
    if not kind.namespaced:
        return (CLUSTER_SCOPE,)
    metadata = obj.get("metadata") or {}
    if kind.scoped_by:
        return () if _filtered(obj) else images.get(str(metadata.get("name") or ""), ())
    return (str(metadata.get("namespace") or CLUSTER_SCOPE),)


def _image_namespaces(run_dir: Path, manifest: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Image-level manifest name -> the namespaces of the workloads running it, from the run's summaries (the
    kinds' `scoped_by`; coverage holds the family when they are not complete)."""
    scoping = {kind.scoped_by for kind in catalog.CATALOG if kind.scoped_by}
    summaries = next(
        (
            entry
            for entry in manifest["kinds"]
            if entry.get("plural") in scoping and entry["status"] == KindStatus.COMPLETE
        ),
        None,
    )
    if summaries is None:
        return {}
    workloads = convert.image_manifest_workloads(reader.iter_objects(run_dir, summaries))
    return {
        name: tuple(sorted({workload.namespace or CLUSTER_SCOPE for workload in found}))
        for name, found in workloads.items()
    }


def _documents(
    scanner: str, family: str, scope: str, scan_type: str, path: Path, limit: int
) -> Iterator[tuple[TestKey, bytes, int]]:
    """The test's document, or its parts when one document would pass DefectDojo's upload limit.

    Parts are stable: an object goes to the part its workload hashes to, and the number of parts is a power of two,
    so a workload stays in its part (and its findings in that part's test) until the scope doubles in size.
    """
    objects = _read_spool(path)
    document = _convert(scan_type, objects)
    parts = 1
    while len(document) > limit and parts < len(objects):
        parts *= 2
        groups = _partition(objects, parts)
        documents = [_convert(scan_type, group) for group in groups]
        if all(len(part) <= limit for part in documents):
            for index, (group, part) in enumerate(zip(groups, documents, strict=True), start=1):
                yield TestKey(scanner, family, scope, index, parts), part, len(group)
            return
    yield TestKey(scanner, family, scope), document, len(objects)


def _read_spool(path: Path) -> list[dict[str, Any]]:
    with open(path, "rb") as lines:
        return [orjson.loads(line) for line in lines if line.strip()]


def _partition(objects: list[dict[str, Any]], parts: int) -> list[list[dict[str, Any]]]:
    groups: list[list[dict[str, Any]]] = [[] for _ in range(parts)]
    for obj in objects:
        identity = str(convert.workload_of(obj)).encode()
        groups[zlib.crc32(identity) % parts].append(obj)
    return groups


def _convert(scan_type: str, objects: list[dict[str, Any]]) -> bytes:
    return documents.document_for(scan_type, objects)
