"""Which DefectDojo tests a run feeds, with what document, and which it must leave alone.

One test per (scanner, report family, scope), where scope is the workload's namespace or `cluster`, and for
kubescape's image scans per image within the namespace (exporter/dojo/spool.py). Each test is
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
from exporter.dojo import Workload, convert, documents, names
from exporter.dojo.client import TestContext
from exporter.dojo.coverage import Coverage, Family, coverage_of, family_of
from exporter.dojo.identities import finding_identities
from exporter.dojo.spool import Spool, SpoolKey
from exporter.rundir import reader
from exporter.rundir.manifest import KindStatus
from exporter.units import binary_size

KUBESCAPE_CONTEXT_LABEL = "kubescape.io/context"


@dataclass(frozen=True, order=True)
class TestKey:
    """What identifies a test across runs; its title and service derive from it."""

    scanner: str
    family: str
    scope: str
    part: int = 1
    parts: int = 1
    subject: str = ""  # an image, for the tests of kubescape's image scans

    def __str__(self) -> str:
        subject = f"/{self.subject}" if self.subject else ""
        suffix = f"#{self.part}/{self.parts}" if self.parts > 1 else ""
        return f"{self.scanner}/{self.family}/{self.scope}{subject}{suffix}"


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
    too_large: dict[str, str] = field(default_factory=dict)  # test key (without part) -> why it is not sent
    parts_before: dict[str, int] = field(default_factory=dict)  # test key (without part) -> parts last sent

    def tests(self) -> Iterator[PlannedTest]:
        """Each test with its document, converted when asked for: memory holds one scope's objects at a time.

        A test that cannot be split below the limit yields nothing and is noted in `too_large`, as it is met."""
        limit = self.settings.max_document_bytes
        for (scanner, family, scope, subject, scan_type), path in sorted(self.spools.items()):
            test = TestKey(scanner, family, scope, subject=subject)
            fewest = self.parts_before.get(str(test), 2)
            try:
                parts = list(_documents(test, scan_type, path, limit, self.settings, fewest=fewest))
            except DocumentTooLargeError as exc:
                self.too_large[str(test)] = str(exc)
                continue
            for key, document, objects in parts:
                yield PlannedTest(key, context_for(key, scan_type, self.cluster, self.settings), document, objects)

    def may_empty(self, key: str) -> bool:
        """Whether a test a previous run fed, and this one did not, may be re-sent empty: only when this run read
        its whole scope, so that its findings are known to be fixed, and sent it; a test too large to send
        tonight is left alone, every part of it."""
        base = key.split("#", 1)[0]
        scanner, family, scope = [*base.split("/"), "", ""][:3]
        return base not in self.too_large and self.coverage.knows((scanner, family), scope)


def fingerprint(document: bytes, context: TestContext) -> str:
    """Changes when what DefectDojo would make findings of changes, or where they go (documents.finding_content)."""
    digest = hashlib.sha256(documents.finding_content(context.scan_type, document))
    digest.update(repr(context).encode())
    return digest.hexdigest()


def build_plan(run_dir: Path, manifest: Mapping[str, Any], settings: DojoSettings, scratch: Path) -> DojoPlan:
    """Every test this run feeds, spooled under `scratch`; what the run did not read whole is held back."""
    coverage = coverage_of(manifest)
    plan = DojoPlan(str(manifest["cluster"]), settings, coverage, held=dict(coverage.held))
    entries = [(kind, entry) for kind, entry in _imported_entries(manifest) if family_of(kind) not in plan.held]
    spool = Spool(scratch, _image_workloads(run_dir, manifest))
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
    """Names from the configured templates; the service is the test's identity, the same every run. An image's
    test is titled after its scope's, with the image: `vulnerability shop docker.io/library/nginx:1.25`. A name
    longer than DefectDojo stores (a long image) is shortened with a digest (exporter/dojo/names.py)."""
    values = {"cluster": cluster, "scanner": key.scanner, "family": key.family, "scope": key.scope}
    scope_title = names.render(settings.test, values)
    return TestContext(
        product_type=names.fit(names.render(settings.product_type, values), names.LIMITS["product_type"]),
        product=names.fit(names.render(settings.product, values), names.LIMITS["product"]),
        engagement=names.fit(names.render(settings.engagement, values), names.LIMITS["engagement"]),
        title=names.title_for(scope_title, key.subject, part=key.part, parts=key.parts),
        scan_type=scan_type,
        service=names.fit(f"{cluster}/{key}", names.LIMITS["service"]),
    )


def _imported_entries(manifest: Mapping[str, Any]) -> list[tuple[ReportKind, Mapping[str, Any]]]:
    entries = []
    for entry in manifest["kinds"]:
        kind = catalog.by_api_kind(entry["apiVersion"], entry["kind"])
        if kind is not None and kind.dojo.imported and entry["status"] != KindStatus.ABSENT:
            entries.append((kind, entry))
    return entries


def _image_workloads(run_dir: Path, manifest: Mapping[str, Any]) -> dict[str, tuple[Workload, ...]]:
    """Image-level manifest name -> the workloads running it, from the run's summaries (the kinds' `scoped_by`;
    coverage holds the family when they are not complete)."""
    scoping = {kind.scoped_by for kind in catalog.CATALOG if kind.scoped_by}
    summaries = next(
        (entry for entry in manifest["kinds"]
         if entry.get("plural") in scoping and entry["status"] == KindStatus.COMPLETE),
        None,
    )  # fmt: skip
    if summaries is None:
        return {}
    return convert.image_manifest_workloads(reader.iter_objects(run_dir, summaries))


def _documents(
    test: TestKey, scan_type: str, path: Path, limit: int, settings: DojoSettings, *, fewest: int = 2
) -> Iterator[tuple[TestKey, bytes, int]]:
    """The test's document, or its parts when one document would pass DefectDojo's upload limit.

    Parts are stable: an object goes to the part its workload hashes to, and the number of parts is a power of two,
    so a workload stays in its part (and its findings in that part's test) until the scope doubles in size. A
    workload whose own document passes the limit is split further, by finding: each of its findings goes to the
    part its identity (the one DefectDojo's hash_code is made of) hashes to, so the same finding lands in the same
    part night after night while the count of parts is unchanged. A part that would make no finding is not sent:
    DefectDojo would hold an empty test. Raises DocumentTooLargeError when no split fits (one finding alone is
    larger than the limit): then nothing of the test is sent, and nothing of it may be closed.

    A split starts at `fewest` parts, the count it was last sent in: a test that shrinks keeps its parts (a part's
    key and title carry the count, so another count would move every finding to a new test) until it fits whole.
    """
    objects = _read_spool(path)
    document = _convert(scan_type, objects, settings)
    if len(document) <= limit:
        yield test, document, len(objects)
        return
    units = _units(test, scan_type, objects, limit, settings)
    parts = max(2, fewest)
    while parts <= _MAX_PARTS:
        documents = _parts(scan_type, units, parts, settings)
        if all(len(part) <= limit for _, part, _ in documents):
            for index, part, count in documents:
                yield replace(test, part=index, parts=parts), part, count
            return
        parts *= 2
    raise DocumentTooLargeError(f"{test}: no split into up to {parts // 2} parts keeps each below "
                                f"dojo.max_document_bytes ({binary_size(limit)}){_RAISE_IT}")  # fmt: skip


_MAX_PARTS = 2**20
"""Parts are tried up to this many before a split is given up. Units are placed by hash, so two that do not fit in
one part together part only when their hashes differ modulo the count: with findings much smaller than the limit
(megabytes against kilobytes) a few doublings do; with findings near the limit the count grows until no two of them
share a part, and only the parts that make a finding are sent."""

_RAISE_IT = "; raise dojo.max_document_bytes, within DefectDojo's DD_SCAN_FILE_MAX_SIZE; not sent, nothing of it closed"


class DocumentTooLargeError(ValueError):
    """A test that cannot be split into documents below `dojo.max_document_bytes`: one line, cause and fix."""


@dataclass(frozen=True)
class _Unit:
    """What goes to one part whole: a workload's objects, or one finding of a workload too large for a part."""

    key: bytes
    objects: tuple[dict[str, Any], ...] = ()
    fragment: bytes = b""


def _units(
    test: TestKey, scan_type: str, objects: list[dict[str, Any]], limit: int, settings: DojoSettings
) -> list[_Unit]:
    """Each workload as one unit, or, when its own document passes the limit, each of its findings as one."""
    workloads: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        workloads.setdefault(str(convert.workload_of(obj)), []).append(obj)
    units = []
    for workload, group in workloads.items():
        document = _convert(scan_type, group, settings)
        if len(document) <= limit:
            units.append(_Unit(workload.encode(), tuple(group)))
            continue
        for fragment in documents.split_findings(scan_type, document):
            identities = finding_identities(scan_type, fragment)
            if not identities:
                continue  # an entry its parser makes nothing of: no part needs it
            if len(fragment) > limit:
                raise DocumentTooLargeError(
                    f"{test}: one finding of {convert.workload_of(group[0]).service} makes a document of "
                    f"{binary_size(len(fragment))} alone, above dojo.max_document_bytes ({binary_size(limit)})"
                    + _RAISE_IT
                )
            units.append(_Unit(f"{workload}\0{min(identities)}".encode(), fragment=fragment))
    return units


def _parts(scan_type: str, units: list[_Unit], parts: int, settings: DojoSettings) -> list[tuple[int, bytes, int]]:
    """(part number, document, units in it) of every part that makes a finding, the units placed by their hash."""
    groups: list[list[_Unit]] = [[] for _ in range(parts)]
    for unit in units:
        groups[zlib.crc32(unit.key) % parts].append(unit)
    placed = []
    for index, group in enumerate(groups, start=1):
        objects = [obj for unit in group for obj in unit.objects]
        pieces = [_convert(scan_type, objects, settings)] if objects else []
        pieces += [unit.fragment for unit in group if unit.fragment]
        if not pieces:
            continue
        document = pieces[0] if len(pieces) == 1 else documents.join_documents(scan_type, pieces)
        if finding_identities(scan_type, document):
            placed.append((index, document, len(group)))
    return placed


def _read_spool(path: Path) -> list[dict[str, Any]]:
    with open(path, "rb") as lines:
        return [orjson.loads(line) for line in lines if line.strip()]


def _convert(scan_type: str, objects: list[dict[str, Any]], settings: DojoSettings) -> bytes:
    moved = settings.trivy_fixed_version == "references"
    return documents.document_for(scan_type, objects, fixed_version_in_references=moved)
