"""exporter.summary_view and the reporters' `night_summary`: what a person and a log pipeline see at a night's end."""

from __future__ import annotations

import io
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from exporter.progress import JsonReporter
from exporter.progress_rich import RichReporter
from exporter.summary_view import findings_table, kinds_table, night_tables, trend_records, trend_rows, trend_table
from tests.report_fixtures import NIGHT_4_ID, NIGHT_5, NIGHT_6, SUMMARIES


def rendered(*tables: Table) -> str:
    console = Console(record=True, width=100, color_system=None)
    for table in tables:
        console.print(table)
    return console.export_text()


def row_of(text: str, first_cell: str) -> list[str]:
    """The cells of the table line that starts with `first_cell`."""
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip("│┃ ").split("│")]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row {first_cell!r} in\n{text}")


def test_the_kinds_table_shows_each_kinds_status_and_objects_and_the_nights_outcome() -> None:
    text = rendered(kinds_table(NIGHT_6))
    assert "prod-eu, run 20261122T020000Z-0f06: partial" in text
    assert row_of(text, "vulnerabilityreports") == ["vulnerabilityreports", "complete", "118", "2.3 MiB"]
    assert row_of(text, "configauditreports")[:3] == ["configauditreports", "failed", "0"]
    assert row_of(text, "workloadconfigurationscans")[:3] == ["workloadconfigurationscans", "absent", "0"]
    assert row_of(text, "all kinds")[2] == "118"
    caption = [line.strip() for line in text.splitlines()[-3:]]
    assert caption == [
        "get 212.4 s, upload 248.9 s: partial",
        "archived 2.4 MiB, retention deleted 1 runs",
        "failed: configauditreports, rbacassessmentreports",
    ]


def test_the_findings_table_shows_active_new_closed_per_severity() -> None:
    text = rendered(findings_table(NIGHT_5))
    # NIGHT_5: active (3, 19, 38, 12, 2), new (0, 2, 1, 0, 0), closed (2, 6, 7, 1, 1), nothing reactivated
    assert row_of(text, "critical") == ["critical", "3", "0", "2", "0"]
    assert row_of(text, "high") == ["high", "19", "2", "6", "0"]
    assert row_of(text, "medium") == ["medium", "38", "1", "7", "0"]
    assert row_of(text, "info") == ["info", "2", "0", "1", "0"]
    assert row_of(text, "all") == ["all", "74", "3", "17", "0"]


def test_a_night_without_defectdojo_says_so_instead_of_showing_zeros() -> None:
    without_dojo = {key: value for key, value in NIGHT_5.items() if key not in ("findings", "dojo")}
    text = rendered(findings_table(without_dojo))
    assert row_of(text, "critical") == ["critical", "-", "-", "-", "-"]
    assert "DefectDojo did not run this night" in text


def test_tables_survive_a_summary_from_another_version() -> None:
    strange: dict[str, Any] = {"outcome": 3, "kinds": {"x": "not a mapping"}, "findings": {"active": {"high": "7"}}}
    text = rendered(*night_tables(strange))
    assert row_of(text, "high")[1] == "0" and "run ?" in text


def test_the_json_reporter_emits_one_summary_event_with_the_whole_document() -> None:
    stream = io.StringIO()
    JsonReporter(stream).night_summary(NIGHT_6)
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["event"] == "summary" and record["level"] == "warning"  # a partial night
    assert record["summary"] == NIGHT_6
    assert record["message"] == "night 20261122T020000Z-0f06: partial, 118 objects, 76 active findings"


def test_the_rich_reporter_prints_both_tables_to_its_stream() -> None:
    stream = io.StringIO()
    reporter = RichReporter(stream)
    reporter.night_summary(NIGHT_5)
    reporter.close()
    text = stream.getvalue()
    assert "prod-eu, run 20261121T020000Z-0e05: complete" in text and "findings in DefectDojo" in text
    assert "vulnerabilityreports" in text and "medium" in text


def test_trend_has_a_line_per_run_and_a_dash_where_a_run_has_no_summary() -> None:
    header, rows = trend_rows(trend_records(SUMMARIES))
    assert header[:4] == ["run_id", "started_at", "outcome", "active_critical"]
    assert header[-1] == "closed_info" and len(header) == 3 + 15
    assert [row[0] for row in rows] == [run_id for run_id, _ in SUMMARIES]
    by_run = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    night_5 = by_run[NIGHT_5["run_id"]]
    assert (night_5["outcome"], night_5["active_high"], night_5["new_high"], night_5["closed_high"]) == (
        "complete", "19", "2", "6",
    )  # fmt: skip
    assert set(by_run[NIGHT_4_ID].values()) - {NIGHT_4_ID, "2026-11-20T02:00:00Z"} == {"-"}


def test_the_trend_table_reads_active_plus_new_minus_closed_per_severity() -> None:
    text = rendered(trend_table(trend_records(SUMMARIES), "prod-eu"))
    assert row_of(text, NIGHT_5["run_id"]) == [NIGHT_5["run_id"], "complete", "3 -2", "19 +2 -6", "38 +1 -7",
                                               "12 -1", "2 -1"]  # fmt: skip
    assert row_of(text, NIGHT_4_ID) == [NIGHT_4_ID, "-", "-", "-", "-", "-", "-"]


def test_after_get_alone_there_is_one_table_and_it_says_why_there_are_no_findings() -> None:
    got = {
        key: value for key, value in NIGHT_5.items() if key not in ("findings", "dojo", "archived_bytes", "retention")
    }
    got["stages"] = {"get": {"outcome": "complete", "seconds": 2.25}}
    tables = night_tables(got)
    assert len(tables) == 1
    caption = [line.strip() for line in rendered(*tables).splitlines()[-2:]]
    assert caption == ["get 2.2 s: complete", "no finding counts: DefectDojo did not run"]


def test_stages_with_different_outcomes_are_named_one_by_one() -> None:
    mixed = {**NIGHT_5, "stages": {"get": {"outcome": "complete", "seconds": 3}, "dojo": {"outcome": "partial"}}}
    assert "get 3.0 s complete, dojo partial" in rendered(kinds_table(mixed))
