"""Retention at its edges (exporter/archive/retention.py), each test written for a mutant that survived
tests/test_retention.py (docs/reliability.md): a run exactly at the grace period, buckets on a machine whose time zone
is not UTC, a run listed twice, every count read from the settings, and sizes in words."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from exporter.archive.retention import ArchivedRun, Duration, RetentionPolicy, plan_retention
from exporter.config import RetentionSettings
from exporter.rundir import layout

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def run(started: datetime, *, complete: bool = True, size: int = 0, last_modified: datetime | None = None,
        suffix: str = "0000") -> ArchivedRun:  # fmt: skip
    return ArchivedRun(layout.new_run_id(started, suffix), started, complete, size, last_modified=last_modified)


def test_an_unfinished_run_last_written_exactly_one_grace_ago_is_still_in_grace() -> None:
    grace = Duration(days=2)
    boundary = run(NOW - timedelta(days=5), complete=False, last_modified=NOW - timedelta(days=2), suffix="aaaa")
    older = run(NOW - timedelta(days=5), complete=False, last_modified=NOW - timedelta(days=2, seconds=1))
    plan = plan_retention([boundary, older], RetentionPolicy(keep_last=1, incomplete_grace=grace), now=NOW)
    assert [(decision.run.run_id, decision.keep) for decision in plan.decisions] == [
        (boundary.run_id, True), (older.run_id, False)
    ]  # fmt: skip


def test_a_decision_to_delete_is_false_not_merely_falsy() -> None:
    plan = plan_retention([run(NOW - timedelta(days=1)), run(NOW - timedelta(days=2))], RetentionPolicy(keep_last=1),
                          now=NOW)  # fmt: skip
    assert [decision.keep for decision in plan.decisions] == [True, False]
    assert all(isinstance(decision.keep, bool) for decision in plan.decisions)


@pytest.fixture
def tokyo() -> Iterator[None]:
    """The machine's local time zone is UTC+9 for the test: local days start at 15:00 UTC."""
    saved = time.tzname
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "Asia/Tokyo")
        time.tzset()
        yield
    time.tzset()
    assert time.tzname == saved


def test_daily_buckets_are_utc_days_whatever_the_machines_time_zone(tokyo: None) -> None:
    """14:00 and 23:00 UTC are one UTC day but two Tokyo days: keep_daily 2 keeps the newer of them and the day
    before, not both of them."""
    late = run(datetime(2026, 11, 23, 23, tzinfo=UTC), suffix="cccc")
    earlier = run(datetime(2026, 11, 23, 14, tzinfo=UTC), suffix="bbbb")
    day_before = run(datetime(2026, 11, 22, 2, tzinfo=UTC), suffix="aaaa")
    plan = plan_retention([late, earlier, day_before], RetentionPolicy(keep_daily=2), now=NOW)
    assert [(decision.run.run_id, decision.keep) for decision in plan.decisions] == [
        (late.run_id, True), (earlier.run_id, False), (day_before.run_id, True)
    ]  # fmt: skip


def test_a_run_listed_twice_is_planned_the_same_in_any_order() -> None:
    """Every field of a run breaks ties, down to its last write: the listing's order never changes the plan."""
    started = NOW - timedelta(days=3)
    first = run(started, complete=False, last_modified=NOW - timedelta(days=3))
    again = run(started, complete=False, last_modified=NOW - timedelta(hours=1))
    policy = RetentionPolicy(keep_last=1)
    forward = plan_retention([first, again], policy, now=NOW)
    backward = plan_retention([again, first], policy, now=NOW)
    assert forward == backward
    assert [decision.run.last_modified for decision in forward.decisions] == [again.last_modified, first.last_modified]


def test_every_count_and_duration_is_read_from_the_settings() -> None:
    settings = RetentionSettings(keep_last=1, keep_daily=2, keep_weekly=3, keep_monthly=4, keep_yearly=5,
                                 keep_within="6d", incomplete_grace="7h")  # fmt: skip
    assert RetentionPolicy.from_settings(settings) == RetentionPolicy(
        keep_last=1, keep_daily=2, keep_weekly=3, keep_monthly=4, keep_yearly=5, keep_within=Duration(days=6),
        incomplete_grace=Duration(hours=7),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("size", "words"),
    [(1023, "1023 B"), (1024, "1.0 KiB"), (102_400, "100.0 KiB"), (1024**2, "1.0 MiB"), (1024**3, "1.0 GiB"),
     (1024**4, "1.0 TiB"), (3 * 1024**5, "3072.0 TiB")],
)  # fmt: skip
def test_sizes_are_said_in_binary_units(size: int, words: str) -> None:
    plan = plan_retention([run(NOW - timedelta(days=1), size=size)], RetentionPolicy(keep_last=1), now=NOW)
    assert plan.summary() == f"keep 1 runs ({words}), delete 0 runs (0 B)"


def test_a_run_dated_in_the_future_says_its_last_write_in_utc(tokyo: None) -> None:
    ahead = run(NOW + timedelta(days=3), last_modified=datetime(2026, 11, 23, 23, 30, tzinfo=UTC))
    [decision] = plan_retention([ahead], RetentionPolicy(keep_last=1), now=NOW).decisions
    assert decision.reasons[-1] == "dated in the future (2026-11-27 03:00Z): judged by its last write 2026-11-23 23:30Z"


def test_mistakes_in_the_policy_or_the_clock_are_said_in_words() -> None:
    with pytest.raises(ValueError, match=r"^retention keep_daily is -1; it must be 0 or more$"):
        RetentionPolicy(keep_daily=-1)
    with pytest.raises(ValueError, match=r"^now 2026-11-24 03:00:00 has no time zone; give it in UTC$"):
        plan_retention([], RetentionPolicy(), now=NOW.replace(tzinfo=None))


def test_keep_within_is_measured_from_the_newest_run_before_now_as_restic_does() -> None:
    """restic's findLatestTimestamp takes runs strictly before now: one dated exactly now is not the reference."""
    runs = [run(NOW, suffix="cccc"), run(NOW - timedelta(days=1), suffix="bbbb"),
            run(NOW - timedelta(days=2, hours=12), suffix="aaaa")]  # fmt: skip
    plan = plan_retention(runs, RetentionPolicy(keep_within=Duration(days=2)), now=NOW)
    assert [decision.keep for decision in plan.decisions] == [True, True, True]
    assert plan.decisions[2].reasons == ("within 2d",)


def test_a_run_exactly_one_day_ahead_is_taken_at_its_word() -> None:
    ahead = run(NOW + timedelta(days=1), last_modified=NOW - timedelta(hours=1))
    [decision] = plan_retention([ahead], RetentionPolicy(keep_last=1), now=NOW).decisions
    assert decision.reasons == ("newest complete run", "last snapshot")
