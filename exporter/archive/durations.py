"""Spans of calendar time, as restic writes them (`1y6m2w3d12h`): retention's `keep_within` and grace period.

Calendar arithmetic is our own (`_shift_months`) rather than dateutil's relativedelta, which is not a dependency of
this project.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from exporter.errors import ConfigError

_DURATION = re.compile(r"(?:[0-9]+[ymwdh])+")
_DURATION_PART = re.compile(r"([0-9]+)([ymwdh])")


@dataclass(frozen=True)
class Duration:
    """A span in calendar units, as restic's `Duration`: one month back from March 31 is February 28, not 30 days."""

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    hours: int = 0

    def __str__(self) -> str:
        amounts = (self.years, self.months, self.weeks, self.days, self.hours)
        return "".join(f"{amount}{unit}" for amount, unit in zip(amounts, "ymwdh", strict=True) if amount) or "0d"

    def zero(self) -> bool:
        return not (self.years or self.months or self.weeks or self.days or self.hours)

    def before(self, moment: datetime) -> datetime:
        """The moment this long before `moment`; the start of the calendar if that lies before year 1."""
        try:
            shifted = _shift_months(moment, -(12 * self.years + self.months))
            return shifted - timedelta(weeks=self.weeks, days=self.days, hours=self.hours)
        except (ValueError, OverflowError):
            return datetime.min.replace(tzinfo=UTC)


def parse_duration(text: str) -> Duration:
    """`1y6m2w3d12h` as restic writes it, plus `w` for weeks. `m` is months, not minutes, as in restic: nightly
    runs have no use for minutes. A unit given twice adds up."""
    compact = text.strip()
    if not _DURATION.fullmatch(compact):
        raise ConfigError(
            f"retention duration {text!r} is not like 30d, 1y6m, 2w or 12h: "
            "write numbers followed by y (years), m (months), w (weeks), d (days) or h (hours)"
        )
    amounts = dict.fromkeys("ymwdh", 0)
    for number, unit in _DURATION_PART.findall(compact):
        amounts[unit] += int(number)
    return Duration(years=amounts["y"], months=amounts["m"], weeks=amounts["w"], days=amounts["d"], hours=amounts["h"])


def _shift_months(moment: datetime, months: int) -> datetime:
    """Calendar month arithmetic that clamps the day to the month's length (as relativedelta; Go's AddDate, which
    restic uses, would roll March 31 minus a month over to March 3 and keep less than asked for)."""
    year, month_index = divmod(moment.year * 12 + moment.month - 1 + months, 12)
    day = min(moment.day, calendar.monthrange(year, month_index + 1)[1])
    return moment.replace(year=year, month=month_index + 1, day=day)
