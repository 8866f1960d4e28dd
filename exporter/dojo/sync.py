"""Send a run to DefectDojo: reimport every changed test, skip unchanged ones, close scopes that emptied.

Decisions, in order, for each test of the plan:
- the tests the state says DefectDojo holds are looked up, one list call per engagement (`presence`): a test that
  is gone (deleted, or a DefectDojo rebuilt from scratch) is sent again, whether or not it changed;
- unchanged since the last reimport DefectDojo accepted (same fingerprint): no call at all;
- a reimport that would close too many of its test's findings, or of the cluster's, is held (`valve`): not sent,
  nothing closed, until an operator allows it;
- otherwise reimported into the test that already holds its findings: the recorded test when DefectDojo was seen
  to hold it, else the oldest test with its title, so that an empty test left behind by a failed import never
  captures the findings; or, the first time, by names with auto_create_context;
- a recorded test whose names the templates changed (`presence.Places`) stays the one test of its findings: renamed in
  place when it stays in its engagement, left where it is (with a warning every night) when the templates would
  move it to another engagement or product, which DefectDojo cannot do to a test;
- a test a previous run fed, whose scope has no reports now, is reimported with an empty document when this run
  read its whole scope (its findings were fixed), and left alone otherwise;
- a test that cannot be split below `dojo.max_document_bytes` (one finding alone is larger) fails with one line
  saying so, and none of its parts is sent or emptied.

After `dojo.max_connection_failures` calls in a row failed, the client's breaker opens: the tests not sent yet are
reported as failed without a call, so an outage costs minutes, not each test's retry budget.
"""

from __future__ import annotations

import itertools
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from exporter.archive.store import Store
from exporter.config import DojoSettings
from exporter.dojo import documents
from exporter.dojo.client import DojoClient, DojoUnreachableError, TestContext
from exporter.dojo.identities import finding_identities
from exporter.dojo.plan import DojoPlan, PartsBefore, build_plan, fingerprint
from exporter.dojo.presence import Places, Presence, check_recorded_tests
from exporter.dojo.state import SyncState, load_state, save_state
from exporter.dojo.statistics import FindingCounts, active_after, total
from exporter.dojo.valve import Closing, ValvePolicy, mass_closes
from exporter.errors import DojoError
from exporter.progress import Reporter
from exporter.rundir import reader

T = TypeVar("T")


@dataclass
class SyncResult:
    reimported: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    emptied: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # families held back by the plan: "scanner/family: why"
    valve_held: list[str] = field(default_factory=list)  # tests held by the mass-close valve: why, key first
    missing: list[str] = field(default_factory=list)  # tests DefectDojo no longer held: sent again or forgotten
    renamed: list[str] = field(default_factory=list)  # tests retitled in DefectDojo to the planned title
    not_moved: list[str] = field(default_factory=list)  # tests the templates would move to another engagement
    failed: list[str] = field(default_factory=list)
    calls: int = 0
    findings: FindingCounts = field(default_factory=FindingCounts)  # per severity: new, closed, ..., active


@dataclass(frozen=True)
class _Work:
    """A test to send; its document waits on disk, so memory holds only the documents in flight."""

    key: str
    context: TestContext
    fingerprint: str
    identities: frozenset[str] | None  # None: a document the identities do not know how to read
    path: Path
    emptied: bool = False
    test_id: int | None = None  # the recorded test, seen in DefectDojo tonight; None: find it by names

    def document(self) -> bytes:
        return self.path.read_bytes()


