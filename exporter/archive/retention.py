"""Which archived runs of a cluster to keep: restic's `forget` policy, planned purely, explained run by run.

The plan is a pure function of the listed runs, the policy and the clock, so `prune --dry-run` prints exactly what
`prune` would delete and why; deleting is a later, separate step in the archive store. The keep rules follow restic's
`internal/data/snapshot_policy.go` (`ExpirePolicy`, `ApplyPolicy`), so a policy means what people who run
`restic forget` expect. An archive that is still being written to needs three more rules, which win over the policy:
the newest complete run and the run just uploaded are never deleted, and a run without a manifest is judged by its
age alone, because it is either an upload in progress or one that died.

A partial run (its manifest says some kinds failed) is valid data and is judged by the keep rules like a complete
one, but it never stands in for the newest complete run: a night whose scans half failed must not be the reason the
last whole night is deleted. Its decision says it is partial, so `prune --dry-run` shows it.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from exporter.config import RetentionSettings
from exporter.errors import ConfigError
from exporter.rundir import layout

NO_POLICY = "no retention policy"
NEWEST_COMPLETE = "newest complete run"
NEWEST_FINISHED = "newest finished run: no complete run exists"
JUST_UPLOADED = "just uploaded"
INCOMPLETE_IN_GRACE = "incomplete, within grace: may still be uploading"
NO_RULE_KEEPS = "no keep rule matched"


@dataclass(frozen=True)
class ArchivedRun:
    """One run in the archive. `complete` means finished: its manifest.json exists (it is uploaded last).

    A finished run is `partial` when its manifest says so or cannot be read; `failed_kinds` are the plurals of the
    kinds that failed, `problem` any other cause in words (malformed objects, an unreadable manifest).
    """

    run_id: str
    started_at: datetime
    complete: bool
    size: int = 0
    partial: bool = False
    failed_kinds: tuple[str, ...] = ()
    problem: str = ""

    def __post_init__(self) -> None:
        # Buckets are UTC days, weeks, months: a naive time would silently be read as the host's local time.
        if self.started_at.tzinfo is None:
            raise ValueError(f"run {self.run_id}: started_at {self.started_at} has no time zone; give it in UTC")
        if self.partial and not self.complete:
            raise ValueError(f"run {self.run_id}: only a finished run (one with a manifest) can be partial")
        if (self.failed_kinds or self.problem) and not self.partial:
            raise ValueError(f"run {self.run_id}: failed kinds or a problem make a run partial; set partial=True")

    @classmethod
    def from_run_id(
        cls,
        run_id: str,
        *,
        complete: bool,
        size: int = 0,
        partial: bool = False,
        failed_kinds: tuple[str, ...] = (),
        problem: str = "",
    ) -> ArchivedRun:
        """The run id is the UTC start time, so a key listing (and, for partial runs, the manifest) is all it takes."""
        started_at = layout.run_started_at(run_id)
        return cls(run_id, started_at, complete, size, partial=partial, failed_kinds=failed_kinds, problem=problem)

    @property
    def status(self) -> str:
        """`complete`, `partial` (finished, but some kinds failed) or `incomplete` (no manifest: uploading or died)."""
        if not self.complete:
            return "incomplete"
        return "partial" if self.partial else "complete"

    @property
    def status_text(self) -> str:
        """The status with what makes a run partial: `partial: failed configauditreports`."""
        if not self.partial:
            return self.status
        causes = [f"failed {', '.join(self.failed_kinds)}"] if self.failed_kinds else []
        causes += [self.problem] if self.problem else []
        return f"partial: {'; '.join(causes) or 'the manifest says so'}"


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


DEFAULT_INCOMPLETE_GRACE = Duration(days=2)


@dataclass(frozen=True)
class RetentionPolicy:
    """restic's `ExpirePolicy` for runs: a plain value that says itself in words. A count of 0 means unset."""

    keep_last: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    keep_yearly: int | None = None
    keep_within: Duration | None = None
    incomplete_grace: Duration = DEFAULT_INCOMPLETE_GRACE

    def __post_init__(self) -> None:
        for rule, count in self._counts():
            if count is not None and count < 0:
                raise ValueError(f"retention keep_{rule.word} is {count}; it must be 0 or more")

    @classmethod
    def from_settings(cls, settings: RetentionSettings) -> RetentionPolicy:
        within = parse_duration(settings.keep_within) if settings.keep_within is not None else None
        return cls(
            keep_last=settings.keep_last,
            keep_daily=settings.keep_daily,
            keep_weekly=settings.keep_weekly,
            keep_monthly=settings.keep_monthly,
            keep_yearly=settings.keep_yearly,
            keep_within=within,
            incomplete_grace=parse_duration(settings.incomplete_grace),
        )

    def empty(self) -> bool:
        """No keep rule set: restic refuses to forget then; here every complete run is kept."""
        return not self.count_rules() and self.within() is None

    def within(self) -> Duration | None:
        """keep_within, or None when unset or zero (restic's `Duration.Zero()`)."""
        return self.keep_within if self.keep_within is not None and not self.keep_within.zero() else None

    def count_rules(self) -> list[tuple[_CountRule, int]]:
        """The keep-n rules that are set, in restic's order: last, daily, weekly, monthly, yearly."""
        return [(rule, count) for rule, count in self._counts() if count]

    def __str__(self) -> str:
        keeps = [rule.phrase(count) for rule, count in self.count_rules()]
        within = self.within()
        if within is not None:
            keeps.append(f"all within {within}")
        kept = f"keep {', '.join(keeps)}" if keeps else f"keep every complete run ({NO_POLICY})"
        return f"{kept}; delete incomplete runs after {self.incomplete_grace}"

    def _counts(self) -> list[tuple[_CountRule, int | None]]:
        counts = (self.keep_last, self.keep_daily, self.keep_weekly, self.keep_monthly, self.keep_yearly)
        return list(zip(_COUNT_RULES, counts, strict=True))


