"""The report page's index of nights, `<cluster>/nights.json`: one small row per archived run, so that a night reads
the index, its own manifest and summary, and not every run's manifest and summary.

The index is a cache, never the truth. The key listing of the cluster says which runs exist, whether each has a
manifest (finished) and a summary, and their sizes; a row stands for a run only while the run is listed and its
manifest and summary are the very objects the row was made from (same size and LastModified in the listing). Any
other run (no index yet, an index of another version, a night that failed after archiving, a run a concurrent writer
added, a summary rewritten) gets its row from its own manifest and summary, read now, and only those are read. Rows of
runs retention deleted are dropped, because their runs are no longer listed. An index that cannot be read or decoded
is rebuilt from the archive with a warning; it never fails a night.

Stores offer no conditional write here (OpenStack Swift's s3api refuses If-Match, and 2.33.1 If-None-Match too), so
two writers may race and the last one wins: the rows the other added are missing again, and the next night reads those
few runs again. Nothing is lost, since no row is the only copy of anything. A row is made from the manifest (partial,
failed kinds, as `runs list` shows them: exporter.archive.runs.manifest_outcome) and the summary
(exporter.archive.summaries.night_trend); a read that failed (a refused or vanished object) is shown as today but never
stored, so a passing failure is not remembered.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec

from exporter.archive import keys
from exporter.archive.archived_run import ArchivedRun
from exporter.archive.runs import ManifestOutcome, read_outcome
from exporter.archive.store import Store, StoredObject
from exporter.archive.summaries import NightTrend, RunSummary, night_trend, parse_summary
from exporter.errors import ArchiveError
from exporter.summary import SUMMARY_FILE

_log = logging.getLogger(__name__)
INDEX_FILE = "nights.json"
INDEX_VERSION = 1  # a stored index of any other version is rebuilt
ROW_READERS = 8  # as runs.MANIFEST_READERS: a cold index reads every run's manifest and summary, a few at a time
_UNFINISHED = ManifestOutcome(partial=False)  # a run without a manifest is `incomplete`, never partial


class Stamp(msgspec.Struct, frozen=True, array_like=True):
    """Which object a row was made from: its size and LastModified as the listing gave them."""

    size: Annotated[int, msgspec.Meta(ge=0)]
    modified: str

    @classmethod
    def of(cls, stored: StoredObject) -> Stamp:
        return cls(stored.size, stored.last_modified.isoformat())


class NightRow(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """One run in the index: its trend, what its manifest says (partial, failed kinds, other problems), and the
    stamps of the manifest and summary both were read from (None: the run had none)."""

    trend: NightTrend
    manifest: Stamp | None = None
    summary: Stamp | None = None
    partial: bool = False
    failed_kinds: tuple[str, ...] = ()
    problem: str = ""

    def __post_init__(self) -> None:
        # The same rules as ArchivedRun's, checked when an index is decoded: a row that breaks them is corrupt.
        if self.partial and self.manifest is None:
            raise ValueError(f"run {self.run_id}: only a run with a manifest can be partial")
        if (self.failed_kinds or self.problem) and not self.partial:
            raise ValueError(f"run {self.run_id}: failed kinds or a problem make a run partial")
        if self.trend.summarized and self.summary is None:
            raise ValueError(f"run {self.run_id}: a summarized night has a summary")

    @property
    def run_id(self) -> str:
        return self.trend.run_id


class NightIndex(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The stored document: the version, the cluster it belongs to, and its rows, oldest first."""

    version: int
    cluster: str
    nights: tuple[NightRow, ...]


class IndexUnreadableError(ValueError):
    """A stored index that is not one this version wrote for this cluster."""


@dataclass(frozen=True)
class ListedRun:
    """What the key listing says of one run: its total size, newest LastModified, manifest and summary."""

    run_id: str
    size: int
    last_modified: datetime
    manifest: Stamp | None
    summary: Stamp | None


@dataclass(frozen=True)
class Nights:
    """Everything the page shows, from the listing, the index and the few runs read.

    `runs` are as `list_runs` gives them, `trends` one per run (oldest first), `latest` the whole summary of the
    newest night with one. `rows` is what the index should hold now; `stale` says it differs from the stored one.
    """

    runs: list[ArchivedRun]
    trends: list[NightTrend]
    latest: RunSummary | None
    rows: tuple[NightRow, ...]
    stale: bool


