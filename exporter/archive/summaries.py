"""The archived nights in numbers: each run's `summary.json` (exporter.summary), for `runs trend` and the report page.

A summary is written beside the manifest after the night's stages ran; runs archived before summaries existed, runs
still uploading and runs whose summary cannot be read have none, and say so (None) rather than passing for a night
without findings.

`NightTrend` is the little of a summary the report page shows for every night (the trend charts, the runs table):
small enough that the page's index (exporter.archive.night_index) keeps one per night instead of the page reading
every night's summary.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import msgspec

from exporter import summary_fields as fields
from exporter.archive import keys
from exporter.archive.store import Store
from exporter.dojo.statistics import SEVERITIES
from exporter.errors import ArchiveError
from exporter.rundir import layout

_log = logging.getLogger(__name__)
SUMMARY_READERS = 8  # as runs.MANIFEST_READERS: small objects, the reads are round trips

RunSummary = tuple[str, Mapping[str, Any] | None]  # (run id, its summary or None)
Count = Annotated[int, msgspec.Meta(ge=0)]
PerSeverity = Annotated[tuple[Count, ...], msgspec.Meta(min_length=len(SEVERITIES), max_length=len(SEVERITIES))]
CHANGES = ("active", "new", "closed")


class NightTrend(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """What the report page shows of a night in its charts and runs table; the newest night's whole summary is read.

    Counts are per severity in SEVERITIES' order, None where the night has no finding counts (DefectDojo did not run,
    or no summary); `namespaces` holds the open findings per namespace, all severities together, as the chart draws
    them. `summarized` says the run has a readable summary, so a night without one is never shown as an empty one.
    """

    run_id: str
    summarized: bool = False
    outcome: str | None = None
    active: PerSeverity | None = None
    new: PerSeverity | None = None
    closed: PerSeverity | None = None
    namespaces: dict[str, Count] | None = None

    def __post_init__(self) -> None:
        # Checked on decoding too (msgspec turns this into a ValidationError): an index row is input.
        if not layout.is_run_id(self.run_id):
            raise ValueError(f"{self.run_id!r} is not a run id")
        if (self.namespaces is None) != (self.active is None) or (self.active is not None and not self.summarized):
            raise ValueError(f"run {self.run_id}: open findings per namespace go with open findings, from a summary")

    def findings(self, which: str) -> dict[str, int] | None:
        """`active`, `new` or `closed` per severity, as `summary_fields.findings` gives them of the summary."""
        counts: tuple[int, ...] | None = getattr(self, which) if which in CHANGES else None
        return None if counts is None else dict(zip(SEVERITIES, counts, strict=True))


def night_trend(run_id: str, summary: Mapping[str, Any] | None) -> NightTrend:
    """The trend of one night from its summary (None: the run has none); every field read through summary_fields,
    so a summary of another version gives gaps, never an error."""
    counts = {which: fields.findings(summary, which) for which in CHANGES}
    active = counts["active"]
    return NightTrend(
        run_id,
        summarized=summary is not None,
        outcome=fields.text(summary, "outcome"),
        **{which: None if found is None else tuple(found[s] for s in SEVERITIES) for which, found in counts.items()},
        namespaces=None if active is None else {
            scope: sum(per_severity.values()) for scope, per_severity in fields.active_by_namespace(summary).items()
        },
    )  # fmt: skip


def read_summaries(store: Store, cluster: str) -> list[RunSummary]:
    """Every run of `cluster`, oldest first, with its summary or None.

    One listing says which runs have a summary, so a run without one costs no request; those that have one are read
    SUMMARY_READERS at a time. A summary that is gone since the listing, or is not a JSON object, is None.
    """
    run_ids: set[str] = set()
    with_summary: list[str] = []
    for stored in store.list(keys.cluster_runs_prefix(cluster)):
        parsed = keys.parse_run_key(stored.key)
        if parsed is None or parsed.cluster != cluster:
            continue
        run_ids.add(parsed.run_id)
        if stored.key == keys.summary_key(cluster, parsed.run_id):
            with_summary.append(parsed.run_id)
    with ThreadPoolExecutor(max_workers=SUMMARY_READERS) as pool:
        read = dict(
            zip(with_summary, pool.map(lambda run_id: _read(store, cluster, run_id), with_summary), strict=True)
        )
    return [(run_id, read.get(run_id)) for run_id in sorted(run_ids)]


def parse_summary(data: bytes, run_id: str) -> Mapping[str, Any] | None:
    """The summary document in `data`, or None, with a warning, when it is not a JSON object."""
    try:
        document = json.loads(data)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        _log.warning("the summary of run %s is not a JSON object; it is shown as missing", run_id,
                     extra={"event": "summary_unreadable"})  # fmt: skip
        return None
    return document


def _read(store: Store, cluster: str, run_id: str) -> Mapping[str, Any] | None:
    try:
        data = store.get_bytes(keys.summary_key(cluster, run_id))
    except ArchiveError as error:  # gone since the listing (retention), or refused
        _log.warning("the summary of run %s is not read: %s", run_id, error, extra={"event": "summary_unreadable"})
        return None
    return parse_summary(data, run_id)