@dataclass(frozen=True)
class Decision:
    """What happens to one run, and why: the rules that keep it, or the reason it goes."""

    run: ArchivedRun
    keep: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RetentionPlan:
    """Every listed run with its decision, newest first; applying it is the store's job."""

    decisions: tuple[Decision, ...]

    @property
    def keep(self) -> tuple[ArchivedRun, ...]:
        return tuple(decision.run for decision in self.decisions if decision.keep)

    @property
    def delete(self) -> tuple[ArchivedRun, ...]:
        return tuple(decision.run for decision in self.decisions if not decision.keep)

    def describe(self) -> list[str]:
        """One line per run for `prune --dry-run`: action, run id, size, reasons."""
        return [
            f"{'keep' if decision.keep else 'delete':<6}  {decision.run.run_id}  {_size(decision.run.size):>10}  "
            f"{'; '.join(decision.reasons)}"
            for decision in self.decisions
        ]

    def summary(self) -> str:
        kept, deleted = self.keep, self.delete
        return (
            f"keep {len(kept)} runs ({_size(sum(run.size for run in kept))}), "
            f"delete {len(deleted)} runs ({_size(sum(run.size for run in deleted))})"
        )


def parse_duration(text: str) -> Duration:
    """`1y6m2w3d12h` as restic writes it, plus `w` for weeks. `m` is months, not minutes, as in restic: nightly
    runs have no use for minutes. A unit given twice adds up. Calendar arithmetic is our own (`_shift_months`) rather
    than dateutil's relativedelta, which is not a dependency of this project."""
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


def plan_retention(
    runs: Iterable[ArchivedRun], policy: RetentionPolicy, *, now: datetime, protect: Collection[str] = ()
) -> RetentionPlan:
    """restic's `ApplyPolicy` over the finished runs, plus the guards an archive being written to needs.

    `protect` names runs that must stay whatever the policy says: the run this invocation just uploaded, which a
    clock-skewed start time could otherwise place outside every rule. Only finished runs (complete or partial) count
    toward keep rules, so a string of failed uploads cannot push the last good runs out of `keep_last`. The newest
    complete run is kept whatever newer partial runs exist; with no complete run, the newest partial one is.
    """
    if now.tzinfo is None:
        raise ValueError(f"now {now} has no time zone; give it in UTC")
    protected = frozenset(protect)
    ordered = sorted(runs, key=_newest_first, reverse=True)
    finished = [run for run in ordered if run.complete]
    by_policy = iter(_apply_policy(finished, policy, now=now))
    newest, newest_reason = _newest_to_keep(finished)
    decisions: list[Decision] = []
    for run in ordered:
        guards = [JUST_UPLOADED] if run.run_id in protected else []
        if run.complete:
            if run is newest:
                guards.append(newest_reason)
            decisions.append(_decide_finished(run, guards, next(by_policy)))
        else:
            decisions.append(_decide_incomplete(run, guards, policy.incomplete_grace, now=now))
    return RetentionPlan(decisions=tuple(decisions))


def _newest_first(run: ArchivedRun) -> tuple[datetime, str, bool, int, bool, tuple[str, ...], str]:
    # Every field takes part, so equal keys mean equal runs and the plan does not depend on the listing's order.
    return (run.started_at, run.run_id, run.complete, run.size, run.partial, run.failed_kinds, run.problem)


def _newest_to_keep(finished: Sequence[ArchivedRun]) -> tuple[ArchivedRun | None, str]:
    """The newest complete run; a partial one only when no run is complete, as the best the archive holds."""
    newest_complete = next((run for run in finished if not run.partial), None)
    if newest_complete is not None:
        return newest_complete, NEWEST_COMPLETE
    return (finished[0] if finished else None), NEWEST_FINISHED


def _decide_finished(run: ArchivedRun, guards: list[str], kept_by: list[str]) -> Decision:
    """Kept by a guard or a rule; a partial run says so last, whatever the decision, for the person reading the plan."""
    marks = (run.status_text,) if run.partial else ()
    reasons = (*guards, *kept_by)
    if reasons:
        return Decision(run=run, keep=True, reasons=(*reasons, *marks))
    return Decision(run=run, keep=False, reasons=(NO_RULE_KEEPS, *marks))


