"""The report page: one static HTML file per cluster, from the archived runs and their summaries.

A pure function of its inputs: `render_report(cluster, summaries, runs)` returns the page from whole summaries,
`render_page(cluster, trends, latest, runs)` from each night's trend (exporter.archive.summaries.NightTrend, as the
page's index keeps them) and the newest summary; the first is the second after `night_trend`, so both draw the same
page. Reading the archive and writing the file are the caller's (`exporter.report_page`).

The page stands alone: styles inline, charts as inline SVG (exporter.report_charts), no script, no font or image
fetched, and a Content-Security-Policy that forbids the browser to fetch anything, so it reads the same on a bastion
without internet as on a laptop. Everything from data (cluster, run ids, kinds, namespaces, images, errors) is
escaped.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape

from exporter import summary_fields as fields
from exporter.archive import keys
from exporter.archive.archived_run import ArchivedRun
from exporter.archive.summaries import NightTrend, RunSummary, night_trend
from exporter.dojo.statistics import SEVERITIES
from exporter.report_charts import Series, Stack, diverging_bars, line_chart
from exporter.report_style import STYLE
from exporter.rundir import layout

SEVERITY_COLOURS = {"critical": "#7a0010", "high": "#d1421b", "medium": "#c98a00", "low": "#2b6cb0", "info": "#7b8794"}
NAMESPACE_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#1d2330", "#8c6d31")
OTHER_COLOUR, OTHER_DASH = "#9aa0a6", "5 3"
OUTCOME_CLASSES = {"complete": "ok", "partial": "warn", "failed": "bad", "incomplete": "warn"}
NONE, MINUS = "&ndash;", "&minus;"  # entities: the page is HTML, and the source stays ASCII
CHART_NIGHTS = 180  # the charts show the newest nights; the runs table lists every run
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def render_report(
    cluster: str,
    summaries: Sequence[RunSummary],
    runs: Sequence[ArchivedRun],
    *,
    generated_at: datetime | None = None,
    archive_url: str | None = None,
) -> str:
    """The page for `cluster`: `summaries` as `read_summaries` gives them (oldest first), `runs` as `list_runs`.

    Links to manifests are relative to where `publish_report` stores the page (`<cluster>/report.html`), or absolute
    under `archive_url` (`s3://bucket/prefix`, `file:///path`) for a page written elsewhere.
    """
    summarized = [(run_id, summary) for run_id, summary in summaries if summary is not None]
    trends = [night_trend(run_id, summary) for run_id, summary in summaries]
    latest = summarized[-1] if summarized else None
    return render_page(cluster, trends, latest, runs, generated_at=generated_at, archive_url=archive_url)


def render_page(
    cluster: str,
    trends: Sequence[NightTrend],
    latest: RunSummary | None,
    runs: Sequence[ArchivedRun],
    *,
    generated_at: datetime | None = None,
    archive_url: str | None = None,
) -> str:
    """The page from every run's trend (oldest first) and the whole summary of the newest night that has one
    (`latest`, None when no night has): only that night's details (stages, failed kinds, top images) are shown."""
    generated = generated_at or datetime.now(UTC)
    body = [
        _header(cluster, generated, len(runs), latest),
        _newest_notice(trends, runs, latest),
        _key_numbers(latest),
        '<div class="row">',
        _severity_chart(trends),
        _change_chart(trends),
        "</div>",
        '<div class="row">',
        _namespace_chart(trends),
        f'<div class="stack">{_last_night(latest)}{_top_images(latest)}</div>',
        "</div>",
        _runs_table(cluster, trends, runs, archive_url),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Security findings: {escape(cluster)}</title><style>{STYLE}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def _header(cluster: str, generated: datetime, run_count: int, latest: RunSummary | None) -> str:
    night = f"last summarized night {escape(latest[0])}" if latest else "no summarized night yet"
    return (
        f'<header><h1>Security findings <span class="cluster">{escape(cluster)}</span></h1>'
        f'<p class="meta">{night} · {run_count} archived {"run" if run_count == 1 else "runs"} · generated '
        f'<time datetime="{generated:%Y-%m-%dT%H:%M:%SZ}">{generated:%Y-%m-%d %H:%M} UTC</time></p></header>'
    )


def _newest_notice(trends: Sequence[NightTrend], runs: Sequence[ArchivedRun], latest: RunSummary | None) -> str:
    """Say so when the newest run is not the one the numbers come from (still uploading, or no summary)."""
    run_ids = sorted({run.run_id for run in runs} | {trend.run_id for trend in trends})
    if not run_ids or (latest is not None and run_ids[-1] == latest[0]):
        return ""
    status = next((run.status for run in runs if run.run_id == run_ids[-1]), "listed")
    source = f"the numbers below are from {escape(latest[0])}" if latest else "no run has a summary yet"
    return f'<p class="notice">The newest run, {escape(run_ids[-1])} ({escape(status)}), has no summary; {source}.</p>'


def _key_numbers(latest: RunSummary | None) -> str:
    """Open findings per severity, with what the last night opened and closed; then the last night's outcome."""
    summary = latest[1] if latest else None
    active, new, closed = (fields.findings(summary, which) for which in ("active", "new", "closed"))
    cards = []
    for severity in SEVERITIES:
        value = NONE if active is None else f"{active[severity]:,}"
        change = _change_text(new, closed, severity)
        cards.append(
            f'<div class="card" style="--sev:{SEVERITY_COLOURS[severity]}"><div class="label">{severity.title()}'
            f'</div><div class="value">{value}</div><div class="change">{change}</div></div>'
        )
    outcome = fields.text(summary, "outcome") or "unknown"
    failed = fields.failed_kinds(summary)
    detail = f"{len(failed)} kinds failed" if failed else "every kind read"
    if latest is not None:
        detail = f"{layout.run_started_at(latest[0]):%d %b} · {detail}"
    cards.append(
        f'<div class="card outcome"><div class="label">Last night</div>'
        f'<div class="value"><span class="badge {OUTCOME_CLASSES.get(outcome, "warn")}">{escape(outcome)}</span></div>'
        f'<div class="change">{detail if summary else "no summary"}</div></div>'
    )
    note = (
        ""
        if summary is None or active is not None
        else '<p class="notice">The last night has no finding counts: DefectDojo did not run.</p>'
    )
    return f'<section class="cards" aria-label="open findings per severity">{"".join(cards)}</section>{note}'


def _change_text(new: Mapping[str, int] | None, closed: Mapping[str, int] | None, severity: str) -> str:
    if new is None or closed is None:
        return "open findings"
    opened, fixed = new[severity], closed[severity]
    return (
        f'<span class="{"up" if opened else "zero"}">+{opened:,} new</span> · '
        f'<span class="{"down" if fixed else "zero"}">{MINUS}{fixed:,} closed</span>'
    )


def _severity_chart(trends: Sequence[NightTrend]) -> str:
    times, shown = _chart_nights(trends)
    active = [trend.findings("active") for trend in shown]
    series = [Series(severity, SEVERITY_COLOURS[severity], _column(active, severity)) for severity in SEVERITIES]
    chart = line_chart(
        "chart-severity", "Open findings per severity", "Findings open in DefectDojo after each night, per severity.",
        times, series, "open findings",
    )  # fmt: skip
    return _panel("Open findings per severity", _window_note(trends), chart, _legend(series))


def _change_chart(trends: Sequence[NightTrend]) -> str:
    times, shown = _chart_nights(trends)
    new = [trend.findings("new") for trend in shown]
    closed = [trend.findings("closed") for trend in shown]
    stacks = [
        Stack(severity, SEVERITY_COLOURS[severity], _column(new, severity), _column(closed, severity))
        for severity in SEVERITIES
    ]
    chart = diverging_bars(
        "chart-change", "New and closed findings per night",
        "Findings each night opened (above the line) and closed (below it), stacked by severity.",
        times, stacks, "closed  |  new",
    )  # fmt: skip
    legend = _legend([Series(stack.label, stack.colour, ()) for stack in stacks], bars=True)
    return _panel("New and closed per night", "opened above the line, closed below it, by severity", chart, legend)


def _namespace_chart(trends: Sequence[NightTrend], most: int = len(NAMESPACE_COLOURS)) -> str:
    """The namespaces with the most open findings on the latest night that has them, and the rest as `other`."""
    times, shown = _chart_nights(trends)
    per_night = [trend.namespaces for trend in shown]
    latest = next((night for night in reversed(per_night) if night), {})
    top = sorted(latest, key=lambda scope: (-latest[scope], scope))[:most]
    series = [
        Series(scope, colour, _column(per_night, scope)) for scope, colour in zip(top, NAMESPACE_COLOURS, strict=False)
    ]
    others = {scope for night in per_night if night for scope in night} - set(top)
    if others:
        rest = tuple(None if night is None else sum(night.get(scope, 0) for scope in others) for night in per_night)
        series.append(Series(f"{len(others)} other namespaces", OTHER_COLOUR, rest, OTHER_DASH))
    chart = line_chart(
        "chart-namespace", "Open findings per namespace",
        f"Findings open after each night in the {len(top)} namespaces with the most on the latest night.",
        times, series, "open findings",
    )  # fmt: skip
    note = (
        f"the {len(top)} namespaces with the most open findings now; `cluster`: cluster-scoped reports"
        if top
        else "per namespace, once DefectDojo has counted findings"
    )
    return _panel("Open findings per namespace", note, chart, _legend(series))


def _chart_nights(trends: Sequence[NightTrend]) -> tuple[list[datetime], Sequence[NightTrend]]:
    """The nights the charts show (the newest CHART_NIGHTS): their start times and trends."""
    shown = trends[-CHART_NIGHTS:]
    return [layout.run_started_at(trend.run_id) for trend in shown], shown


def _column(nights: Sequence[Mapping[str, int] | None], key: str) -> tuple[int | None, ...]:
    """One value per night: the night's count for `key`, 0 when the night lacks it, None for a night without counts."""
    return tuple(None if night is None else night.get(key, 0) for night in nights)


def _last_night(latest: RunSummary | None) -> str:
    if latest is None:
        return _section("Last night", '<p class="muted">No run has a summary yet.</p>')
    run_id, summary = latest
    outcome = fields.text(summary, "outcome") or "unknown"
    failed = fields.failed_kinds(summary)
    kinds = "".join(f'<li class="chip bad">{escape(plural)}</li>' for plural in failed) or "<li>none</li>"
    stages = "".join(
        f"<tr><td>{escape(name)}</td><td>{_badge(stage_outcome)}</td>"
        f'<td class="num">{NONE if seconds is None else f"{seconds:,.1f} s"}</td></tr>'
        for name, stage_outcome, seconds in fields.stages(summary)
    )
    tests = ", ".join(f"{count:,} {escape(fate)}" for fate, count in fields.dojo_tests(summary).items() if count)
    facts = [
        ("run", f"{escape(run_id)} ({escape(fields.text(summary, 'run_status') or '?')})"),
        ("outcome", _badge(outcome)),
        ("objects", f"{fields.count(fields.mapping(summary).get('objects')) or 0:,}"),
        ("archived", escape(fields.size_text(fields.count(fields.mapping(summary).get("archived_bytes"))))),
        ("DefectDojo tests", tests or NONE),
    ]
    rows = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in facts)
    body = (
        f'<table class="facts">{rows}</table><h3>Failed kinds</h3><ul class="chips">{kinds}</ul>'
        f'<table class="stages"><thead><tr><th>stage</th><th>outcome</th><th class="num">took</th></tr></thead>'
        f"<tbody>{stages}</tbody></table>"
    )
    return _section("Last night", body)


