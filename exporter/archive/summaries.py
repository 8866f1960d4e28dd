"""The archived nights in numbers: each run's `summary.json` (exporter.summary), for `runs trend` and the report page.

A summary is written beside the manifest after the night's stages ran; runs archived before summaries existed, runs
still uploading and runs whose summary cannot be read have none, and say so (None) rather than passing for a night
without findings.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from exporter.archive import keys
from exporter.archive.store import Store
from exporter.errors import ArchiveError

_log = logging.getLogger(__name__)
SUMMARY_READERS = 8  # as runs.MANIFEST_READERS: small objects, the reads are round trips

RunSummary = tuple[str, Mapping[str, Any] | None]  # (run id, its summary or None)


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


def _read(store: Store, cluster: str, run_id: str) -> Mapping[str, Any] | None:
    try:
        document = json.loads(store.get_bytes(keys.summary_key(cluster, run_id)))
    except ArchiveError as error:  # gone since the listing (retention), or refused
        _log.warning("the summary of run %s is not read: %s", run_id, error, extra={"event": "summary_unreadable"})
        return None
    except ValueError:
        document = None
    if not isinstance(document, dict):
        _log.warning("the summary of run %s is not a JSON object; it is shown as missing", run_id,
                     extra={"event": "summary_unreadable"})  # fmt: skip
        return None
    return document
