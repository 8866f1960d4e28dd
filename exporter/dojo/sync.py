"""Send a run to DefectDojo: reimport every changed test, skip unchanged ones, close scopes that emptied.

Decisions, in order, for each test of the plan:
- unchanged since the last reimport DefectDojo accepted (same fingerprint): no call at all;
- otherwise reimported into the test that already holds its findings: the oldest test with its title, so that an
  empty test left behind by a failed import never captures the findings; or, the first time, by names with
  auto_create_context;
- a test a previous run fed, whose scope has no reports now, is reimported with an empty document when this run
  read its whole scope (its findings were fixed), and left alone otherwise.
"""

from __future__ import annotations

import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

from exporter.archive.store import Store
from exporter.config import DojoSettings
from exporter.dojo import documents
from exporter.dojo.client import DojoClient, TestContext
from exporter.dojo.plan import DojoPlan, build_plan, fingerprint
from exporter.dojo.state import SyncState, load_state, save_state
from exporter.errors import DojoError
from exporter.progress import Reporter
from exporter.rundir import reader

T = TypeVar("T")


@dataclass
class SyncResult:
    reimported: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    emptied: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    calls: int = 0


@dataclass(frozen=True)
class _Work:
    key: str
    context: TestContext
    document: bytes
    emptied: bool = False

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.document, self.context)


def sync_run(
    run_dir: Path, settings: DojoSettings, client: DojoClient, reporter: Reporter, *, store: Store | None
) -> SyncResult:
    """Reimport what changed; the state is saved for the tests DefectDojo accepted, even when others failed."""
    manifest = reader.read_manifest(run_dir)
    cluster = str(manifest["cluster"])
    state = load_state(store, cluster)
    result = SyncResult()
    with tempfile.TemporaryDirectory(prefix="dojo-plan-") as scratch:
        plan = build_plan(run_dir, manifest, settings, Path(scratch))
        result.held = [f"{scanner}/{family}: {why}" for (scanner, family), why in sorted(plan.held.items())]
        for line in result.held:
            reporter.warning(f"DefectDojo: {line}", event="dojo_held")
        planned: set[str] = set()
        work = _changed(plan, state, planned, result)
        with ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="dojo") as pool:
            for item, (test_id, error) in _bounded(pool, lambda item: _reimport(client, item, reporter), work,
                                                   settings.concurrency):  # fmt: skip
                if error is not None:
                    result.failed.append(f"{item.key}: {error}")
                    continue
                state.record(item.key, fingerprint=item.fingerprint, test_id=test_id, context=asdict(item.context))
                (result.emptied if item.emptied else result.reimported).append(item.key)
    result.calls = client.calls
    save_state(store, cluster, state)
    return result


def _changed(plan: DojoPlan, state: SyncState, planned: set[str], result: SyncResult) -> Iterator[_Work]:
    """The tests whose document differs from the last one DefectDojo accepted, then the scopes that emptied."""
    for test in plan.tests():
        item = _Work(str(test.key), test.context, test.document)
        planned.add(item.key)
        if state.fingerprint(item.key) == item.fingerprint:
            result.unchanged.append(item.key)
        else:
            yield item
    for item in _emptied_scopes(plan, state, planned):
        if state.fingerprint(item.key) == item.fingerprint:  # emptied on an earlier night already
            result.unchanged.append(item.key)
        else:
            yield item


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


def _emptied_scopes(plan: DojoPlan, state: SyncState, planned: set[str]) -> list[_Work]:
    """Tests fed before that this run did not feed, whose scope it read whole: their findings were fixed."""
    items = []
    for key, entry in sorted(state.tests.items()):
        if key in planned or "context" not in entry or not plan.may_empty(key):
            continue
        context = TestContext(**entry["context"])
        items.append(_Work(key, context, documents.empty_document(context.scan_type), emptied=True))
    return items


def _reimport(client: DojoClient, item: _Work, reporter: Reporter) -> tuple[int | None, str | None]:
    try:
        existing = client.tests_named(item.context)
        test_id = int(existing[0]["id"]) if existing else None
        response = client.reimport(item.context, item.document, test_id=test_id)
    except DojoError as exc:
        reporter.error(f"DefectDojo: {item.key}: {exc}", event="dojo_failed", test=item.key)
        return None, str(exc)
    new_id = response.get("test_id") or response.get("test") or test_id
    reporter.info(
        f"DefectDojo: reimported {item.key} into test {new_id} ({len(item.document)} bytes)",
        event="dojo_reimported", test=item.key, test_id=new_id, statistics=response.get("statistics"),
    )  # fmt: skip
    return (int(new_id) if new_id is not None else None), None