def sync_run(
    run_dir: Path, settings: DojoSettings, client: DojoClient, reporter: Reporter, *, store: Store | None
) -> SyncResult:
    """Reimport what changed or went missing; the state is saved for the tests DefectDojo accepted, even when others
    failed or the sync stopped early."""
    manifest = reader.read_manifest(run_dir)
    cluster = str(manifest["cluster"])
    state = load_state(store, cluster)
    result = SyncResult()
    try:
        with tempfile.TemporaryDirectory(prefix="dojo-plan-") as scratch:
            plan = build_plan(run_dir, manifest, settings, Path(scratch))
            plan.parts_before = parts_before(state)
            result.held = [f"{scanner}/{family}: {why}" for (scanner, family), why in sorted(plan.held.items())]
            for line in result.held:
                reporter.warning(f"DefectDojo: {line}", event="dojo_held")
            presence = check_recorded_tests(client, state, _checked_keys(plan, state), reporter)
            places = Places(client, state, presence, reporter)
            work = list(_Changes(plan, state, presence, places, result, reporter, Path(scratch)).work())
            result.renamed, result.not_moved = places.renamed, places.not_moved
            held = _valve(work, state, presence, settings, reporter)
            result.valve_held = [held[item.key] for item in work if item.key in held]
            _send([item for item in work if item.key not in held], settings, client, state, result, reporter)
    finally:
        result.calls = client.calls
        result.findings.active = total(entry.get("active") or {} for entry in state.tests.values())
        result.findings.active_by_scope = _active_by_scope(state)
        save_state(store, cluster, state)
    return result


def _active_by_scope(state: SyncState) -> dict[str, dict[str, int]]:
    """Open findings per severity of each scope (a test key's third part: a namespace, or `cluster`)."""
    scopes: dict[str, list[Any]] = {}
    for key, entry in state.tests.items():
        scope = [*key.split("#", 1)[0].split("/"), "", ""][2]
        scopes.setdefault(scope, []).append(entry.get("active") or {})
    return {scope: total(counts) for scope, counts in sorted(scopes.items())}


def parts_before(state: SyncState) -> dict[str, PartsBefore]:
    """Test key -> how it was sent last (`<key>#<part>/<parts>`, or whole: part 1 of 1) and the part each of its
    findings was in: a split test stays split and a whole one that grows past the limit keeps its findings in part 1
    (plan._documents).

    The count is taken from the parts that hold findings (or whose findings were never recorded), and from the
    emptied ones only when no other is left: an emptied part stays in the state for good, and a version before
    `de1365a` split a shrinking test anew (`#1/8` ... emptied beside the live `#1/4` ...), which read as a count of 8
    would send every finding into the old parts and empty the live ones."""
    counts: dict[str, int] = {}
    emptied: dict[str, int] = {}
    placed: dict[str, dict[str, int]] = {}
    for key in state.tests:
        base, _, suffix = key.partition("#")
        part, _, parts = suffix.partition("/") if suffix else ("1", "", "1")  # sent whole: part 1 of 1
        if not (part.isdigit() and parts.isdigit()):
            continue
        identities = state.identities(key)
        held = emptied if identities == frozenset() else counts
        held[base] = max(held.get(base, 0), int(parts))
        for identity in identities or ():
            placed.setdefault(base, {})[identity] = int(part)
    return {base: PartsBefore(counts.get(base) or emptied[base], placed.get(base, {})) for base in counts | emptied}


def _checked_keys(plan: DojoPlan, state: SyncState) -> list[str]:
    """The recorded tests this run may skip or send: those of every family the plan does not hold back."""
    return [key for key in state.tests if tuple(key.split("#", 1)[0].split("/")[:2]) not in plan.held]


