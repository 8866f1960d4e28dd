"""Which archived runs of a cluster to keep: restic's `forget` policy, planned purely, explained run by run.

The plan is a pure function of the listed runs, the policy and the clock, so `prune --dry-run` prints exactly what
`prune` would delete and why; deleting is a later, separate step in the archive store. The keep rules follow restic's
`internal/data/snapshot_policy.go` (`ExpirePolicy`, `ApplyPolicy`), so a policy means what people who run
`restic forget` expect. An archive that is still being written to needs three more rules, which win over the policy:
the newest complete run and the run just uploaded are never deleted, and a run without a manifest is judged by when
its objects were last written, because it is either an upload in progress or one that died. Its run id says when
the getter started, which says nothing of an upload that started days later (a backlog, a retried night).

A partial run (its manifest says some kinds failed) is valid data and is judged by the keep rules like a complete
one, but it never stands in for the newest complete run: a night whose scans half failed must not be the reason the
last whole night is deleted. Its decision says it is partial, so `prune --dry-run` shows it.

A run id is the getter's clock. A run dated more than FUTURE_TOLERANCE after now came from a clock that was ahead;
taken at its word it would be the newest run, and hold `latest` and a `keep_last` slot, until that date. It is
judged instead by when the store (whose clock this does not depend on) last wrote its objects, and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from exporter.archive.archived_run import ArchivedRun
from exporter.archive.durations import Duration, parse_duration
from exporter.config import RetentionSettings
from exporter.units import binary_size

__all__ = [  # ArchivedRun, Duration and parse_duration live beside the policy and are part of its interface
    "FUTURE_TOLERANCE", "ArchivedRun", "Decision", "Duration", "RetentionPlan", "RetentionPolicy", "dated_in_future",
    "judged_at", "last_written", "parse_duration", "plan_retention",
]  # fmt: skip

NO_POLICY = "no retention policy"
NEWEST_COMPLETE = "newest complete run"
NEWEST_FINISHED = "newest finished run: no complete run exists"
JUST_UPLOADED = "just uploaded"
INCOMPLETE_IN_GRACE = "incomplete, within grace: may still be uploading"
NO_RULE_KEEPS = "no keep rule matched"
# How far ahead of now a run id may be before its clock is distrusted: clocks drift by seconds, not by a day.
FUTURE_TOLERANCE = timedelta(days=1)


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
            f"{'keep' if decision.keep else 'delete':<6}  {decision.run.run_id}  {binary_size(decision.run.size):>10}  "
            f"{'; '.join(decision.reasons)}"
            for decision in self.decisions
        ]

    def summary(self) -> str:
        kept, deleted = self.keep, self.delete
        return (
            f"keep {len(kept)} runs ({binary_size(sum(run.size for run in kept))}), "
            f"delete {len(deleted)} runs ({binary_size(sum(run.size for run in deleted))})"
        )


def plan_retention(
    runs: Iterable[ArchivedRun], policy: RetentionPolicy, *, now: datetime, protect: Collection[str] = ()
) -> RetentionPlan:
    """restic's `ApplyPolicy` over the finished runs, plus the guards an archive being written to needs.

    `protect` names runs that must stay whatever the policy says: the run this invocation just uploaded, which a
    clock-skewed start time could otherwise place outside every rule. Only finished runs (complete or partial) count
    toward keep rules, so a string of failed uploads cannot push the last good runs out of `keep_last`. The newest
    complete run is kept whatever newer partial runs exist; with no complete run, the newest partial one is. Runs
    are ordered and bucketed by `judged_at`: a run dated in the future by the time the store last wrote it.
    """
    if now.tzinfo is None:
        raise ValueError(f"now {now} has no time zone; give it in UTC")
    protected = frozenset(protect)
    ordered = sorted(runs, key=lambda run: _newest_first(run, now), reverse=True)
    finished = [run for run in ordered if run.complete]
    by_policy = iter(_apply_policy([judged_at(run, now) for run in finished], policy, now=now))
    newest, newest_reason = _newest_to_keep(finished)
    decisions: list[Decision] = []
    for run in ordered:
        guards = [JUST_UPLOADED] if run.run_id in protected else []
        marks = _future_marks(run, now)
        if run.complete:
            if run is newest:
                guards.append(newest_reason)
            decisions.append(_decide_finished(run, guards, next(by_policy), marks))
        else:
            decisions.append(_decide_incomplete(run, guards, policy.incomplete_grace, marks, now=now))
    return RetentionPlan(decisions=tuple(decisions))


def dated_in_future(run: ArchivedRun, now: datetime) -> bool:
    """Its run id lies more than FUTURE_TOLERANCE after now: the getter's clock was ahead."""
    return run.started_at > now + FUTURE_TOLERANCE


def judged_at(run: ArchivedRun, now: datetime) -> datetime:
    """The time retention and `latest` place a run at: its run id's start, unless it is dated in the future; then
    when its objects were last written (the store's clock). Only a caller that listed no write times (a plan made
    from run ids alone) leaves such a run at its date, and the plan says so."""
    if dated_in_future(run, now) and run.last_modified is not None:
        return run.last_modified
    return run.started_at


