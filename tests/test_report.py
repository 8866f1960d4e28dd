"""exporter.report: the report page as text, before any browser sees it (tests/test_report_browser.py opens it)."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from exporter.archive import keys
from exporter.archive.archived_run import ArchivedRun
from exporter.archive.filestore import FileStore
from exporter.report import render_report
from exporter.report_charts import nice_ticks
from exporter.report_page import publish_report
from tests.report_fixtures import CLUSTER, GENERATED_AT, NIGHT_5, NIGHT_6, SUMMARIES, archived_runs, night


class Elements(HTMLParser):
    """Every start tag with its attributes, and which chart (svg id) it sits in."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None], str | None]] = []
        self.texts: list[str] = []
        self._chart: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "svg" and "chart" in (attributes.get("class") or ""):
            self._chart = attributes.get("id")
        self.tags.append((tag, attributes, self._chart))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._chart = None

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    def in_chart(self, chart: str, tag: str, css: str | None = None) -> list[dict[str, str | None]]:
        return [
            attrs
            for name, attrs, where in self.tags
            if where == chart and name == tag and (css is None or css in (attrs.get("class") or "").split())
        ]


def parsed(page: str) -> Elements:
    elements = Elements()
    elements.feed(page)
    return elements


@pytest.fixture(scope="module")
def page() -> str:
    return render_report(CLUSTER, SUMMARIES, archived_runs(), generated_at=GENERATED_AT)


def test_the_page_names_the_cluster_the_time_and_the_last_nights_numbers(page: str) -> None:
    text = " ".join(" ".join(parsed(page).texts).split())
    assert "Security findings prod-eu" in text
    assert "generated 2026-11-23 07:30 UTC" in text
    # NIGHT_6, the last night with a summary: active (3, 21, 39, 11, 2), new (0, 2, 2, 0, 0), closed (0, 0, 1, 1, 0)
    assert "Critical 3 +0 new · \u22120 closed" in text and "Medium 39 +2 new · \u22121 closed" in text
    assert "Last night partial 22 Nov · 2 kinds failed" in text
    assert "The newest run, 20261123T020000Z-1a07 (incomplete), has no summary" in text
    assert "configauditreports rbacassessmentreports" in text
    assert "registry.example.com/shop/checkout:2.14.1 2" in text


def test_each_chart_draws_one_line_per_series_broken_where_a_night_has_no_numbers(page: str) -> None:
    elements = parsed(page)
    severity_lines = elements.in_chart("chart-severity", "path", "series")
    assert len(severity_lines) == 5
    assert all(line["d"] and line["d"].count("M") == 2 for line in severity_lines), "night 4 is a gap in each line"
    assert len(elements.in_chart("chart-severity", "circle")) == 5 * 5  # five nights with numbers, five severities
    namespaces = [line["stroke"] for line in elements.in_chart("chart-namespace", "path", "series")]
    assert len(namespaces) == 5 and len(set(namespaces)) == 5  # shop, payments, kube-system, monitoring, cluster


def test_the_change_chart_stacks_a_bar_per_nonzero_count(page: str) -> None:
    elements = parsed(page)
    # nonzero new + closed per severity: night 1: 4 + 0, night 2: 3 + 2, night 3: 3 + 1, night 5: 2 + 5, night 6: 2 + 2
    bars = elements.in_chart("chart-change", "rect", "bar")
    assert len(bars) == 24
    assert all(float(bar["height"] or 0) > 0 and float(bar["width"] or 0) >= 2 for bar in bars)
    assert len(elements.in_chart("chart-change", "g", "night")) == 5
    fills = Counter(bar["fill"] for bar in bars)
    assert fills["#7a0010"] == 3  # critical: new on nights 1 and 2, closed on night 5


def test_the_runs_table_links_each_finished_runs_manifest_relative_to_the_page(page: str) -> None:
    links = [attrs["href"] for tag, attrs, _ in parsed(page).tags if tag == "a"]
    assert links[0] == "runs/2026/11/22/20261122T020000Z-0f06/manifest.json"
    assert len(links) == 6, "the run still uploading has no manifest to link"


def test_links_are_absolute_under_the_archive_url_when_asked() -> None:
    page = render_report(CLUSTER, SUMMARIES, archived_runs(), generated_at=GENERATED_AT,
                         archive_url="s3://security-reports/nightly/")  # fmt: skip
    assert 'href="s3://security-reports/nightly/prod-eu/runs/2026/11/22/20261122T020000Z-0f06/manifest.json"' in page


