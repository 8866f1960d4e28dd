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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from exporter import catalog
from exporter.catalog import ReportKind
from exporter.config import DojoSettings
from exporter.dojo import convert, documents
from exporter.dojo.client import TestContext
from exporter.rundir import reader
from exporter.rundir.manifest import KindStatus

CLUSTER_SCOPE = "cluster"
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
    spools: dict[SpoolKey, Path] = field(default_factory=dict)
    held: dict[tuple[str, str], str] = field(default_factory=dict)  # (scanner, family) -> why it is not reimported
    complete: set[tuple[str, str]] = field(default_factory=set)  # families whose every served kind completed

    def tests(self) -> Iterator[PlannedTest]:
        """Each test with its document, converted when asked for: memory holds one scope's objects at a time."""
        limit = self.settings.max_document_bytes
        for (scanner, family, scope, scan_type), path in sorted(self.spools.items()):
            for key, document, objects in _documents(scanner, family, scope, scan_type, path, limit):
                yield PlannedTest(key, context_for(key, scan_type, self.cluster, self.settings), document, objects)


def fingerprint(document: bytes, context: TestContext) -> str:
    """Changes when anything DefectDojo would see changes: the document or where it goes."""
    digest = hashlib.sha256(document)
    digest.update(repr(context).encode())
    return digest.hexdigest()


def family_of(kind: ReportKind) -> tuple[str, str]:
    return kind.scanner.value, kind.family.value


def build_plan(run_dir: Path, manifest: Mapping[str, Any], settings: DojoSettings, scratch: Path) -> DojoPlan:
    """Every test this run feeds, spooled under `scratch`; families with a failed kind are held back."""
    plan = DojoPlan(str(manifest["cluster"]), settings)
    entries = _imported_entries(manifest)
    for kind, entry in entries:
        if (why := hold_reason(kind, entry)) is not None:
            plan.held.setdefault(family_of(kind), why)
    plan.complete = {family_of(kind) for kind, entry in entries if entry["status"] == KindStatus.COMPLETE}
    plan.complete -= set(plan.held)
    images = _image_namespaces(run_dir, manifest)
    plan.spools = _spool(run_dir, [(k, e) for k, e in entries if family_of(k) not in plan.held], images, scratch)
    return plan


def hold_reason(kind: ReportKind, entry: Mapping[str, Any]) -> str | None:
    """Why a kind's family must not be reimported this run, or None.

    A reimport closes every finding its document lacks, so the document must hold every report of its scope, whole.
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


def _spool(
    run_dir: Path,
    entries: Iterable[tuple[ReportKind, Mapping[str, Any]]],
    images: Mapping[str, tuple[str, ...]],
    scratch: Path,
) -> dict[SpoolKey, Path]:
    """One pass over the run: each object appended (JSON Lines) to the scratch file of each test it feeds."""
    paths: dict[SpoolKey, Path] = {}
    handles: dict[SpoolKey, Any] = {}
    try:
        for kind, entry in entries:
            scan_type = str(kind.dojo.scan_type)
            for obj in reader.iter_objects(run_dir, entry):
                line = orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
                for scope in scopes_of(kind, obj, images):
                    key = (kind.scanner.value, kind.family.value, scope, scan_type)
                    if key not in handles:
                        paths[key] = scratch / f"{len(paths):05d}.jsonl"
                        handles[key] = open(paths[key], "wb")  # noqa: SIM115 - closed below
                    handles[key].write(line)
    finally:
        for handle in handles.values():
            handle.close()
    return paths


def scopes_of(kind: ReportKind, obj: Mapping[str, Any], images: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The tests an object feeds: its workload's namespace, `cluster` for cluster-scoped reports.

    Kubescape scans each image once (an image-level VulnerabilityManifest, in kubescape's namespace) and points
    every workload's summary at it: such a manifest feeds the namespace of each workload running the image. The
    relevancy-filtered manifests repeat a subset of the same matches and are skipped, so no finding is sent twice.
    """
    if not kind.namespaced:
        return (CLUSTER_SCOPE,)
    if obj.get("kind") == "VulnerabilityManifest":
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if labels.get(KUBESCAPE_CONTEXT_LABEL) == "filtered":
            return ()
        name = str((obj.get("metadata") or {}).get("name") or "")
        if name in images:
            return images[name]
    return (convert.workload_of(obj).namespace or CLUSTER_SCOPE,)


def _image_namespaces(run_dir: Path, manifest: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Image-level manifest name -> the namespaces of the workloads running it, from the run's summaries."""
    summaries = next(
        (entry for entry in manifest["kinds"] if entry["kind"] == "VulnerabilityManifestSummary"
         and entry["status"] == KindStatus.COMPLETE),
        None,
    )  # fmt: skip
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
