"""The report page from the archive, and back into it: read the runs and their trends, render, write.

`publish_report` stores the page beside the cluster's runs (`keys.report_key`), where its relative links to the
manifests resolve when the archive is browsed or synced to disk; `report --out FILE` writes it anywhere, with links
under the archive's URL. Both read the nights through the page's index (exporter.archive.night_index), so a night
reads only the runs the index lacks; only `publish_report` writes the index back, since `report` is a reader.
"""

from __future__ import annotations

import logging
from datetime import datetime

from exporter.archive import keys
from exporter.archive.night_index import Nights, index_key, read_nights, save_index
from exporter.archive.store import Store
from exporter.errors import ArchiveError
from exporter.report import render_page

_log = logging.getLogger(__name__)


def build_report(store: Store, cluster: str, *, absolute_links: bool = False, now: datetime | None = None) -> str:
    """The page for `cluster` from what `store` holds: every run with its status and its night's numbers."""
    return _render(read_nights(store, cluster), store, cluster, absolute_links=absolute_links, now=now)


def publish_report(store: Store, cluster: str, *, now: datetime | None = None) -> str:
    """Render the page and store it as `<cluster>/report.html`, then the index if it changed; returns the page's key.
    Call it after the night's summary was archived, so the page includes that night.

    The page is what the night promises; the index only saves the next night some reads, so failing to store it is a
    warning (the next night rebuilds what it lacks), and the page's own failure is raised.
    """
    nights = read_nights(store, cluster)
    key = keys.report_key(cluster)
    store.put_bytes(_render(nights, store, cluster, absolute_links=False, now=now).encode(), key)
    if nights.stale:
        try:
            save_index(store, cluster, nights.rows)
        except ArchiveError as error:
            _log.warning("the index of nights %s was not stored: %s; the next night reads the runs it lacks",
                         index_key(cluster), error, extra={"event": "night_index_not_stored"})  # fmt: skip
    return key


def _render(nights: Nights, store: Store, cluster: str, *, absolute_links: bool, now: datetime | None) -> str:
    archive_url = store.url if absolute_links else None
    return render_page(cluster, nights.trends, nights.latest, nights.runs, generated_at=now, archive_url=archive_url)
