"""The report page in a real headless Chromium: it draws its charts, fits a laptop's first view, fetches nothing.

Debian's `chromium` (`.ci/run` installs it). Without it the tests skip on a developer's machine and fail under CI
(env CI set), so a runner without a browser cannot pass by skipping. The page has no script of its own; to measure
what the browser laid out, a copy of it gets a probe script (and loses the policy that forbids scripts) and is read
back with `--dump-dom`. The screenshot and the network log are taken of the page itself.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from exporter.report import render_report
from tests.report_fixtures import CLUSTER, GENERATED_AT, SUMMARIES, archived_runs, night

PROBE = """<script>
const box = (element) => element.getBoundingClientRect();
const drawn = (element) => { const b = element.getBBox(); return b.width > 0 || b.height > 0; };
const charts = {};
for (const svg of document.querySelectorAll("svg.chart")) {
  charts[svg.id] = {
    width: box(svg).width, height: box(svg).height,
    lines: [...svg.querySelectorAll("path.series")].filter(drawn).length,
    bars: [...svg.querySelectorAll("rect.bar")].filter((r) => box(r).width > 0 && box(r).height > 0).length,
    dots: [...svg.querySelectorAll("circle")].filter(drawn).length,
    texts: [...svg.querySelectorAll("text")].filter((t) => t.textContent.trim() && box(t).width > 0)
      .map((t) => t.textContent),
    legend: svg.parentElement.querySelectorAll(".legend li").length,
  };
}
const bottom = (selector) => box(document.querySelector(selector)).bottom;
const probe = document.createElement("pre");
probe.id = "probe";
probe.textContent = JSON.stringify({
  charts, viewport: [innerWidth, innerHeight], scrollWidth: document.documentElement.scrollWidth,
  cardsBottom: bottom(".cards"), firstChartsBottom: bottom(".row"),
  overflowing: [...document.querySelectorAll("body *")]
    .filter((e) => !e.closest(".scroll") && box(e).right > innerWidth + 1)
    .map((e) => e.tagName + "." + e.className).slice(0, 5),
});
document.body.append(probe);
</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "chromium not found: apt-get install -y chromium (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    path.write_text(render_report(CLUSTER, SUMMARIES, archived_runs(), generated_at=GENERATED_AT), encoding="utf-8")
    return path


def browse(chromium: str, page: Path, *arguments: str, size: tuple[int, int] = (1280, 800)) -> str:
    """Run headless Chromium on `page` with a profile of its own; its standard output."""
    profile = page.parent / f"profile-{page.stem}-{size[0]}"
    command = [
        chromium, "--headless", "--disable-gpu", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars",
        "--no-first-run", f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}", *arguments,
        page.as_uri(),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def measured(chromium: str, page: Path, size: tuple[int, int] = (1280, 800)) -> dict[str, Any]:
    """What the probe saw of the laid-out page."""
    html = page.read_text()
    start = html.index('<meta http-equiv="Content-Security-Policy"')
    html = html[:start] + html[html.index(">", start) + 1 :]
    probed = page.with_name(f"probed-{page.name}")
    probed.write_text(html.replace("</body>", PROBE + "</body>"))
    dom = browse(chromium, probed, "--dump-dom", "--virtual-time-budget=2000", size=size)
    start = dom.index('<pre id="probe">') + len('<pre id="probe">')
    text = dom[start : dom.index("</pre>", start)]
    return json.loads(text.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))


def page_requests(chromium: str, page: Path) -> list[str]:
    """The URLs the page made the browser request, from Chromium's network log.

    Chromium requests things of its own (updates, time); those have no initiator. A page's requests carry its
    origin (`null` for a file:// page) as initiator.
    """
    log = page.with_name(f"netlog-{page.stem}.json")
    browse(chromium, page, "--dump-dom", "--virtual-time-budget=2000", f"--log-net-log={log}")
    netlog = json.loads(log.read_text())
    start_job = netlog["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        event["params"]["url"]
        for event in netlog["events"]
        if event["type"] == start_job and event.get("params", {}).get("initiator") not in (None, "not an origin")
    ]


def test_the_charts_draw_with_their_lines_bars_and_labels(chromium: str, page_file: Path) -> None:
    seen = measured(chromium, page_file)
    charts = seen["charts"]
    assert set(charts) == {"chart-severity", "chart-change", "chart-namespace"}
    for name, chart in charts.items():
        assert chart["width"] > 400 and chart["height"] > 150, name
        assert "night (run start, UTC)" in chart["texts"], name
    assert charts["chart-severity"]["lines"] == 5 and charts["chart-severity"]["dots"] == 25
    assert charts["chart-severity"]["legend"] == 5 and "open findings" in charts["chart-severity"]["texts"]
    assert charts["chart-change"]["bars"] == 24 and charts["chart-change"]["legend"] == 5
    assert charts["chart-namespace"]["lines"] == 5 and charts["chart-namespace"]["legend"] == 5
    assert {"17 Nov", "22 Nov"} <= set(charts["chart-severity"]["texts"])


def test_a_laptop_screen_shows_the_numbers_and_the_first_charts_without_scrolling_sideways(
    chromium: str, page_file: Path
) -> None:
    seen = measured(chromium, page_file)
    width, height = seen["viewport"]  # the window's 800 px less what headless Chromium keeps for itself
    assert width == 1280 and height > 600
    assert seen["cardsBottom"] < 250, "the open findings per severity are at the top"
    assert seen["firstChartsBottom"] <= height, "the first two charts fit the first view"
    assert seen["scrollWidth"] <= 1280 and seen["overflowing"] == []


def test_a_narrow_window_gets_one_column_and_no_sideways_scrolling(chromium: str, page_file: Path) -> None:
    seen = measured(chromium, page_file, size=(500, 900))  # the narrowest window Chromium opens
    assert seen["viewport"][0] == 500
    assert seen["scrollWidth"] <= 500 and seen["overflowing"] == []
    assert all(400 < chart["width"] <= 500 for chart in seen["charts"].values()), "one chart a row, full width"


def test_the_screenshot_at_1280x800_is_the_page_drawn(chromium: str, page_file: Path) -> None:
    shot = page_file.with_name("report.png")
    browse(chromium, page_file, f"--screenshot={shot}")
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (1280, 800)
    assert len(png) > 40_000, "an empty or unstyled page compresses to a few kilobytes"


def test_the_page_makes_no_network_request_even_with_hostile_data(chromium: str, tmp_path: Path) -> None:
    canary = tmp_path / "canary.html"
    canary.write_text('<!DOCTYPE html><p>canary</p><img src="http://127.0.0.1:9/canary.png">')
    assert page_requests(chromium, canary) == ["http://127.0.0.1:9/canary.png"], "the network log sees requests"
    hostile = '"><img src="http://127.0.0.1:9/x.png"><link rel=stylesheet href="http://127.0.0.1:9/x.css">'
    summary = night(
        "20261122T020000Z-0f06", "partial", (1, 0, 0, 0, 0), (1, 0, 0, 0, 0), (0, 0, 0, 0, 0),
        {hostile: (1, 0, 0, 0, 0)}, failed=(hostile,), top_images=((hostile, 1),),
    )  # fmt: skip
    page = tmp_path / "hostile.html"
    page.write_text(render_report(CLUSTER, [*SUMMARIES[:-1], (summary["run_id"], summary)], archived_runs()))
    assert page_requests(chromium, page) == []
