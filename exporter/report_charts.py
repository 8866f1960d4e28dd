"""Charts of the report page as inline SVG, from plain numbers: no script, no font, nothing fetched.

The page is read where the internet may not be (an air-gapped bastion, a bucket opened from a laptop on a train),
so the charts are drawn here, in Python, as SVG text the browser renders on its own. Every string from data is
escaped. The x axis is time (a run's start), so nights thinned out by retention are spaced as they happened, and a
night without numbers is a gap, not a zero.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape

WIDTH, HEIGHT = 640, 270
LEFT, RIGHT, TOP, BOTTOM = 58, 14, 12, 44
INSET = 12  # px between the plot's edge and the first or last night, so end points and bars are not cut
NO_DATA = "no finding counts: DefectDojo has not run"
MARKERS_UP_TO = 60  # nights; beyond that a dot per night is clutter, and only isolated nights get one


@dataclass(frozen=True)
class Series:
    """One line: a value per night (aligned with the chart's times), None where the night has no number."""

    label: str
    colour: str
    values: tuple[int | None, ...]
    dash: str = ""


@dataclass(frozen=True)
class Stack:
    """One bar segment kind of a diverging bar chart: values above the axis (`up`) and below it (`down`)."""

    label: str
    colour: str
    up: tuple[int | None, ...]
    down: tuple[int | None, ...]


def line_chart(
    chart_id: str, title: str, description: str, times: Sequence[datetime], series: Sequence[Series], y_label: str
) -> str:
    """A line per series over time; dots carry a tooltip (`<title>`) with the night and the value."""
    top = max((value for line in series for value in line.values if value is not None), default=0)
    ticks = nice_ticks(0, top)
    frame = _Frame(times, ticks[0], ticks[-1])
    markers = len(times) <= MARKERS_UP_TO
    paths = [_line(frame, line, times, markers=markers) for line in series]
    body = "".join(paths) or _no_data()
    return _svg(chart_id, title, description, frame, ticks, y_label, body)


def diverging_bars(
    chart_id: str, title: str, description: str, times: Sequence[datetime], stacks: Sequence[Stack], y_label: str
) -> str:
    """Per night, the `up` values stacked above zero and the `down` values below it (new above, closed below)."""
    up_total = [sum(stack.up[i] or 0 for stack in stacks) for i in range(len(times))]
    down_total = [sum(stack.down[i] or 0 for stack in stacks) for i in range(len(times))]
    ticks = nice_ticks(-max(down_total, default=0), max(up_total, default=0))
    frame = _Frame(times, ticks[0], ticks[-1])
    width = frame.bar_width()
    nights = []
    for index, moment in enumerate(times):
        if all(stack.up[index] is None and stack.down[index] is None for stack in stacks):
            continue
        rects = _stacked(frame, stacks, index, width, upward=True) + _stacked(frame, stacks, index, width, upward=False)
        tip = f"{_when(moment)}: {up_total[index]:,} new, {down_total[index]:,} closed"
        nights.append(f'<g class="night"><title>{escape(tip)}</title>{rects}</g>')
    zero = f'<line class="zero" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{frame.y(0):.1f}" y2="{frame.y(0):.1f}"/>'
    body = ("".join(nights) + zero) if nights else _no_data()
    return _svg(chart_id, title, description, frame, ticks, y_label, body, signed=True)


def nice_ticks(low: int, high: int, count: int = 5) -> list[int]:
    """Round tick values (1, 2 or 5 times a power of ten) covering low..high, zero among them."""
    span = max(high - low, 1)
    raw = span / (count - 1)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    last = max(math.ceil(high / step) * step, first + step)
    return list(range(first, last + step, step))


class _Frame:
    """The plot area and its scales: time to x, value to y."""

    def __init__(self, times: Sequence[datetime], low: int, high: int) -> None:
        self.times = times
        self.low, self.high = low, high
        first, last = (min(times), max(times)) if times else (datetime(2000, 1, 1, tzinfo=UTC),) * 2
        if first == last:
            first, last = first - timedelta(hours=12), last + timedelta(hours=12)
        self.first, self.last = first, last

    def x(self, moment: datetime) -> float:
        share = (moment - self.first) / (self.last - self.first)
        return LEFT + INSET + share * (WIDTH - LEFT - RIGHT - 2 * INSET)

    def y(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low)
        return HEIGHT - BOTTOM - share * (HEIGHT - TOP - BOTTOM)

    def bar_width(self) -> float:
        """At most 70% of the closest two nights' distance, between 2 and 18 px."""
        xs = sorted(self.x(moment) for moment in self.times)
        gaps = [b - a for a, b in itertools.pairwise(xs) if b > a]
        return max(2.0, min(18.0, 0.7 * min(gaps, default=36.0)))


def _svg(
    chart_id: str, title: str, description: str, frame: _Frame, ticks: list[int], y_label: str, body: str,
    *, signed: bool = False,
) -> str:  # fmt: skip
    ids = f"{chart_id}-title {chart_id}-desc"
    return (
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{ids}" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(description)}</desc>'
        f"{_y_axis(frame, ticks, y_label, signed=signed)}{_x_axis(frame)}{body}</svg>"
    )


def _y_axis(frame: _Frame, ticks: list[int], label: str, *, signed: bool) -> str:
    lines, labels = [], []
    for tick in ticks:
        y = frame.y(tick)
        lines.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        shown = f"{abs(tick):,}" if signed else f"{tick:,}"
        labels.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{shown}</text>')
    middle = (TOP + HEIGHT - BOTTOM) / 2
    title = (
        f'<text class="axis-title" transform="translate(14 {middle:.0f}) rotate(-90)" text-anchor="middle">'
        f"{escape(label)}</text>"
    )
    return f'<g class="grid">{"".join(lines)}</g><g class="axis y">{"".join(labels)}</g>{title}'


def _x_axis(frame: _Frame) -> str:
    base = HEIGHT - BOTTOM
    parts = [f'<line class="baseline" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}"/>']
    for moment, text in _night_ticks(frame):
        x = frame.x(moment)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{base}" y2="{base + 4}"/>')
        parts.append(f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">{escape(text)}</text>')
    title = f'<text class="axis-title" x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 4}" text-anchor="middle">'
    return f'<g class="axis x">{"".join(parts)}</g>{title}night (run start, UTC)</text>'


def _night_ticks(frame: _Frame, most: int = 7) -> list[tuple[datetime, str]]:
    """Ticks on nights that exist, spread evenly in time, never closer than their labels are wide.

    A label names the day; the year too when the nights span two, the hour when two nights share a day.
    """
    nights = sorted(set(frame.times))
    if not nights:
        return []
    days = {moment.date() for moment in nights}
    label = "%d %b %H:%M" if len(days) < len(nights) else "%d %b %Y" if nights[0].year != nights[-1].year else "%d %b"
    room = 8 + 6.5 * len(f"{nights[0]:{label}}")
    targets = [nights[0] + (nights[-1] - nights[0]) * step / (most - 1) for step in range(most)] if most > 1 else []
    picked = sorted({min(nights, key=lambda moment: abs(moment - target)) for target in targets} | {nights[0]})
    ticks: list[tuple[datetime, str]] = []
    for moment in picked:
        if not ticks or frame.x(moment) - frame.x(ticks[-1][0]) >= room:
            ticks.append((moment, f"{moment:{label}}"))
    return ticks


def _line(frame: _Frame, series: Series, times: Sequence[datetime], *, markers: bool) -> str:
    """The series as one path; a night without a value breaks it, so a gap is never drawn as a slope."""
    commands, dots, run = [], [], 0
    for index, value in enumerate(series.values):
        if value is None:
            run = 0
            continue
        x, y = frame.x(times[index]), frame.y(value)
        commands.append(f"{'L' if run else 'M'}{x:.1f} {y:.1f}")
        run += 1
        isolated = (index == 0 or series.values[index - 1] is None) and (
            index + 1 == len(series.values) or series.values[index + 1] is None
        )
        if markers or isolated:
            tip = escape(f"{_when(times[index])}: {series.label} {value:,}")
            dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{series.colour}"><title>{tip}</title></circle>')
    if not commands:
        return ""
    dash = f' stroke-dasharray="{series.dash}"' if series.dash else ""
    return (
        f'<g class="line" data-series="{escape(series.label)}"><path class="series" d="{" ".join(commands)}" '
        f'fill="none" stroke="{series.colour}" stroke-width="2.2" stroke-linejoin="round"{dash}/>{"".join(dots)}</g>'
    )


def _stacked(frame: _Frame, stacks: Sequence[Stack], index: int, width: float, *, upward: bool) -> str:
    x = frame.x(frame.times[index]) - width / 2
    rects, level = [], 0
    for stack in stacks:
        value = (stack.up if upward else stack.down)[index] or 0
        if value <= 0:
            continue
        start, end = (level, level + value) if upward else (-level - value, -level)
        top, bottom = frame.y(end), frame.y(start)
        rects.append(
            f'<rect class="bar" x="{x:.1f}" y="{top:.1f}" width="{width:.1f}" height="{bottom - top:.1f}" '
            f'fill="{stack.colour}"/>'
        )
        level += value
    return "".join(rects)


def _no_data() -> str:
    x, y = (LEFT + WIDTH - RIGHT) / 2, (TOP + HEIGHT - BOTTOM) / 2
    return f'<text class="no-data" x="{x:.0f}" y="{y:.0f}" text-anchor="middle">{NO_DATA}</text>'


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"