def _top_images(latest: RunSummary | None) -> str:
    images = fields.top_images(latest[1] if latest else None)
    if not images:
        return _section("Top images by Critical", '<p class="muted">No image with Critical vulnerabilities.</p>')
    most = max(count for _, count in images) or 1
    rows = "".join(
        f'<tr><td class="image" title="{escape(image)}">{escape(image)}</td><td class="num">{count:,}</td>'
        f'<td class="barcell"><span class="hbar" style="width:{100 * count / most:.0f}%"></span></td></tr>'
        for image, count in images
    )
    head = '<thead><tr><th>image</th><th class="num">critical</th><th></th></tr></thead>'
    return _section("Top images by Critical", f'<table class="images">{head}<tbody>{rows}</tbody></table>')


def _runs_table(
    cluster: str, trends: Sequence[NightTrend], runs: Sequence[ArchivedRun], archive_url: str | None
) -> str:
    by_id = {trend.run_id: trend for trend in trends}
    listed = {run.run_id: run for run in runs}
    rows = []
    for run_id in sorted(set(listed) | set(by_id), reverse=True):
        run, trend = listed.get(run_id), by_id.get(run_id, NightTrend(run_id))
        status = run.status if run else "listed"
        title = escape(run.status_text) if run else ""
        active, new, closed = (trend.findings(which) for which in ("active", "new", "closed"))
        cells = [f'<td class="num">{NONE if active is None else f"{active[s]:,}"}</td>' for s in SEVERITIES]
        change = NONE if new is None or closed is None else f"+{sum(new.values()):,} / {MINUS}{sum(closed.values()):,}"
        link = _manifest_link(cluster, run_id, archive_url) if run is None or run.complete else NONE
        rows.append(
            f"<tr><td><code>{escape(run_id)}</code></td><td>{layout.run_started_at(run_id):%Y-%m-%d %H:%M}</td>"
            f'<td title="{title}">{_badge(status)}</td><td>{_badge_or_none(trend.outcome)}</td>'
            f'<td class="num">{fields.size_text(run.size if run else None)}</td>{"".join(cells)}'
            f'<td class="num">{change}</td><td>{link}</td></tr>'
        )
    head = "".join(f'<th class="num sev-{s}">{s}</th>' for s in SEVERITIES)
    table = (
        '<div class="scroll"><table class="runs"><thead><tr class="group"><th colspan="5"></th>'
        '<th colspan="5" class="num">open findings after the night</th><th colspan="2"></th></tr>'
        '<tr><th>run</th><th>started (UTC)</th><th>status</th><th>outcome</th><th class="num">size</th>'
        f'{head}<th class="num">new / closed</th><th>manifest</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
        "</div>"
    )
    return _section(f"Archived runs ({len(rows)})", table if rows else '<p class="muted">No archived run yet.</p>')


