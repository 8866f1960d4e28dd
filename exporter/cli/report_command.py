"""`report`: the cluster's report page, one static HTML file, from the archive."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from exporter.archive.open import open_store
from exporter.cli.common import (
    ArchiveOption,
    ClusterOption,
    ConfigOption,
    LogFormatOption,
    emit,
    execute,
    require_archive,
)
from exporter.config import Settings
from exporter.errors import ExitCode
from exporter.progress import Reporter
from exporter.report_page import build_report


def register(app: typer.Typer) -> None:
    app.command(name="report")(report_command)


def report_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="the HTML file to write")] = Path("report.html"),
    archive: ArchiveOption = None,
    cluster: ClusterOption = None,
    config: ConfigOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Write the cluster's report page: findings per severity and per namespace over the archived nights, the last
    night's outcome and failed kinds, the top images by Critical findings, and every archived run.

    One self-contained HTML file (no script, nothing fetched): open it in any browser, mail it, or keep it beside
    the archive. Links to the runs' manifests are under the archive's URL. Prints the file's path.
    """

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        require_archive(settings)
        page = build_report(open_store(settings.archive), settings.cluster, absolute_links=True)
        out.write_text(page, encoding="utf-8")
        reporter.info(
            f"report page of {settings.cluster} written to {out} ({len(page):,} bytes)", event="report_written"
        )
        emit(str(out))
        return ExitCode.OK

    execute(config, {"archive.destination": archive, "cluster": cluster, "log_format": log_format}, action)
