"""`dojo plan DIR` (what would be sent where, nothing sent) and `dojo sync DIR` (send it)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
from exporter.errors import ExitCode, ExporterError
from exporter.progress import Reporter
from exporter.rundir import reader
from exporter.uploader import run_dirs

if TYPE_CHECKING:
    from exporter.dojo.plan import PartsBefore

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
        manifest = reader.read_manifest(run)
        with tempfile.TemporaryDirectory(prefix="dojo-plan-") as scratch:
            plan = build_plan(run, manifest, settings.dojo, Path(scratch))
            plan.parts_before = _parts_as_sent(settings, str(manifest["cluster"]), reporter)
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


def _parts_as_sent(settings: Settings, cluster: str, reporter: Reporter) -> dict[str, PartsBefore]:
    """How the split tests were last sent, from the DefectDojo state in the archive, so that the plan shows the
    parts the sync would send (each finding in the part it was in), not a first night's layout. Without an archive
    there is no state (as for the sync); a state that cannot be read is a warning, and the plan still prints."""
    from exporter.dojo.state import load_state  # noqa: PLC0415 - the converters load only for dojo commands
    from exporter.dojo.sync import parts_before  # noqa: PLC0415

    if not settings.archive.destination:
        return {}
    try:
        return parts_before(load_state(open_store(settings.archive), cluster))
    except ExporterError as error:
        reporter.warning(f"split tests are shown as a first night lays them out, not as last sent: {error}",
                         event="dojo_plan_state")  # fmt: skip
        return {}


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