def _manifest_link(cluster: str, run_id: str, archive_url: str | None) -> str:
    key = keys.manifest_key(cluster, run_id)
    href = (
        f"{archive_url.rstrip('/')}/{key}"
        if archive_url
        else posixpath.relpath(key, posixpath.dirname(keys.report_key(cluster)))
    )
    return f'<a href="{escape(href)}">manifest.json</a>'


def _panel(title: str, note: str, chart: str, legend: str) -> str:
    return f'<section class="panel"><h2>{escape(title)}</h2><p class="sub">{escape(note)}</p>{chart}{legend}</section>'


def _section(title: str, body: str) -> str:
    return f'<section class="panel"><h2>{escape(title)}</h2>{body}</section>'


def _legend(series: Sequence[Series], *, bars: bool = False) -> str:
    items = []
    for line in series:
        dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
        mark = (
            f'<rect x="5" width="12" height="12" y="1" fill="{line.colour}"/>' if bars
            else f'<line x1="0" x2="22" y1="7" y2="7" stroke="{line.colour}" stroke-width="3"{dash}/>'
        )  # fmt: skip
        items.append(
            f'<li><svg class="key" width="22" height="14" aria-hidden="true">{mark}</svg>{escape(line.label)}</li>'
        )
    return f'<ul class="legend">{"".join(items)}</ul>'


def _badge(outcome: str) -> str:
    css = OUTCOME_CLASSES.get(outcome, "plain")
    return f'<span class="badge {css}">{escape(outcome)}</span>'


def _badge_or_none(outcome: str | None) -> str:
    return NONE if outcome is None else _badge(outcome)


def _window_note(trends: Sequence[NightTrend]) -> str:
    if len(trends) > CHART_NIGHTS:
        return f"the newest {CHART_NIGHTS} of {len(trends)} runs; a gap is a night without finding counts"
    return "after each night; a gap is a night without finding counts"
