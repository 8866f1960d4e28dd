"""`upload`, `runs list|show|restore` and `prune`: the archive side."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import typer

from exporter.archive import runs as archived
from exporter.archive.open import open_store
from exporter.archive.retention import RetentionPolicy
from exporter.archive.store import Store
from exporter.cli.common import ArchiveOption, ClusterOption, ConfigOption, LogFormatOption, execute, worst
from exporter.config import Settings
from exporter.errors import ExitCode, ExporterError
from exporter.progress import Reporter
from exporter.uploader import prune, run_dirs, upload_run, verified_manifest

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
    config: ConfigOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Archive finished run directories (verified, manifest last), then apply retention."""

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        return upload_and_prune(settings, reporter, run_dirs(source), apply_retention=not no_prune)

    execute(config, {"archive.destination": archive, "log_format": log_format}, action)


def upload_and_prune(
    settings: Settings, reporter: Reporter, directories: list[Path], *, apply_retention: bool
) -> ExitCode:
    """Upload each run; retention runs only after a verified upload, and its failure leaves the upload standing.

    The runs are checked against their manifests on a thread while the store is opened: hashing releases the GIL,
    so the check costs no wall time beside importing boto3 and building its client.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify") as checker:
        manifests = [checker.submit(verified_manifest, directory) for directory in directories]
        store = open_store(settings.archive)
        store.check()
        # in order, each run as soon as it is verified: a damaged run stops the ones after it, not those before
        uploaded = [
            upload_run(store, directory, max_concurrency=settings.archive.max_concurrency, reporter=reporter,
                       manifest=manifest.result())
            for directory, manifest in zip(directories, manifests, strict=True)
        ]  # fmt: skip
    codes = [_to_dojo(settings, reporter, directories[-1], store)] if settings.dojo.url else [ExitCode.OK]
    if not apply_retention:
        return worst(*codes)
    policy = RetentionPolicy.from_settings(settings.archive.retention)
    for cluster in sorted({result.cluster for result in uploaded}):
        protect = tuple(result.run_id for result in uploaded if result.cluster == cluster)
        try:
            prune(store, cluster, policy, reporter, dry_run=False, protect=protect)
        except ExporterError as exc:
            reporter.error(f"retention failed after a verified upload: {exc}", event="prune_failed")
            codes.append(ExitCode.PARTIAL)
    return worst(*codes)


def _to_dojo(settings: Settings, reporter: Reporter, run_dir: Path, store: Store) -> ExitCode:
    """The newest run into DefectDojo; its failure is reported and leaves the verified archive standing."""
    from exporter.cli.dojo_commands import sync_to_dojo  # noqa: PLC0415 - requests and the converters load on use

    try:
        return sync_to_dojo(settings, reporter, run_dir, store=store)
    except ExporterError as exc:
        reporter.error(f"DefectDojo import failed, the run is archived: {exc}", event="dojo_failed")
        return ExitCode.PARTIAL


def prune_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the plan with reasons, delete nothing")] = False,
    archive: ArchiveOption = None,
    cluster: ClusterOption = None,
    config: ConfigOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Apply the retention policy to this cluster's archived runs (print the plan with --dry-run)."""

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        store = open_store(settings.archive)
        policy = RetentionPolicy.from_settings(settings.archive.retention)
        prune(store, settings.cluster, policy, reporter, dry_run=dry_run)
        return ExitCode.OK

    execute(config, {"archive.destination": archive, "cluster": cluster, "log_format": log_format}, action)


@runs_app.command("list")
def list_command(
    archive: ArchiveOption = None,
    cluster: ClusterOption = None,
    config: ConfigOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """One line per archived run of the cluster: id, status, size."""

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        for run in archived.list_runs(open_store(settings.archive), settings.cluster):
            status = "complete" if run.complete else "incomplete"
            typer.echo(f"{run.run_id}\t{run.started_at:%Y-%m-%dT%H:%M:%SZ}\t{status}\t{run.size}")
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
    """Print an archived run's manifest (JSON, for jq)."""

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        store = open_store(settings.archive)
        run_id = archived.resolve_run(store, settings.cluster, run)
        typer.echo(json.dumps(archived.read_archived_manifest(store, settings.cluster, run_id), indent=2))
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
        store = open_store(settings.archive)
        run_id = archived.resolve_run(store, settings.cluster, run)
        run_dir = archived.restore_run(store, settings.cluster, run_id, to)
        reporter.info(f"restored run {run_id} into {run_dir}, verified against its manifest", event="restored")
        typer.echo(str(run_dir))
        return ExitCode.OK

    flags = {"archive.destination": archive, "cluster": cluster, "log_format": log_format}
    execute(config, flags, action)