def _decide_incomplete(run: ArchivedRun, guards: list[str], grace: Duration, *, now: datetime) -> Decision:
    """A run without a manifest is an upload in progress or one that died; only its age tells which."""
    if run.started_at >= grace.before(now):
        return Decision(run=run, keep=True, reasons=(*guards, INCOMPLETE_IN_GRACE))
    if guards:
        return Decision(run=run, keep=True, reasons=tuple(guards))
    return Decision(run=run, keep=False, reasons=(f"incomplete for more than {grace}: an upload that never finished",))


def _apply_policy(complete: Sequence[ArchivedRun], policy: RetentionPolicy, *, now: datetime) -> list[list[str]]:
    """The reasons each finished run (newest first) is kept, in restic's order: within, then the counted rules."""
    if policy.empty():
        return [[NO_POLICY] for _ in complete]
    reasons: list[list[str]] = [[] for _ in complete]
    within = policy.within()
    if within is not None:
        for index in _kept_within(complete, within, now=now):
            reasons[index].append(f"within {within}")
    for rule, count in policy.count_rules():
        for index, reason in _kept_by_bucket(complete, rule, count):
            reasons[index].append(reason)
    return reasons


def _kept_within(complete: Sequence[ArchivedRun], within: Duration, *, now: datetime) -> list[int]:
    """Measured from the newest run, not from now (restic's `findLatestTimestamp`), so an archive whose nightly job
    stopped keeps its last `within` of history instead of emptying. A run dated in the future is not the reference;
    with no run at or before now the reference is the start of time, as restic's zero `latest`: all are kept."""
    reference = max((run.started_at for run in complete if run.started_at < now), default=None)
    cutoff = within.before(reference) if reference is not None else datetime.min.replace(tzinfo=UTC)
    return [index for index, run in enumerate(complete) if run.started_at > cutoff]


def _kept_by_bucket(complete: Sequence[ArchivedRun], rule: _CountRule, count: int) -> Iterator[tuple[int, str]]:
    """The newest run of each of the `count` newest buckets that have runs; and, while counts are left, the oldest
    run as well ("oldest daily snapshot"), which restic does since 0.17 so a young archive keeps its longest history."""
    previous: object = _NO_BUCKET
    remaining = count
    for index, run in enumerate(complete):
        if remaining == 0:
            return
        bucket = rule.bucket(run.started_at.astimezone(UTC), index)
        oldest = index == len(complete) - 1
        if bucket == previous and not oldest:
            continue
        yield index, rule.reason if bucket != previous else f"oldest {rule.reason}"
        previous, remaining = bucket, remaining - 1


def _shift_months(moment: datetime, months: int) -> datetime:
    """Calendar month arithmetic that clamps the day to the month's length (as relativedelta; Go's AddDate, which
    restic uses, would roll March 31 minus a month over to March 3 and keep less than asked for)."""
    year, month_index = divmod(moment.year * 12 + moment.month - 1 + months, 12)
    day = min(moment.day, calendar.monthrange(year, month_index + 1)[1])
    return moment.replace(year=year, month=month_index + 1, day=day)


def _size(size: int) -> str:
    """Binary units, as `du -h` and most S3 consoles show them."""
    if size < 1024:
        return f"{size} B"
    amount, unit = size / 1024, "KiB"
    for larger in ("MiB", "GiB", "TiB"):
        if amount < 1024:
            break
        amount, unit = amount / 1024, larger
    return f"{amount:.1f} {unit}"


@dataclass(frozen=True)
class _CountRule:
    """One keep-n rule: `bucket` maps a run's UTC start (and position) to the day, week, ... it counts in."""

    word: str
    reason: str
    bucket: Callable[[datetime, int], object]

    def phrase(self, count: int) -> str:
        if self.word == "last":
            return "the last run" if count == 1 else f"the last {count} runs"
        return f"{count} {self.word}"


def _position(_started: datetime, index: int) -> object:
    return index  # every run is its own bucket: keep_last


def _day(started: datetime, _index: int) -> object:
    return started.date()


def _iso_week(started: datetime, _index: int) -> object:
    iso = started.isocalendar()  # 2027-01-01 is in ISO week 2026-W53, like Go's ISOWeek
    return (iso.year, iso.week)


def _month(started: datetime, _index: int) -> object:
    return (started.year, started.month)


def _year(started: datetime, _index: int) -> object:
    return started.year


_NO_BUCKET = object()
_COUNT_RULES = (
    _CountRule("last", "last snapshot", _position),
    _CountRule("daily", "daily snapshot", _day),
    _CountRule("weekly", "weekly snapshot", _iso_week),
    _CountRule("monthly", "monthly snapshot", _month),
    _CountRule("yearly", "yearly snapshot", _year),
)
_DURATION = re.compile(r"(?:[0-9]+[ymwdh])+")
_DURATION_PART = re.compile(r"([0-9]+)([ymwdh])")
