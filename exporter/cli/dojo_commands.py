"""`dojo plan DIR` (what would be sent where, nothing sent) and `dojo sync DIR` (send it)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from exporter import pipeline
from exporter.archive.open import open_store
from exporter.cli.common import (
    AllowMassCloseOption,
    ConfigOption,
    LogFormatOption,
    allow_mass_close_flag,
    emit,
    execute,
    require_dojo,
    require_run_directory,
)
from exporter.config import Settings
from exporter.errors import ExitCode
from exporter.progress import Reporter
from exporter.rundir import reader
from exporter.uploader import run_dirs

dojo_app = typer.Typer(help="Plan or send a run's findings to DefectDojo.", no_args_is_help=True)
RunDirArgument = Annotated[Path, typer.Argument(help="a run directory, or the getter's --out directory (newest run)")]


def register(app: typer.Typer) -> None:
    app.add_typer(dojo_app, name="dojo")


@dojo_app.command("plan")
def plan_command(
    run_dir: RunDirArgument,
    documents: Annotated[
        Path | None, typer.Option("--documents", help="also write each test's document here, to inspect or upload")
    ] = None,
    config: ConfigOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Print which tests the run feeds (product / engagement / test, scan type, objects, bytes); send nothing."""

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        from exporter.dojo.plan import build_plan  # noqa: PLC0415 - the converters load only for dojo commands

        require_run_directory(run_dir, "RUN_DIR")
        run = run_dirs(run_dir)[-1]
        with tempfile.TemporaryDirectory(prefix="dojo-plan-") as scratch:
            plan = build_plan(run, reader.read_manifest(run), settings.dojo, Path(scratch))
            for test in plan.tests():
                context = test.context
                if documents is not None:
                    documents.mkdir(parents=True, exist_ok=True)
                    name = str(test.key).replace("/", "_").replace("#", "_part")
                    (documents / f"{name}.json").write_bytes(test.document)
                emit(
                    f"{context.product_type} / {context.product} / {context.engagement} / {context.title}\t"
                    f"{context.scan_type}\t{test.objects} reports\t{len(test.document)} bytes\t"
                    f"service {context.service}"
                )
        for (scanner, family), why in sorted(plan.held.items()):
            emit(f"held: {scanner}/{family}: {why}")
        for line in plan.superseded:
            emit(f"superseded (archived, not imported): {line}")
        for line in plan.unplaced:
            emit(f"not placed (archived, not imported): {line}")
        for key, why in sorted(plan.too_large.items()):
            emit(f"too large (archived, not sent): {key}: {why}")
        return ExitCode.OK

    execute(config, {"log_format": log_format}, action)


@dojo_app.command("sync")
def sync_command(
    run_dir: RunDirArgument,
    allow_mass_close: AllowMassCloseOption = False,
    config: ConfigOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Reimport the run's findings into DefectDojo (changed tests only; fingerprints kept in the archive).

    A test whose reimport would close more than dojo.max_close_share of its findings is held (exit 3) unless
    --allow-mass-close is given.
    """

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        require_run_directory(run_dir, "RUN_DIR")
        require_dojo(settings)
        store = open_store(settings.archive) if settings.archive.destination else None
        return pipeline.sync_dojo(settings, reporter, run_dirs(run_dir)[-1], store=store).exit_code

    execute(config, {"log_format": log_format, "dojo.allow_mass_close": allow_mass_close_flag(allow_mass_close)},
            action)  # fmt: skip