def index_key(cluster: str) -> str:
    """Beside the report page (`keys.report_key`), outside `runs/`, so retention never sees it."""
    return posixpath.join(posixpath.dirname(keys.report_key(cluster)), INDEX_FILE)


def read_nights(store: Store, cluster: str) -> Nights:
    """The runs of `cluster` with their trends, from one listing of the cluster, the index and the runs it lacks.

    Costs one LIST of the cluster's keys and one GET of the index; then, per run without a current row, a GET of its
    manifest and of its summary (ROW_READERS at a time); then the newest night's summary unless it was just read.
    """
    listing = list(store.list(_cluster_prefix(cluster)))
    listed = listed_runs(listing, cluster)
    stored = _load_rows(store, cluster, index_present=any(item.key == index_key(cluster) for item in listing))
    current = {run.run_id: stored[run.run_id] for run in listed if is_current(stored.get(run.run_id), run)}
    missing = [run for run in listed if run.run_id not in current]
    with ThreadPoolExecutor(max_workers=ROW_READERS) as pool:
        made = list(pool.map(lambda run: _make_row(store, cluster, run), missing))
    summaries = {row.run_id: summary for row, summary, _ in made if summary is not None}
    keep = {row.run_id for row, _, kept in made if kept} | set(current)
    rows = {**current, **{row.run_id: row for row, _, _ in made}}
    trends = [rows[run.run_id].trend for run in listed]
    latest, trends, unread = _latest(store, cluster, trends, summaries)
    saved = tuple(rows[run.run_id] for run in listed if run.run_id in keep - unread)
    runs = [archived_run(run, rows[run.run_id]) for run in listed]
    stale = saved != tuple(stored.values())
    return Nights(runs, trends, latest, saved, stale)


def save_index(store: Store, cluster: str, rows: Sequence[NightRow]) -> None:
    """Store the index; raises ArchiveError, which the caller reports as a warning (the index is only a cache)."""
    store.put_bytes(encode_index(cluster, rows), index_key(cluster))


def listed_runs(listing: Iterable[StoredObject], cluster: str) -> list[ListedRun]:
    """The runs of `cluster` in a listing, oldest first; size and LastModified as `runs.list_runs` counts them."""
    sizes: dict[str, int] = {}
    written: dict[str, datetime] = {}
    manifests: dict[str, Stamp] = {}
    summaries: dict[str, Stamp] = {}
    run_keys = _RunKeys()
    for stored in listing:
        parsed = run_keys.parse(stored.key)
        if parsed is None or parsed.cluster != cluster:
            continue
        run_id = parsed.run_id
        sizes[run_id] = sizes.get(run_id, 0) + stored.size
        written[run_id] = max(written.get(run_id, stored.last_modified), stored.last_modified)
        if parsed.is_manifest:
            manifests[run_id] = Stamp.of(stored)
        elif parsed.relative_path == SUMMARY_FILE and stored.key == keys.summary_key(cluster, run_id):
            summaries[run_id] = Stamp.of(stored)
    return [
        ListedRun(run_id, sizes[run_id], written[run_id], manifests.get(run_id), summaries.get(run_id))
        for run_id in sorted(sizes)
    ]


def is_current(row: NightRow | None, run: ListedRun) -> bool:
    """The row was made from the manifest and summary the listing shows now (or, like it, from none)."""
    return row is not None and row.manifest == run.manifest and row.summary == run.summary


def archived_run(run: ListedRun, row: NightRow) -> ArchivedRun:
    """The run as `runs.list_runs` shows it: finished when the listing has its manifest, partial as the row, made of
    that very manifest (`is_current`), says; a row of a run without a manifest is never partial (NightRow)."""
    return ArchivedRun.from_run_id(
        run.run_id, complete=run.manifest is not None, size=run.size, last_modified=run.last_modified,
        partial=row.partial, failed_kinds=row.failed_kinds, problem=row.problem,
    )  # fmt: skip


def encode_index(cluster: str, rows: Sequence[NightRow]) -> bytes:
    return msgspec.json.encode(NightIndex(INDEX_VERSION, cluster, tuple(rows)))


