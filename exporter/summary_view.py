"""A night's summary and the archived nights' trend as Rich tables: pure functions, rendered by the caller.

The terminal reporter prints `night_tables` at the end of `get`, `upload` and `run`; `runs trend` prints
`trend_table` (or `trend_records` as TSV or JSON). Tests render them with `Console(record=True)`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from exporter import summary_fields as fields
from exporter.archive.summaries import RunSummary
from exporter.dojo.statistics import SEVERITIES
from exporter.rundir import layout

SEVERITY_STYLES = {"critical": "bold red3", "high": "red", "medium": "yellow", "low": "blue", "info": "dim"}
STATUS_STYLES = {"complete": "green", "absent": "dim", "failed": "bold red", "partial": "yellow"}
NO_FINDINGS = "DefectDojo did not run this night: no finding counts"
NO_FINDINGS_SHORT = "no finding counts: DefectDojo did not run"
MISSING = "-"


def night_tables(summary: Mapping[str, Any]) -> list[Table]:
    """What a person reads at the end of a night: the kinds read, then the findings per severity when DefectDojo
    ran (without it, as after `get`, the kinds table's caption says there are no finding counts)."""
    if fields.findings(summary, "active") is None:
        return [kinds_table(summary)]
    return [kinds_table(summary), findings_table(summary)]


def kinds_table(summary: Mapping[str, Any]) -> Table:
    """One row per report kind: status and objects (and bytes); the title says the night's outcome."""
    outcome = fields.text(summary, "outcome") or "?"
    title = Text.assemble(
        f"{fields.text(summary, 'cluster') or '?'}, run {fields.text(summary, 'run_id') or '?'}: ",
        (outcome, STATUS_STYLES.get(outcome, "")),
    )
    table = Table(title=title, title_justify="left", caption=_night_caption(summary), caption_justify="left")
    table.add_column("kind")
    table.add_column("status")
    table.add_column("objects", justify="right")
    table.add_column("bytes", justify="right")
    listed = fields.kinds(summary)
    for plural, status, objects, size in listed:
        table.add_row(plural, Text(status, STATUS_STYLES.get(status, "")), _number(objects), fields.size_text(size))
    table.add_section()
    total_objects = sum(objects or 0 for _, _, objects, _ in listed)
    table.add_row(Text("all kinds", "bold"), "", Text(str(total_objects), "bold"), "")
    return table


def findings_table(summary: Mapping[str, Any]) -> Table:
    """One row per severity: open in DefectDojo after the night, and what the night opened, closed, reactivated."""
    counts = {which: fields.findings(summary, which) for which in ("active", *fields.CHANGES)}
    caption = NO_FINDINGS if counts["active"] is None else None
    table = Table(title="findings in DefectDojo", title_justify="left", caption=caption, caption_justify="left")
    table.add_column("severity")
    for which in ("active", *fields.CHANGES):
        table.add_column(which, justify="right")
    for severity in SEVERITIES:
        cells = [_number(None if block is None else block[severity]) for block in counts.values()]
        table.add_row(Text(severity, SEVERITY_STYLES[severity]), *cells)
    table.add_section()
    table.add_row(Text("all", "bold"), *(_number(fields.total(block)) for block in counts.values()), style="bold")
    return table


def trend_records(summaries: Sequence[RunSummary]) -> list[dict[str, Any]]:
    """One record per archived run, oldest first: outcome and findings per severity, None where unknown."""
    return [
        {
            "run_id": run_id,
            "started_at": f"{layout.run_started_at(run_id):%Y-%m-%dT%H:%M:%SZ}",
            "outcome": fields.text(summary, "outcome"),
            **{which: fields.findings(summary, which) for which in ("active", "new", "closed")},
        }
        for run_id, summary in summaries
    ]


def trend_rows(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The records flattened for TSV: a column per (active|new|closed, severity); `-` where unknown."""
    header = ["run_id", "started_at", "outcome"]
    header += [f"{which}_{severity}" for which in ("active", "new", "closed") for severity in SEVERITIES]
    rows = []
    for record in records:
        row = [record["run_id"], record["started_at"], record["outcome"] or MISSING]
        for which in ("active", "new", "closed"):
            block = record[which]
            row += [MISSING if block is None else str(block[severity]) for severity in SEVERITIES]
        rows.append(row)
    return header, rows


def trend_table(records: Sequence[Mapping[str, Any]], cluster: str) -> Table:
    """One line per night; each severity's cell reads `active +new -closed`, so a change shows where it happened."""
    table = Table(
        title=f"findings per night, {cluster}", title_justify="left",
        caption="each severity: open after the night, +new, -closed", caption_justify="left",
    )  # fmt: skip
    table.add_column("run")
    table.add_column("outcome")
    for severity in SEVERITIES:
        table.add_column(Text(severity, SEVERITY_STYLES[severity]), justify="right")
    for record in records:
        outcome = record["outcome"] or MISSING
        cells = [_trend_cell(record, severity) for severity in SEVERITIES]
        table.add_row(record["run_id"], Text(outcome, STATUS_STYLES.get(outcome, "")), *cells)
    return table


def _trend_cell(record: Mapping[str, Any], severity: str) -> Text:
    active, new, closed = (record[which] for which in ("active", "new", "closed"))
    if active is None:
        return Text(MISSING, "dim")
    cell = Text(str(active[severity]))
    if new is not None and new[severity]:
        cell.append(f" +{new[severity]}", "red")
    if closed is not None and closed[severity]:
        cell.append(f" -{closed[severity]}", "green")
    return cell


def _night_caption(summary: Mapping[str, Any]) -> Text | None:
    """How long each stage took, what was archived and deleted, the failed kinds in red, and whether DefectDojo
    counted findings: a line each."""
    stages = fields.stages(summary)
    timed = [f"{name} {seconds:.1f} s" if seconds is not None else name for name, _, seconds in stages]
    outcomes = {outcome for _, outcome, _ in stages}
    if len(outcomes) == 1:
        took = [f"{', '.join(timed)}: {outcomes.pop()}"]
    else:
        took = [f"{stage} {outcome}" for stage, (_, outcome, _) in zip(timed, stages, strict=True)]
    archive = []
    if (archived := fields.count(summary.get("archived_bytes"))) is not None:
        archive.append(f"archived {fields.size_text(archived)}")
    if (deleted := fields.count(fields.mapping(summary.get("retention")).get("deleted_runs"))) is not None:
        archive.append(f"retention deleted {deleted} runs")
    lines = [Text(", ".join(part)) for part in (took, archive) if part]
    if failed := fields.failed_kinds(summary):
        lines.append(Text(f"failed: {', '.join(failed)}", "red"))
    if fields.findings(summary, "active") is None:
        lines.append(Text(NO_FINDINGS_SHORT, "dim"))
    return Text("\n").join(lines) if lines else None


def _number(value: int | None) -> str:
    return MISSING if value is None else str(value)
