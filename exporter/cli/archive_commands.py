"""`upload`, `runs list|show|restore` and `prune`: the archive side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from exporter import pipeline, summary_view
from exporter.archive import runs as archived
from exporter.archive.open import open_store
from exporter.archive.retention import RetentionPolicy
from exporter.archive.summaries import read_summaries
from exporter.cli import tables
from exporter.cli.common import (
    AllowMassCloseOption,
    ArchiveOption,
    ClusterOption,
    ConfigOption,
    LogFormatOption,
    MetricsFileOption,
    allow_mass_close_flag,
    emit,
    execute,
    require_archive,
    require_run_directory,
)
from exporter.config import Settings
from exporter.errors import ExitCode
from exporter.progress import Reporter
from exporter.uploader import prune, run_dirs

runs_app = typer.Typer(help="List, show and restore archived runs.", no_args_is_help=True)
RunArgument = Annotated[str, typer.Argument(help="run id, a unique prefix of one, or 'latest'")]


def register(app: typer.Typer) -> None:
    app.command()(upload)
    app.command(name="prune")(prune_command)
    app.add_typer(runs_app, name="runs")


def upload(
    source: Annotated[Path, typer.Option("--from", help="a run directory, or the getter's --out directory")],
    archive: ArchiveOption = None,
    no_prune: Annotated[bool, typer.Option("--no-prune", help="archive without applying retention")] = False,
    allow_mass_close: AllowMassCloseOption = False,
    metrics_file: MetricsFileOption = None,
    config: ConfigOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Archive finished run directories (verified, manifest last), import the newest into DefectDojo, then apply
    retention.

    Partial runs are archived too; a run directory without a manifest (or not matching it) is skipped, named in a
    warning, and the others are archived. Exit codes: 0 complete, 3 partial (a kind of the run failed, a run
    directory was skipped, DefectDojo held or refused a test, or retention failed: the archive stands), 1 failed
    (nothing archived), 2 usage or settings.
    """

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        require_run_directory(source, "--from")
        require_archive(settings)
        uploaded = pipeline.upload(settings, run_dirs(source), reporter, apply_retention=not no_prune)
        return uploaded.outcome.exit_code

    flags = {"archive.destination": archive, "log_format": log_format, "metrics.file": metrics_file,
             "dojo.allow_mass_close": allow_mass_close_flag(allow_mass_close)}  # fmt: skip
    execute(config, flags, action)


def prune_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the plan with reasons, delete nothing")] = False,
    output_format: tables.FormatOption = None,
    archive: ArchiveOption = None,
    cluster: ClusterOption = None,
    config: ConfigOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Apply the retention policy to this cluster's archived runs (--dry-run: print the plan on standard output, a
    table on a terminal, tab-separated otherwise: action, run id, started, status, size, reasons)."""

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        require_archive(settings)
        store = open_store(settings.archive)
        policy = RetentionPolicy.from_settings(settings.archive.retention)
        plan, _ = prune(store, settings.cluster, policy, reporter, dry_run=dry_run)
        if dry_run:
            records = tables.plan_records(plan)
            tables.print_listing(output_format, table=lambda: tables.plan_table(records, plan.summary()),
                                 tsv=lambda: tables.plan_rows(records), records=lambda: records)  # fmt: skip
        return ExitCode.OK

    execute(config, {"archive.destination": archive, "cluster": cluster, "log_format": log_format}, action)


@runs_app.command("list")
def list_command(
    archive: ArchiveOption = None,
    cluster: ClusterOption = None,
    config: ConfigOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """One line per archived run of the cluster: id, start, status (complete, partial, incomplete), size, and for a
    partial run what failed."""

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        require_archive(settings)
        for run in archived.list_runs(open_store(settings.archive), settings.cluster):
            detail = run.status_text.removeprefix(run.status).removeprefix(": ")
            emit(f"{run.run_id}\t{run.started_at:%Y-%m-%dT%H:%M:%SZ}\t{run.status}\t{run.size}\t{detail}")
        return ExitCode.OK

    execute(config, {"archive.destination": archive, "cluster": cluster, "log_format": log_format}, action)


@runs_app.command("trend")
def trend_command(
    output_format: tables.FormatOption = None,
    archive: ArchiveOption = None,
    cluster: ClusterOption = None,
    config: ConfigOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Findings per severity over the archived nights, one line per run, from each run's summary.json: open after
    the night, new and closed; `-` for a run without a summary (DefectDojo off, older runs, still uploading)."""

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        require_archive(settings)
        records = summary_view.trend_records(read_summaries(open_store(settings.archive), settings.cluster))
        tables.print_listing(output_format, table=lambda: summary_view.trend_table(records, settings.cluster),
                             tsv=lambda: summary_view.trend_rows(records), records=lambda: records)  # fmt: skip
        return ExitCode.OK

    execute(config, {"archive.destination": archive, "cluster": cluster, "log_format": log_format}, action)


@runs_app.command("show")
def show_command(
    run: RunArgument,
    archive: ArchiveOption = None,
    cluster: ClusterOption = None,
    config: ConfigOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Print an archived run's manifest (JSON, for jq); its status (complete or partial, and what failed) goes to
    the log."""

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        require_archive(settings)
        store = open_store(settings.archive)
        run_id = archived.resolve_run(store, settings.cluster, run)
        shown = archived.read_run(store, settings.cluster, run_id)
        status = reporter.info if shown.status == "complete" else reporter.warning
        status(f"run {run_id}: {shown.status_text}", event="run_status", status=shown.status)
        emit(json.dumps(archived.read_archived_manifest(store, settings.cluster, run_id), indent=2))
        return ExitCode.OK

    execute(config, {"archive.destination": archive, "cluster": cluster, "log_format": log_format}, action)


@runs_app.command("restore")
def restore_command(
    run: RunArgument,
    to: Annotated[Path, typer.Option("--to", help="directory that receives the run directory")],
    archive: ArchiveOption = None,
    cluster: ClusterOption = None,
    config: ConfigOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Download an archived run back into a run directory and verify it against its manifest."""

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        require_archive(settings)
        store = open_store(settings.archive)
        run_id = archived.resolve_run(store, settings.cluster, run)
        run_dir = archived.restore_run(store, settings.cluster, run_id, to)
        reporter.info(f"restored run {run_id} into {run_dir}, verified against its manifest", event="restored")
        emit(str(run_dir))
        return ExitCode.OK

    flags = {"archive.destination": archive, "cluster": cluster, "log_format": log_format}
    execute(config, flags, action)