def decode_index(data: bytes, cluster: str) -> dict[str, NightRow]:
    """The rows by run id; IndexUnreadableError for anything but an index of this version for this cluster."""
    try:
        version = msgspec.json.decode(data, type=_Versioned).version
        if version != INDEX_VERSION:
            raise IndexUnreadableError(f"it is of version {version}, this exporter writes {INDEX_VERSION}")
        index = msgspec.json.decode(data, type=NightIndex)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise IndexUnreadableError(f"it is not an index of nights: {error}") from None
    if index.cluster != cluster:
        raise IndexUnreadableError(f"it belongs to cluster {index.cluster!r}")
    rows = {row.run_id: row for row in index.nights}
    if len(rows) != len(index.nights):
        raise IndexUnreadableError("it has two rows for one run")
    return rows


class _RunKeys:
    """`keys.parse_run_key` over a listing, parsing each run's prefix once: a listing comes sorted, so a run's keys
    (a score of report files) follow one another, and a key under the prefix of the run just parsed is that run's
    (the prefix ends in the run id's folder). Checking the run id's date for every key was most of a warm night."""

    def __init__(self) -> None:
        self._prefix = ""
        self._run: keys.RunKey | None = None

    def parse(self, key: str) -> keys.RunKey | None:
        if self._run is not None and len(key) > len(self._prefix) and key.startswith(self._prefix):
            return keys.RunKey(self._run.cluster, self._run.run_id, key[len(self._prefix) :])
        parsed = keys.parse_run_key(key)
        if parsed is not None:
            self._prefix, self._run = key[: len(key) - len(parsed.relative_path)], parsed
        return parsed


class _Versioned(msgspec.Struct):
    version: Any = None


def _cluster_prefix(cluster: str) -> str:
    """The cluster's runs, its page and its index in one listing."""
    return posixpath.dirname(keys.report_key(cluster)) + "/"


def _load_rows(store: Store, cluster: str, *, index_present: bool) -> dict[str, NightRow]:
    """The stored rows; none (the index is rebuilt) when there is no index yet or it cannot be used, with a warning
    for the latter."""
    if not index_present:
        _log.info("no index of nights for %s yet: it is built from the archive", cluster)
        return {}
    try:
        return decode_index(store.get_bytes(index_key(cluster)), cluster)
    except (ArchiveError, IndexUnreadableError) as error:
        _log.warning("the index of nights %s is not used (%s); it is rebuilt from the runs' manifests and summaries",
                     index_key(cluster), error, extra={"event": "night_index_rebuilt"})  # fmt: skip
        return {}


def _make_row(store: Store, cluster: str, run: ListedRun) -> tuple[NightRow, Mapping[str, Any] | None, bool]:
    """A run's row from its manifest and summary, the summary, and whether both reads answered (a row made of a
    failed read is shown, never stored)."""
    outcome, outcome_read = read_outcome(store, cluster, run.run_id) if run.manifest else (_UNFINISHED, True)
    summary, summary_read = _read_summary(store, cluster, run.run_id) if run.summary else (None, True)
    row = NightRow(
        night_trend(run.run_id, summary), run.manifest, run.summary,
        partial=outcome.partial, failed_kinds=outcome.failed_kinds, problem=outcome.problem,
    )  # fmt: skip
    return row, summary, outcome_read and summary_read


def _read_summary(store: Store, cluster: str, run_id: str) -> tuple[Mapping[str, Any] | None, bool]:
    try:
        data = store.get_bytes(keys.summary_key(cluster, run_id))
    except ArchiveError as error:  # gone since the listing (retention), or refused
        _log.warning("the summary of run %s is not read: %s", run_id, error, extra={"event": "summary_unreadable"})
        return None, False
    return parse_summary(data, run_id), True


def _latest(
    store: Store, cluster: str, trends: list[NightTrend], read: Mapping[str, Mapping[str, Any]]
) -> tuple[RunSummary | None, list[NightTrend], set[str]]:
    """The newest night's whole summary, read unless it just was. A summary the index promised that cannot be read
    now is shown as missing, its row left out of the index, and the night before is tried."""
    unread: set[str] = set()
    for position in range(len(trends) - 1, -1, -1):
        run_id = trends[position].run_id
        if not trends[position].summarized:
            continue
        summary = read[run_id] if run_id in read else _read_summary(store, cluster, run_id)[0]
        if summary is not None:
            return (run_id, summary), trends, unread
        unread.add(run_id)
        trends = [*trends[:position], NightTrend(run_id), *trends[position + 1 :]]
    return None, trends, unread