def last_written(run: ArchivedRun) -> datetime:
    """When the run's objects were last written; its start time when the listing did not say."""
    return run.last_modified if run.last_modified is not None else run.started_at


def _newest_first(run: ArchivedRun, now: datetime) -> _SortKey:
    # Every field takes part, so equal keys mean equal runs and the plan does not depend on the listing's order.
    return (
        judged_at(run, now), run.started_at, run.run_id, run.complete, run.size, run.partial, run.failed_kinds,
        run.problem, run.last_modified or _NO_TIME,
    )  # fmt: skip


def _newest_to_keep(finished: Sequence[ArchivedRun]) -> tuple[ArchivedRun | None, str]:
    """The newest complete run; a partial one only when no run is complete, as the best the archive holds."""
    newest_complete = next((run for run in finished if not run.partial), None)
    if newest_complete is not None:
        return newest_complete, NEWEST_COMPLETE
    return (finished[0] if finished else None), NEWEST_FINISHED


def _future_marks(run: ArchivedRun, now: datetime) -> tuple[str, ...]:
    """What the plan says of a run dated in the future, so `prune --dry-run` shows why it sits where it does."""
    if not dated_in_future(run, now):
        return ()
    dated = f"dated in the future ({run.started_at:%Y-%m-%d %H:%M}Z)"
    if run.last_modified is None:
        return (f"{dated}: when it was written is unknown",)
    return (f"{dated}: judged by its last write {run.last_modified.astimezone(UTC):%Y-%m-%d %H:%M}Z",)


def _decide_finished(run: ArchivedRun, guards: list[str], kept_by: list[str], marks: tuple[str, ...]) -> Decision:
    """Kept by a guard or a rule; a partial run says so last, whatever the decision, for the person reading the plan."""
    marks = (*marks, run.status_text) if run.partial else marks
    reasons = (*guards, *kept_by)
    if reasons:
        return Decision(run=run, keep=True, reasons=(*reasons, *marks))
    return Decision(run=run, keep=False, reasons=(NO_RULE_KEEPS, *marks))


def _decide_incomplete(
    run: ArchivedRun, guards: list[str], grace: Duration, marks: tuple[str, ...], *, now: datetime
) -> Decision:
    """A run without a manifest is an upload in progress or one that died: when its objects were last written tells
    which. Its run id does not: an upload may start days after its getter (a backlog uploaded at once)."""
    if last_written(run) >= grace.before(now):
        return Decision(run=run, keep=True, reasons=(*guards, INCOMPLETE_IN_GRACE, *marks))
    if guards:
        return Decision(run=run, keep=True, reasons=(*guards, *marks))
    died = f"incomplete, last written more than {grace} ago: an upload that never finished"
    return Decision(run=run, keep=False, reasons=(died, *marks))


def _apply_policy(when: Sequence[datetime], policy: RetentionPolicy, *, now: datetime) -> list[list[str]]:
    """The reasons each finished run (given by its time, newest first) is kept, in restic's order: within, then the
    counted rules."""
    if policy.empty():
        return [[NO_POLICY] for _ in when]
    reasons: list[list[str]] = [[] for _ in when]
    within = policy.within()
    if within is not None:
        for index in _kept_within(when, within, now=now):
            reasons[index].append(f"within {within}")
    for rule, count in policy.count_rules():
        for index, reason in _kept_by_bucket(when, rule, count):
            reasons[index].append(reason)
    return reasons


def _kept_within(when: Sequence[datetime], within: Duration, *, now: datetime) -> list[int]:
    """Measured from the newest run, not from now (restic's `findLatestTimestamp`), so an archive whose nightly job
    stopped keeps its last `within` of history instead of emptying. A run dated in the future is not the reference;
    with no run at or before now the reference is the start of time, as restic's zero `latest`: all are kept."""
    reference = max((moment for moment in when if moment < now), default=None)
    cutoff = within.before(reference) if reference is not None else _NO_TIME
    return [index for index, moment in enumerate(when) if moment > cutoff]


def _kept_by_bucket(when: Sequence[datetime], rule: _CountRule, count: int) -> Iterator[tuple[int, str]]:
    """The newest run of each of the `count` newest buckets that have runs; and, while counts are left, the oldest
    run as well ("oldest daily snapshot"), which restic does since 0.17 so a young archive keeps its longest history."""
    previous: object = _NO_BUCKET
    remaining = count
    for index, moment in enumerate(when):
        if remaining == 0:
            return
        bucket = rule.bucket(moment.astimezone(UTC), index)
        oldest = index == len(when) - 1
        if bucket == previous and not oldest:
            continue
        yield index, rule.reason if bucket != previous else f"oldest {rule.reason}"
        previous, remaining = bucket, remaining - 1


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


_SortKey = tuple[datetime, datetime, str, bool, int, bool, tuple[str, ...], str, datetime]
_NO_BUCKET = object()
_NO_TIME = datetime.min.replace(tzinfo=UTC)
_COUNT_RULES = (
    _CountRule("last", "last snapshot", _position),
    _CountRule("daily", "daily snapshot", _day),
    _CountRule("weekly", "weekly snapshot", _iso_week),
    _CountRule("monthly", "monthly snapshot", _month),
    _CountRule("yearly", "yearly snapshot", _year),
)
