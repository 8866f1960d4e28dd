"""What every command shares: loading settings, choosing the reporter, turning errors into one line and a code."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from exporter.config import LogFormat, Settings, load_settings
from exporter.errors import ExitCode, ExporterError
from exporter.progress import Reporter, make_reporter

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML settings file (or REPORT_EXPORTER_CONFIG)", show_default=False),
]
LogFormatOption = Annotated[
    LogFormat | None, typer.Option("--log-format", help="auto: Rich on a terminal, JSON lines otherwise")
]
ClusterOption = Annotated[str | None, typer.Option("--cluster", help="cluster name (REPORT_EXPORTER_CLUSTER)")]
AllowMassCloseOption = Annotated[
    bool,
    typer.Option(
        "--allow-mass-close",
        help="send tests whose reimport would close more than dojo.max_close_share of their findings",
    ),
]
"""Shared by `dojo sync`, `upload` and `run`, the commands that reimport."""


def allow_mass_close_flag(allow: bool) -> bool | None:
    """The flag as a setting: given, it wins; not given, the file and environment decide."""
    return True if allow else None


ArchiveOption = Annotated[
    str | None, typer.Option("--archive", help="s3://bucket/prefix or file:///path (REPORT_EXPORTER_ARCHIVE)")
]


class UsageError(ExporterError):
    """Flags that contradict each other or name what does not exist."""

    exit_code = ExitCode.USAGE


Action = Callable[[Settings, Reporter], ExitCode]


def execute(config: Path | None, flags: Mapping[str, Any], action: Action) -> None:
    """Load and validate settings, run `action`, and exit with its code or the error's, after one error line."""
    reporter: Reporter | None = None
    try:
        settings = load_settings(config_file=config, flags=flags)
        reporter = make_reporter(settings.log_format)
        with warnings.catch_warnings(record=True) as raised:
            warnings.simplefilter("always")
            try:
                code = action(settings, reporter)
            finally:
                _report_warnings(reporter, raised)
    except ExporterError as exc:
        if reporter is not None:
            reporter.error(str(exc))
        else:
            typer.echo(f"error: {exc}", err=True)
        code = exc.exit_code
    finally:
        if reporter is not None:
            reporter.close()
    raise typer.Exit(int(code))


def _report_warnings(reporter: Reporter, raised: list[warnings.WarningMessage]) -> None:
    """Python warnings (an insecure TLS switch, say) reach the log as our own lines, once each, not as stray text."""
    for message in dict.fromkeys(str(warning.message) for warning in raised):
        reporter.warning(message, event="warning")


def split(value: str | None) -> list[str] | None:
    """A comma-separated flag as a list; None when the flag was not given."""
    return None if value is None else [item.strip() for item in value.split(",") if item.strip()]
