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
    parts: int = 1  # the count the test was first split into (1: it was sent whole, part 1 keeps the whole's key)
    subject: str = ""  # an image, for the tests of kubescape's image scans
    shown: int = field(default=0, compare=False)  # the parts in the title ("part 3 of 5"); 0: `parts`

    def __str__(self) -> str:
        subject = f"/{self.subject}" if self.subject else ""
        suffix = f"#{self.part}/{self.parts}" if self.parts > 1 or self.part > 1 else ""
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
    parts_before: dict[str, PartsBefore] = field(default_factory=dict)  # test key (without part) -> its last split

    def tests(self) -> Iterator[PlannedTest]:
        """Each test with its document, converted when asked for: memory holds one scope's objects at a time.

        A test that cannot be split below the limit yields nothing and is noted in `too_large`, as it is met."""
        limit = self.settings.max_document_bytes
        for (scanner, family, scope, subject, scan_type), path in sorted(self.spools.items()):
            test = TestKey(scanner, family, scope, subject=subject)
            before = self.parts_before.get(str(test))
            try:
                parts = list(_documents(test, scan_type, path, limit, self.settings, before=before))
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
        title=names.title_for(scope_title, key.subject, part=key.part, parts=key.shown or key.parts),
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


@dataclass(frozen=True)
class PartsBefore:
    """How a test was split when last sent: the count in its parts' keys, and the part each finding was in (by the
    identities recorded for each part; empty when the state did not record them)."""

    parts: int
    placed: Mapping[str, int] = field(default_factory=dict)  # finding identity -> part


def _documents(
    test: TestKey, scan_type: str, path: Path, limit: int, settings: DojoSettings, *, before: PartsBefore | None = None
) -> Iterator[tuple[TestKey, bytes, int]]:
    """The test's document, or its parts when one document would pass DefectDojo's upload limit.

    A first split places each workload in the part it hashes to, trying 2, 4, 8 ... parts until each fits. A
    workload whose own document passes the limit is split further, by finding: each goes to the part its identity
    (the one DefectDojo's hash_code is made of) hashes to. A part that would make no finding is not sent: DefectDojo
    would hold an empty test. Raises DocumentTooLargeError when one finding alone is larger than the limit: then
    nothing of the test is sent, and nothing of it may be closed.

    A test split before stays split, and each finding stays in the part that held it (`before.placed`): moved to
    another part, DefectDojo would close it in the old one although it is not fixed, and open it anew, without its
    triage, in the new one. New findings go to the part they hash to; what no longer fits in a part goes to new parts
    after the last one, new findings first. The key keeps the first count (`#3/4`, `#5/4`), the title the current
    one ("part 5 of 5"): a title that changes is renamed in place (exporter/dojo/presence.py). A test sent whole
    that grows past the limit is split the same way from one part: part 1 keeps the whole test's key, and with it
    the DefectDojo test and its findings (`#2/1`, `#3/1` follow).
    """
    objects = _read_spool(path)
    document = _convert(scan_type, objects, settings)
    if _whole(before) and len(document) <= limit:
        yield test, document, len(objects)
        return
    units = _units(test, scan_type, objects, limit, settings, before)
    if before is not None:  # split before, or sent whole before and now too large: its findings stay where they are
        yield from _kept_parts(test, scan_type, units, limit, settings, before)
        return
    parts = 2
    while parts <= _MAX_PARTS:
        documents = _parts(scan_type, units, parts, settings)
        if all(len(part) <= limit for _, part, _ in documents):
            for index, part, count in documents:
                yield replace(test, part=index, parts=parts), part, count
            return
        parts *= 2
    raise DocumentTooLargeError(f"{test}: no split into up to {parts // 2} parts keeps each below "
                                f"dojo.max_document_bytes ({binary_size(limit)}){_RAISE_IT}")  # fmt: skip


def _whole(before: PartsBefore | None) -> bool:
    """Whether a test may go as one document: never split, or sent whole and never given a part after it."""
    return before is None or (before.parts == 1 and max(before.placed.values(), default=1) == 1)