class _Changes:
    """The tests to send: changed or missing ones of the plan, then scopes that emptied; the rest is counted."""

    def __init__(
        self,
        plan: DojoPlan,
        state: SyncState,
        presence: Presence,
        places: Places,
        result: SyncResult,
        reporter: Reporter,
        scratch: Path,
    ) -> None:
        self.plan, self.state, self.presence, self.result, self.reporter = plan, state, presence, result, reporter
        self.places, self.scratch = places, scratch
        self.planned: set[str] = set()
        self.spooled = 0

    def work(self) -> Iterator[_Work]:
        for test in self.plan.tests():
            key = str(test.key)
            self.planned.add(key)
            context = self.places.context(key, test.context, test.document)
            if context is None:
                self.result.failed.append(self.places.failed[key])
                continue
            test_fingerprint = fingerprint(test.document, context)
            if self._skipped(key, test_fingerprint, context.scan_type, test.document):
                continue
            yield self._spooled(key, context, test.document, test_fingerprint)
        for key, why in sorted(self.plan.too_large.items()):
            self.reporter.error(f"DefectDojo: {why}", event="dojo_too_large", test=key)
            self.result.failed.append(why)
        for key, context in self._emptied_scopes():
            document = documents.empty_document(context.scan_type)
            emptied_fingerprint = fingerprint(document, context)
            if not self._skipped(key, emptied_fingerprint, context.scan_type, document):
                yield self._spooled(key, context, document, emptied_fingerprint, emptied=True)

    def _skipped(self, key: str, new_fingerprint: str, scan_type: str, document: bytes) -> bool:
        """Unchanged and still in DefectDojo: counted, not sent; the identities an older state lacks are filled in."""
        if key in self.presence.missing:
            why = f"DefectDojo: {key}: test {self.state.test_id(key)} is gone from DefectDojo; sent again"
            self.reporter.warning(why, event="dojo_test_missing", test=key, test_id=self.state.test_id(key))
            self.result.missing.append(key)
            return False
        if self.state.fingerprint(key) != new_fingerprint:
            return False
        if self.state.identities(key) is None:
            self.state.amend(key, identities=_identities(scan_type, document))
        self.result.unchanged.append(key)
        return True

    def _spooled(self, key: str, context: TestContext, document: bytes, new_fingerprint: str, *,
                 emptied: bool = False) -> _Work:  # fmt: skip
        self.spooled += 1
        path = self.scratch / f"send-{self.spooled:05d}.json"
        path.write_bytes(document)
        test_id = self.state.test_id(key) if key in self.presence.confirmed else None
        identities = _identities(context.scan_type, document)
        return _Work(key, context, new_fingerprint, identities, path, emptied=emptied, test_id=test_id)

    def _emptied_scopes(self) -> list[tuple[str, TestContext]]:
        """Tests fed before that this run did not feed, whose scope it read whole: their findings were fixed.

        One whose test DefectDojo no longer holds has nothing left to close: it is forgotten, not sent.
        """
        scopes = []
        for key, entry in sorted(self.state.tests.items()):
            if key in self.planned or "context" not in entry or not self.plan.may_empty(key):
                continue
            if key in self.presence.missing:
                self.reporter.warning(f"DefectDojo: {key}: its scope is empty and its test is gone from DefectDojo; "
                                      "nothing to close, forgotten", event="dojo_test_missing", test=key)  # fmt: skip
                self.result.missing.append(key)
                self.state.forget(key)
                continue
            scopes.append((key, TestContext(**entry["context"])))
        return scopes


def _identities(scan_type: str, document: bytes) -> frozenset[str] | None:
    """The document's finding identities; None (the valve cannot judge) for a scan type they do not know."""
    try:
        return finding_identities(scan_type, document)
    except ValueError:
        return None


def _valve(
    work: list[_Work], state: SyncState, presence: Presence, settings: DojoSettings, reporter: Reporter
) -> dict[str, str]:
    """Test key -> why it is held: what would close too much, unless mass closes are allowed (then only said)."""
    closings = []
    for item in work:
        before = state.identities(item.key)
        if before is not None and item.identities is not None and item.key not in presence.missing:
            closings.append(Closing(item.key, len(before - item.identities), len(before)))
    cluster_findings = sum(
        len(found) for key in state.tests if key not in presence.missing and (found := state.identities(key))
    )
    too_many = mass_closes(closings, cluster_findings, ValvePolicy(settings.max_close_share, settings.mass_close_min))
    if settings.allow_mass_close:
        for key, what in too_many.items():
            reporter.warning(f"DefectDojo: {what}: sent, as mass closes are allowed", event="dojo_mass_close_allowed",
                             test=key)  # fmt: skip
        return {}
    held = {key: f"{what}: held; pass --allow-mass-close if that is right" for key, what in too_many.items()}
    for key, why in held.items():
        reporter.error(f"DefectDojo: {why}", event="dojo_mass_close_held", test=key)
    return held


