"""Tables on standard output: a Rich table for a person at a terminal, tab-separated lines or JSON for a pipe.

Shared by the commands that print a listing (`runs trend`, `prune --dry-run`): `--format` chooses, and without it
a terminal gets the table and anything else (a pipe, a file, a test) gets TSV, which `cut`, `sort` and `awk` read.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from exporter.archive.retention import RetentionPlan
from exporter.cli.common import emit
from exporter.summary_fields import size_text


class OutputFormat(StrEnum):
    TABLE = "table"
    TSV = "tsv"
    JSON = "json"


FormatOption = Annotated[
    OutputFormat | None,
    typer.Option("--format", help="table (the default on a terminal), tsv (the default otherwise) or json"),
]


def chosen(output_format: OutputFormat | None) -> OutputFormat:
    """The format asked for, or the table on a terminal and TSV elsewhere."""
    if output_format is not None:
        return output_format
    return OutputFormat.TABLE if sys.stdout.isatty() else OutputFormat.TSV


def print_listing(
    output_format: OutputFormat | None,
    *,
    table: Callable[[], Table],
    tsv: Callable[[], tuple[Sequence[str], Sequence[Sequence[str]]]],
    records: Callable[[], Any],
) -> None:
    """Print one of the three renderings of a listing; each is built only when chosen."""
    match chosen(output_format):
        case OutputFormat.TABLE:
            Console(file=sys.stdout, soft_wrap=False).print(table())
        case OutputFormat.TSV:
            header, rows = tsv()
            for row in (header, *rows):
                emit("\t".join(_cell(value) for value in row))
        case OutputFormat.JSON:
            emit(json.dumps(records(), indent=2))


PLAN_COLUMNS = ("action", "run_id", "started_at", "status", "size_bytes", "reasons")


def plan_records(plan: RetentionPlan) -> list[dict[str, Any]]:
    """One record per run of a retention plan, newest first, as `prune --dry-run` prints it."""
    return [
        {
            "action": "keep" if decision.keep else "delete",
            "run_id": decision.run.run_id,
            "started_at": f"{decision.run.started_at:%Y-%m-%dT%H:%M:%SZ}",
            "status": decision.run.status,
            "size_bytes": decision.run.size,
            "reasons": list(decision.reasons),
        }
        for decision in plan.decisions
    ]


def plan_rows(records: Sequence[dict[str, Any]]) -> tuple[Sequence[str], list[list[str]]]:
    return PLAN_COLUMNS, [
        [*(str(record[column]) for column in PLAN_COLUMNS[:-1]), "; ".join(record["reasons"])] for record in records
    ]


def plan_table(records: Sequence[dict[str, Any]], summary: str) -> Table:
    table = Table(title="retention plan (dry run)", title_justify="left", caption=summary, caption_justify="left")
    for column, justify in (("action", "left"), ("run", "left"), ("started (UTC)", "left"), ("status", "left"),
                            ("size", "right"), ("reasons", "left")):  # fmt: skip
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for record in records:
        action = Text(record["action"], "bold red" if record["action"] == "delete" else "green")
        status = Text(record["status"], "" if record["status"] == "complete" else "yellow")
        started = record["started_at"].replace("T", " ").removesuffix("Z")
        table.add_row(action, record["run_id"], started, status, size_text(record["size_bytes"]),
                      "; ".join(record["reasons"]))  # fmt: skip
    return table


def _cell(value: str) -> str:
    """Tabs and newlines would break the columns; reasons and statuses are words, so spaces do."""
    return value.replace("\t", " ").replace("\n", " ")
