"""The terminal's view of a run: a Rich progress line per kind, then a table (exporter/progress.py chooses it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from exporter.redact import redact_urls
from exporter.summary_view import night_tables


class RichReporter:
    """A live progress line per kind, with warnings printed above it."""

    def __init__(self, stream: IO[str]) -> None:
        self._console = console = Console(file=stream)
        self._progress = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("{task.description:<40}"),
            TextColumn("{task.fields[objects]:>8} objects"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._progress.start()

    def kind_started(self, name: str) -> None:
        self._tasks[name] = self._progress.add_task(name, total=None, objects=0, status="")

    def kind_advanced(self, name: str, objects: int) -> None:
        self._progress.update(self._tasks[name], objects=objects)

    def kind_finished(self, name: str, status: str, objects: int, detail: str = "") -> None:
        if name not in self._tasks:
            self.kind_started(name)
        colour = {"complete": "green", "absent": "dim", "failed": "red"}.get(status, "yellow")
        self._progress.update(self._tasks[name], objects=objects, status=f"[{colour}]{status}[/]", total=1, completed=1)
        if detail:
            self._progress.console.print(f"[{colour}]{name}[/]: {_escape(detail)}", markup=True, highlight=False)

    def info(self, message: str, **fields: Any) -> None:
        self._progress.console.print(redact_urls(message), highlight=False, markup=False)

    def warning(self, message: str, **fields: Any) -> None:
        self._progress.console.print(f"[yellow]warning:[/] {_escape(message)}", highlight=False)

    def error(self, message: str, **fields: Any) -> None:
        self._progress.console.print(f"[red]error:[/] {_escape(message)}", highlight=False)

    def run_finished(self, manifest: Mapping[str, Any], run_dir: str, exit_code: int) -> None:
        """The progress display ends; the kinds are shown once, in the night's summary tables."""
        self._progress.stop()
        self._console.print(f"run {manifest['run_id']} {manifest['status']}: {run_dir}", highlight=False)

    def night_summary(self, summary: Mapping[str, Any]) -> None:
        """The kinds and the findings per severity as two tables, on standard error with the rest of the display."""
        self._progress.stop()
        for table in night_tables(summary):
            self._console.print(table)

    def close(self) -> None:
        self._progress.stop()


def _escape(text: str) -> str:
    """Rich markup escaped, and any URL's password masked (exporter/redact.py)."""
    return redact_urls(text).replace("[", "\\[")
