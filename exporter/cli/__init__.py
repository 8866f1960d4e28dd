"""The `report-exporter` command line: parse, call, report, exit code. Nothing else lives here.

Exit codes: 0 ok, 1 failed, 2 usage or configuration error, 3 partial (some kinds failed, malformed objects or
unreadable inputs were met, DefectDojo held or refused a test, or retention failed after a verified upload; what
was written is valid and the manifest says what is missing). docs/operations.md says how a night in the CronJob
ends for each.

Standard output carries only what a script wants (the run directory, a listing, a manifest); progress and logs go
to standard error, as a Rich display on a terminal and JSON lines elsewhere. A closed standard output (`| head -1`)
ends a listing quietly with exit 0.
"""

from __future__ import annotations

from typing import Annotated

import typer

from exporter import __version__
from exporter.cli import archive_commands, check_command, dojo_commands, getter_commands, report_command

USER_HELP = (
    "Dump the Trivy Operator and Kubescape reports of a Kubernetes cluster, archive them in S3-compatible storage "
    "under retention rules, and import them into DefectDojo.\n\n"
    "A night is `get` (the reports into a run directory) then `upload` (archive, DefectDojo, retention); `run` does "
    "both. Exit codes: 0 complete, 1 failed, 2 usage or settings, 3 partial (what was written is valid and says "
    "what is missing).\n\n"
    "Settings: --config FILE, REPORT_EXPORTER_* and the standard AWS_*, DD_URL and DD_API_KEY variables; see "
    "docs/configuration.md, and docs/operations.md for running it at night."
)

app = typer.Typer(
    name="report-exporter",
    help=USER_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"report-exporter {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """Dump Trivy Operator and Kubescape reports, archive them to S3, import them into DefectDojo."""


getter_commands.register(app)
archive_commands.register(app)
dojo_commands.register(app)
check_command.register(app)
report_command.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
