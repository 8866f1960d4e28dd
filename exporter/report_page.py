"""The report page from the archive, and back into it: read the runs and summaries, render, write.

`publish_report` stores the page beside the cluster's runs (`keys.report_key`), where its relative links to the
manifests resolve when the archive is browsed or synced to disk; `report --out FILE` writes it anywhere, with links
under the archive's URL.
"""

from __future__ import annotations

from datetime import datetime

from exporter.archive import keys
from exporter.archive.runs import list_runs
from exporter.archive.store import Store
from exporter.archive.summaries import read_summaries
from exporter.report import render_report


def build_report(store: Store, cluster: str, *, absolute_links: bool = False, now: datetime | None = None) -> str:
    """The page for `cluster` from what `store` holds: every run with its status and its summary."""
    runs = list_runs(store, cluster)
    summaries = read_summaries(store, cluster)
    archive_url = store.url if absolute_links else None
    return render_report(cluster, summaries, runs, generated_at=now, archive_url=archive_url)


def publish_report(store: Store, cluster: str, *, now: datetime | None = None) -> str:
    """Render the page and store it as `<cluster>/report.html`; returns its key. Call it after the night's summary
    was archived, so the page includes that night."""
    key = keys.report_key(cluster)
    store.put_bytes(build_report(store, cluster, now=now).encode(), key)
    return key
