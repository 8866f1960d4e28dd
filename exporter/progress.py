"""What a run tells the person or the log collector watching it.

On a terminal: a Rich progress display, one line per kind. Anywhere else (a CronJob's log): one JSON object per
line, so log pipelines can index the fields. Both say the same things through one small interface, so the
getter and uploader never know which one is listening.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any, Protocol

from exporter.config import LogFormat
from exporter.redact import redact_urls


class Reporter(Protocol):
    def kind_started(self, name: str) -> None: ...

    def kind_advanced(self, name: str, objects: int) -> None: ...

    def kind_finished(self, name: str, status: str, objects: int, detail: str = "") -> None: ...

    def info(self, message: str, **fields: Any) -> None: ...

    def warning(self, message: str, **fields: Any) -> None: ...

    def error(self, message: str, **fields: Any) -> None: ...

    def run_finished(self, manifest: Mapping[str, Any], run_dir: str, exit_code: int) -> None: ...

    def night_summary(self, summary: Mapping[str, Any]) -> None:
        """The night in numbers (exporter.summary.night_summary), once, at the end of `get`, `upload` or `run`."""

    def close(self) -> None: ...


def make_reporter(log_format: LogFormat, stream: IO[str] | None = None) -> Reporter:
    """Rich on a terminal (or when asked), JSON lines otherwise."""
    target = stream if stream is not None else sys.stderr
    use_rich = log_format is LogFormat.RICH or (log_format is LogFormat.AUTO and target.isatty())
    if not use_rich:
        return JsonReporter(target)
    from exporter.progress_rich import RichReporter  # noqa: PLC0415 - ~50 ms of imports a CronJob's JSON log never needs

    return RichReporter(target)


class JsonReporter:
    """One JSON object per line: `time`, `level`, `event`, `message` and event fields."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def _emit(self, level: str, event: str, message: str, **fields: Any) -> None:
        record = {
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": level,
            "event": event,
            "message": message,
            **fields,
        }
        self._stream.write(redact_urls(json.dumps(record, default=str)) + "\n")  # no URL shows its password
        self._stream.flush()

    def kind_started(self, name: str) -> None:
        self._emit("info", "kind_started", f"listing {name}", kind=name)

    def kind_advanced(self, name: str, objects: int) -> None:
        """Pages are not logged one by one: a CronJob log wants outcomes, not a ticker."""

    def kind_finished(self, name: str, status: str, objects: int, detail: str = "") -> None:
        level = "error" if status == "failed" else "warning" if detail else "info"
        message = f"{name}: {status}, {objects} objects" + (f": {detail}" if detail else "")
        self._emit(level, "kind_finished", message, kind=name, status=status, objects=objects)

    def info(self, message: str, **fields: Any) -> None:
        self._emit("info", fields.pop("event", "info"), message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self._emit("warning", fields.pop("event", "warning"), message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        self._emit("error", fields.pop("event", "error"), message, **fields)

    def run_finished(self, manifest: Mapping[str, Any], run_dir: str, exit_code: int) -> None:
        total = sum(entry["objects"] for entry in manifest["kinds"])
        level = "info" if exit_code == 0 else "error"
        self._emit(
            level,
            "run_finished",
            f"run {manifest['run_id']} {manifest['status']}: {total} objects in {run_dir}",
            run_id=manifest["run_id"],
            status=manifest["status"],
            objects=total,
            run_dir=run_dir,
            exit_code=exit_code,
        )

    def night_summary(self, summary: Mapping[str, Any]) -> None:
        """One `summary` line carrying the whole document, so a log pipeline has the night's numbers in one place."""
        outcome = summary.get("outcome")
        level = {"complete": "info", "partial": "warning"}.get(str(outcome), "error")
        active = (summary.get("findings") or {}).get("active")
        findings = f", {sum(active.values())} active findings" if isinstance(active, Mapping) else ""
        message = f"night {summary.get('run_id')}: {outcome}, {summary.get('objects')} objects{findings}"
        self._emit(level, "summary", message, summary=dict(summary))

    def close(self) -> None:
        self._stream.flush()