def _kept_parts(
    test: TestKey, scan_type: str, units: list[_Unit], limit: int, settings: DojoSettings, before: PartsBefore
) -> Iterator[tuple[TestKey, bytes, int]]:
    """The parts of a test split before: each unit where its findings were, a new one where it hashes to, and what
    does not fit moved to parts after the last, new units first (`_documents`)."""
    groups: dict[int, list[_Unit]] = {}
    for unit in units:
        held = _parts_held(unit.identities, before)
        part = min(held) if held else zlib.crc32(unit.key) % before.parts + 1
        groups.setdefault(part, []).append(unit)
    placed: dict[int, list[_Unit]] = {}
    overflow: list[_Unit] = []
    for part in sorted(groups):
        kept, moved = _fill(scan_type, groups[part], limit, before, settings)
        placed[part] = kept
        overflow += moved
    last = max([before.parts, *placed, *before.placed.values()])
    while overflow:
        last += 1
        placed[last], overflow = _fill(scan_type, overflow, limit, before, settings)
    order = {id(unit): index for index, unit in enumerate(units)}  # a part's document as a first split makes it
    documents = []
    for part, group in sorted(placed.items()):
        document = _join(scan_type, sorted(group, key=lambda unit: order[id(unit)]), settings)
        if document is not None and finding_identities(scan_type, document):
            documents.append((part, document, len(group)))
    shown = max(part for part, _, _ in documents) if documents else before.parts
    for part, document, count in documents:
        yield replace(test, part=part, parts=before.parts, shown=max(shown, before.parts)), document, count


def _parts_held(identities: frozenset[str], before: PartsBefore | None) -> set[int]:
    """The parts that held these findings when the test was last sent."""
    if before is None:
        return set()
    return {before.placed[identity] for identity in identities if identity in before.placed}


def _fill(
    scan_type: str, units: list[_Unit], limit: int, before: PartsBefore, settings: DojoSettings
) -> tuple[list[_Unit], list[_Unit]]:
    """The units one part keeps within `limit` and those it cannot: the units a part held before are kept first,
    then new ones, each group in the order of its keys; the most that fit, found by halving (a unit's own document
    never passes the limit (`_units`), so a part keeps at least one and the parts after the last always end)."""
    ordered = sorted(units, key=lambda unit: (not _parts_held(unit.identities, before), unit.key))
    fits, fails = 1, len(ordered) + 1
    while fails - fits > 1:
        middle = (fits + fails) // 2
        document = _join(scan_type, ordered[:middle], settings)
        if document is None or len(document) <= limit:
            fits = middle
        else:
            fails = middle
    return ordered[:fits], ordered[fits:]


def _join(scan_type: str, group: list[_Unit], settings: DojoSettings) -> bytes | None:
    """One part's document: its workloads converted together and its single findings joined to them."""
    objects = [obj for unit in group for obj in unit.objects]
    pieces = [_convert(scan_type, objects, settings)] if objects else []
    pieces += [unit.fragment for unit in group if unit.fragment]
    if not pieces:
        return None
    return pieces[0] if len(pieces) == 1 else documents.join_documents(scan_type, pieces)


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
    identities: frozenset[str] = frozenset()  # of the findings it makes


def _units(
    test: TestKey,
    scan_type: str,
    objects: list[dict[str, Any]],
    limit: int,
    settings: DojoSettings,
    before: PartsBefore | None = None,
) -> list[_Unit]:
    """Each workload as one unit, or each of its findings as one: when its own document passes the limit, when its
    findings were in several parts before (they stay there), and when some were in a part before and some are new
    (the old stay in their part, wherever the new have to go)."""
    workloads: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        workloads.setdefault(str(convert.workload_of(obj)), []).append(obj)
    units = []
    for workload, group in workloads.items():
        document = _convert(scan_type, group, settings)
        identities = finding_identities(scan_type, document)
        held = _parts_held(identities, before)
        new = before is not None and not identities <= before.placed.keys()
        if len(document) <= limit and (not held or (len(held) == 1 and not new)):
            units.append(_Unit(workload.encode(), tuple(group), identities=identities))
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
            units.append(_Unit(f"{workload}\0{min(identities)}".encode(), fragment=fragment, identities=identities))
    return units


def _parts(scan_type: str, units: list[_Unit], parts: int, settings: DojoSettings) -> list[tuple[int, bytes, int]]:
    """(part number, document, units in it) of every part that makes a finding, the units placed by their hash."""
    groups: list[list[_Unit]] = [[] for _ in range(parts)]
    for unit in units:
        groups[zlib.crc32(unit.key) % parts].append(unit)
    placed = []
    for index, group in enumerate(groups, start=1):
        document = _join(scan_type, group, settings)
        if document is not None and finding_identities(scan_type, document):
            placed.append((index, document, len(group)))
    return placed


def _read_spool(path: Path) -> list[dict[str, Any]]:
    with open(path, "rb") as lines:
        return [orjson.loads(line) for line in lines if line.strip()]


def _convert(scan_type: str, objects: list[dict[str, Any]], settings: DojoSettings) -> bytes:
    moved = settings.trivy_fixed_version == "references"
    return documents.document_for(scan_type, objects, fixed_version_in_references=moved)