def _send(
    work: list[_Work],
    settings: DojoSettings,
    client: DojoClient,
    state: SyncState,
    result: SyncResult,
    reporter: Reporter,
) -> None:
    """Reimport each test, `concurrency` at a time; after the breaker opened, the rest fail without a call.

    The first test of each engagement not known yet goes alone: DefectDojo creates the product and engagement
    on that import (auto_create_context), and two imports creating them at once race: one is refused (400).
    """
    not_sent = 0
    pioneers = _first_of_each_new_engagement(work)
    rest = [item for item in work if item not in pioneers]
    with ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="dojo") as pool:
        sent = itertools.chain(
            _bounded(pool, lambda item: _reimport(client, item, reporter), pioneers, 1),
            _bounded(pool, lambda item: _reimport(client, item, reporter), rest, settings.concurrency),
        )
        for item, outcome in sent:
            if isinstance(outcome, str):
                result.failed.append(f"{item.key}: {outcome}")
                not_sent += outcome == client.unreachable_reason()
                continue
            result.findings.add_changes(outcome.get("statistics"))
            state.record(item.key, fingerprint=item.fingerprint, test_id=outcome.get("test_id"),
                         engagement_id=outcome.get("engagement_id"), context=asdict(item.context),
                         identities=item.identities, active=active_after(outcome.get("statistics")))  # fmt: skip
            (result.emptied if item.emptied else result.reimported).append(item.key)
    if client.unreachable:
        reporter.error(f"cannot reach DefectDojo at {client.url}: {settings.max_connection_failures} calls in a row "
                       f"failed; {not_sent} tests not sent tonight (they are sent on the next run)",
                       event="dojo_unreachable", not_sent=not_sent)  # fmt: skip


def _first_of_each_new_engagement(work: list[_Work]) -> list[_Work]:
    """One test of each (product type, product, engagement) none of whose tests is known by id."""
    known = {_engagement(item.context) for item in work if item.test_id is not None}
    first: dict[tuple[str, str, str], _Work] = {}
    for item in work:
        if _engagement(item.context) not in known:
            first.setdefault(_engagement(item.context), item)
    return list(first.values())


def _engagement(context: TestContext) -> tuple[str, str, str]:
    return context.product_type, context.product, context.engagement


def _bounded(
    pool: ThreadPoolExecutor, call: Callable[[_Work], T], items: Iterable[_Work], limit: int
) -> Iterator[tuple[_Work, T]]:
    """`pool.map` that takes items only as results are collected: at most `limit` documents in memory."""
    pending: deque[tuple[_Work, Future[T]]] = deque()
    for item in items:
        pending.append((item, pool.submit(call, item)))
        if len(pending) >= limit:
            done, future = pending.popleft()
            yield done, future.result()
    while pending:
        done, future = pending.popleft()
        yield done, future.result()


def _reimport(client: DojoClient, item: _Work, reporter: Reporter) -> dict[str, Any] | str:
    """The ids DefectDojo answered, or why the test was not accepted (logged here, where it happened)."""
    try:
        test_id = item.test_id
        if test_id is None:
            existing = client.tests_named(item.context)
            test_id = int(existing[0]["id"]) if existing else None
        response = client.reimport(item.context, item.document(), test_id=test_id)
    except DojoUnreachableError as exc:
        return str(exc)  # said once for all by _send
    except DojoError as exc:
        reporter.error(f"DefectDojo: {item.key}: {exc}", event="dojo_failed", test=item.key)
        return str(exc)
    new_id = response.get("test_id") or response.get("test") or test_id
    reporter.info(
        f"DefectDojo: reimported {item.key} into test {new_id} ({item.path.stat().st_size} bytes)",
        event="dojo_reimported", test=item.key, test_id=new_id, statistics=response.get("statistics"),
    )  # fmt: skip
    engagement = response.get("engagement_id")
    return {"test_id": _int(new_id), "engagement_id": _int(engagement), "statistics": response.get("statistics")}


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None