def test_the_page_fetches_nothing_and_runs_no_script(page: str) -> None:
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';' in page
    lowered = page.lower()
    assert not re.search(r"\b(src|href|xlink:href|action|srcset)\s*=\s*[\"']?\s*(https?:)?//", lowered)
    for forbidden in ("<script", "<link", "<img", "<iframe", "<object", "<embed", "@import", "url(", "@font-face"):
        assert forbidden not in lowered, forbidden


def test_everything_from_data_is_escaped() -> None:
    hostile = '<img src="http://evil.example/x" onerror="alert(1)">'
    summary = night(
        "20261122T020000Z-0f06", "partial", (1, 0, 0, 0, 0), (1, 0, 0, 0, 0), (0, 0, 0, 0, 0),
        {hostile: (1, 0, 0, 0, 0)}, failed=(hostile,), top_images=((hostile, 1),),
    )  # fmt: skip
    summary["stages"] = {hostile: {"outcome": hostile, "seconds": 1}}
    page = render_report(CLUSTER, [(summary["run_id"], summary)], [], generated_at=GENERATED_AT)
    assert "<img" not in page and 'onerror="' not in page
    assert page.count("&lt;img src=&quot;http://evil.example/x&quot;") >= 4


def test_an_empty_archive_renders_a_page_that_says_so() -> None:
    page = render_report(CLUSTER, [], [], generated_at=GENERATED_AT)
    text = " ".join(" ".join(parsed(page).texts).split())
    assert "No archived run yet." in text and "No run has a summary yet." in text
    assert "no finding counts: DefectDojo has not run" in text


def test_a_night_without_defectdojo_shows_no_numbers_rather_than_zeros() -> None:
    without_dojo: dict[str, Any] = {key: value for key, value in NIGHT_5.items() if key not in ("findings", "dojo")}
    page = render_report(CLUSTER, [(NIGHT_5["run_id"], without_dojo)], [], generated_at=GENERATED_AT)
    text = " ".join(" ".join(parsed(page).texts).split())
    assert "Critical \u2013 open findings" in text and "DefectDojo did not run" in text


def test_a_year_of_nights_stays_a_few_hundred_kilobytes() -> None:
    start = datetime(2025, 11, 1, 2, tzinfo=UTC)
    namespaces = {f"team-{index:02d}": (0, 1, 2, 1, 0) for index in range(30)}
    summaries: list[tuple[str, dict[str, Any] | None]] = []
    for day in range(400):
        run_id = f"{start + timedelta(days=day):%Y%m%dT%H%M%SZ}-{day:04x}"
        summaries.append((run_id, night(run_id, "complete", (0, 30, 60, 30, 0), (0, 1, 1, 1, 0), (0, 1, 1, 1, 0),
                                        namespaces, top_images=NIGHT_6_IMAGES)))  # fmt: skip
    runs = [ArchivedRun.from_run_id(run_id, complete=True, size=2_000_000) for run_id, _ in summaries]
    page = render_report(CLUSTER, summaries, runs, generated_at=GENERATED_AT)
    assert len(page.encode()) < 400_000
    elements = parsed(page)
    assert len(elements.in_chart("chart-namespace", "path", "series")) == 9, "8 namespaces and the others"
    assert "the newest 180 of 400 runs" in page


NIGHT_6_IMAGES = tuple((str(entry["image"]), int(entry["critical"])) for entry in NIGHT_6["top_images"])


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [(0, 0, [0, 1]), (0, 44, [0, 20, 40, 60]), (0, 7, [0, 2, 4, 6, 8]), (-17, 7, [-20, -10, 0, 10]),
     (0, 1234, [0, 500, 1000, 1500])],
)  # fmt: skip
def test_axis_ticks_are_round_and_cover_the_values(low: int, high: int, ticks: list[int]) -> None:
    assert nice_ticks(low, high) == ticks


def test_publish_report_stores_the_page_where_its_links_reach_the_manifests(tmp_path: Path) -> None:
    store = FileStore((tmp_path / "archive").as_uri())
    store.check()
    store.put_bytes(b'{"status": "complete", "kinds": []}', keys.manifest_key(CLUSTER, NIGHT_6["run_id"]))
    store.put_bytes(json.dumps(NIGHT_6).encode(), keys.summary_key(CLUSTER, NIGHT_6["run_id"]))
    key = publish_report(store, CLUSTER, now=GENERATED_AT)
    assert key == "prod-eu/report.html"
    page_path = tmp_path / "archive" / "prod-eu" / "report.html"
    elements = parsed(page_path.read_text())
    assert "generated 2026-11-23 07:30 UTC" in " ".join(" ".join(elements.texts).split())
    (link,) = [attrs["href"] for tag, attrs, _ in elements.tags if tag == "a"]
    assert link is not None and (page_path.parent / link).is_file()
    assert len(elements.in_chart("chart-severity", "circle")) == 5, "the archived night is on the page"
