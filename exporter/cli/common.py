"""What every command shares: loading settings, choosing the reporter, turning errors into one line and a code."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from exporter.config import LogFormat, Settings, load_settings
from exporter.errors import ConfigError, ExitCode, ExporterError
from exporter.progress import Reporter, make_reporter
from exporter.redact import redact_urls

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
MetricsFileOption = Annotated[
    Path | None,
    typer.Option(
        "--metrics-file",
        metavar="PATH",
        help="write the night's metrics to this *.prom file for node-exporter's textfile collector "
        "(REPORT_EXPORTER_METRICS_FILE)",
        show_default=False,
    ),
]
"""For the commands that end a night (`upload`, `run`); the setting is `metrics.file`."""


class UsageError(ExporterError):
    """Flags that contradict each other or name what does not exist."""

    exit_code = ExitCode.USAGE


Action = Callable[[Settings, Reporter], ExitCode]


def execute(config: Path | None, flags: Mapping[str, Any], action: Action) -> None:
    """Load and validate settings, run `action`, and exit with its code or the error's, after one error line.

    Warnings logged below `exporter` (a Kubernetes request being retried) reach the reporter as its own lines. A
    reader of standard output that went away (`dojo plan | head -1`) ends the command quietly with exit 0 (`emit`).
    """
    reporter: Reporter | None = None
    try:
        settings = load_settings(config_file=config, flags=flags)
        reporter = make_reporter(settings.log_format)
        with warnings.catch_warnings(record=True) as raised, _logged_to(reporter):
            warnings.simplefilter("always")
            try:
                code = action(settings, reporter)
            finally:
                _report_warnings(reporter, raised)
    except _StdoutClosedError:
        code = ExitCode.OK
    except ExporterError as exc:
        if reporter is not None:
            reporter.error(str(exc))
        else:
            typer.echo(redact_urls(f"error: {exc}"), err=True)
        code = exc.exit_code
    finally:
        if reporter is not None:
            reporter.close()
    raise typer.Exit(int(code))


def emit(text: str, *, stop_when_closed: bool = True) -> None:
    """One line on standard output, for scripts and pipes.

    When the reader went away (`| head -1`, a closed pipe), standard output is pointed at /dev/null, as the Python
    documentation advises for SIGPIPE, so nothing complains at exit; then a listing command ends there, exit 0
    (`stop_when_closed`), while a command whose exit code is its outcome (`get`, `run`, `check`) goes on without
    its standard output and keeps that code.
    """
    try:
        typer.echo(text)
    except BrokenPipeError:
        _discard_stdout()
        if stop_when_closed:
            raise _StdoutClosedError from None


class _StdoutClosedError(Exception):
    """Whoever read standard output stopped reading: the command has nothing more to do."""


def _discard_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, ValueError, io.UnsupportedOperation):
        pass  # not a file descriptor (a test runner's capture): nothing will flush to a closed pipe
    finally:
        os.close(devnull)


def require_run_directory(path: Path, name: str) -> None:
    """UsageError unless `path` is a directory: a run directory, or the getter's --out directory."""
    if not path.exists():
        raise UsageError(f"{name} {path}: no such directory; give a run directory or the getter's --out directory")
    if not path.is_dir():
        raise UsageError(
            f"{name} {path} is a file, not a directory; give a run directory or the getter's --out directory"
        )


def require_archive(settings: Settings) -> None:
    """ConfigError (exit 2) when no archive destination is set, saying the three ways to set one."""
    if not settings.archive.destination:
        raise ConfigError(
            "no archive destination: pass --archive, set REPORT_EXPORTER_ARCHIVE or archive.destination in the "
            "config file, to s3://bucket/prefix or file:///path"
        )


def require_dojo(settings: Settings) -> None:
    """ConfigError (exit 2) when DefectDojo is not configured at all (no URL; a URL without a key is said later)."""
    if not settings.dojo.url:
        raise ConfigError(
            "DefectDojo is not configured: set DD_URL and DD_API_KEY (or dojo.url and dojo.api_key in the config file)"
        )


class _ToReporter(logging.Handler):
    """Log records of the exporter's own loggers as reporter lines; `event` and `fields` ride in `extra`."""

    def __init__(self, reporter: Reporter) -> None:
        super().__init__(logging.WARNING)
        self._reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        say = self._reporter.error if record.levelno >= logging.ERROR else self._reporter.warning
        fields = getattr(record, "fields", None) or {}
        say(record.getMessage(), event=getattr(record, "event", "warning"), **fields)


@contextlib.contextmanager
def _logged_to(reporter: Reporter) -> Iterator[None]:
    logger = logging.getLogger("exporter")
    handler = _ToReporter(reporter)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _report_warnings(reporter: Reporter, raised: list[warnings.WarningMessage]) -> None:
    """Python warnings (an insecure TLS switch, say) reach the log as our own lines, once each, not as stray text."""
    for message in dict.fromkeys(str(warning.message) for warning in raised):
        reporter.warning(message, event="warning")


def split(value: str | None) -> list[str] | None:
    """A comma-separated flag as a list; None when the flag was not given."""
    return None if value is None else [item.strip() for item in value.split(",") if item.strip()]
