from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from exporter.archive.retention import (
    INCOMPLETE_IN_GRACE,
    ArchivedRun,
    Duration,
    RetentionPlan,
    RetentionPolicy,
    parse_duration,
    plan_retention,
)
from exporter.config import RetentionSettings
from exporter.errors import ConfigError
from exporter.rundir import layout

COUNT_FIELDS = ("keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")


def run(
    stamp: str, *, complete: bool = True, size: int = 0, suffix: str = "0000", failed: tuple[str, ...] = ()
) -> ArchivedRun:
    """A run; with `failed` kinds it is a partial run."""
    started = datetime.fromisoformat(stamp).replace(tzinfo=UTC)
    run_id = layout.new_run_id(started, suffix)
    return ArchivedRun(run_id, started, complete, size, partial=bool(failed), failed_kinds=failed)


def nightly(first: str, last: str) -> list[ArchivedRun]:
    """One complete run at 02:00 UTC every night from `first` to `last`, inclusive."""
    day, end = datetime.fromisoformat(first), datetime.fromisoformat(last)
    runs = []
    while day <= end:
        runs.append(run(f"{day:%Y-%m-%d}T02:00:00"))
        day += timedelta(days=1)
    return runs


def kept_days(plan: RetentionPlan) -> list[str]:
    return [f"{kept.started_at:%Y-%m-%d}" for kept in plan.keep]


def reasons_by_day(plan: RetentionPlan) -> dict[str, tuple[str, ...]]:
    return {f"{decision.run.started_at:%Y-%m-%d %H:%M}": decision.reasons for decision in plan.decisions}


# --- keep rules, one example each -------------------------------------------------------------------------------------


def test_thirty_nightly_runs_with_keep_daily_7_keep_the_seven_newest() -> None:
    runs = nightly("2026-11-01", "2026-11-30")
    plan = plan_retention(runs, RetentionPolicy(keep_daily=7), now=datetime(2026, 11, 30, 3, tzinfo=UTC))
    assert kept_days(plan) == [f"2026-11-{day}" for day in range(30, 23, -1)]
    assert plan.decisions[0].reasons == ("newest complete run", "daily snapshot")
    assert plan.decisions[1].reasons == ("daily snapshot",)
    assert all(decision.reasons == ("no keep rule matched",) for decision in plan.decisions[7:])
    assert len(plan.delete) == 23


def test_two_runs_in_one_day_with_keep_daily_1_keep_only_the_newer() -> None:
    runs = [run("2026-11-23T02:00:00"), run("2026-11-23T14:30:00")]
    plan = plan_retention(runs, RetentionPolicy(keep_daily=1), now=datetime(2026, 11, 24, tzinfo=UTC))
    assert [kept.started_at.hour for kept in plan.keep] == [14]
    assert [deleted.started_at.hour for deleted in plan.delete] == [2]


def test_keep_last_counts_runs_not_days() -> None:
    runs = [run(f"2026-11-23T{hour:02}:00:00") for hour in range(5)]
    plan = plan_retention(runs, RetentionPolicy(keep_last=3), now=datetime(2026, 11, 24, tzinfo=UTC))
    assert [kept.started_at.hour for kept in plan.keep] == [4, 3, 2]
    assert plan.decisions[1].reasons == ("last snapshot",)


def test_keep_weekly_keeps_the_newest_run_of_each_iso_week() -> None:
    runs = nightly("2026-11-02", "2026-11-29")  # Monday to Sunday, four whole ISO weeks
    plan = plan_retention(runs, RetentionPolicy(keep_weekly=3), now=datetime(2026, 11, 30, tzinfo=UTC))
    assert kept_days(plan) == ["2026-11-29", "2026-11-22", "2026-11-15"]


def test_keep_weekly_uses_iso_weeks_across_the_year_boundary() -> None:
    # 2026-12-31 (Thursday) and 2027-01-01 (Friday) are both in ISO week 2026-W53; 2027-01-04 starts 2027-W01.
    runs = [run("2026-12-31T02:00:00"), run("2027-01-01T02:00:00"), run("2027-01-04T02:00:00")]
    plan = plan_retention(runs, RetentionPolicy(keep_weekly=2), now=datetime(2027, 1, 5, tzinfo=UTC))
    assert kept_days(plan) == ["2027-01-04", "2027-01-01"]
    one_week = plan_retention(runs[:2], RetentionPolicy(keep_weekly=1), now=datetime(2027, 1, 5, tzinfo=UTC))
    assert kept_days(one_week) == ["2027-01-01"]


def test_keep_weekly_over_three_weeks_spanning_new_year() -> None:
    runs = nightly("2026-12-21", "2027-01-10")
    plan = plan_retention(runs, RetentionPolicy(keep_weekly=3), now=datetime(2027, 1, 11, tzinfo=UTC))
    assert kept_days(plan) == ["2027-01-10", "2027-01-03", "2026-12-27"]


def test_keep_monthly_keeps_the_last_run_of_each_month() -> None:
    runs = nightly("2026-08-15", "2026-11-20")
    plan = plan_retention(runs, RetentionPolicy(keep_monthly=3), now=datetime(2026, 11, 21, tzinfo=UTC))
    assert kept_days(plan) == ["2026-11-20", "2026-10-31", "2026-09-30"]


def test_keep_yearly_keeps_the_last_run_of_each_year() -> None:
    runs = [run(f"{year}-{month:02}-10T02:00:00") for year in (2024, 2025, 2026) for month in (1, 6, 12)]
    plan = plan_retention(runs, RetentionPolicy(keep_yearly=2), now=datetime(2027, 1, 1, tzinfo=UTC))
    assert kept_days(plan) == ["2026-12-10", "2025-12-10"]


def test_keep_within_is_measured_from_the_newest_run_not_from_now() -> None:
    runs = nightly("2026-01-01", "2026-03-31")
    # The nightly job stopped in March; two months later keep_within still keeps the last 30 days of history.
    plan = plan_retention(runs, RetentionPolicy(keep_within=Duration(days=30)), now=datetime(2026, 6, 1, tzinfo=UTC))
    assert kept_days(plan) == [f"2026-03-{day:02}" for day in range(31, 1, -1)]  # 03-01 02:00 is not after the cutoff
    assert plan.decisions[-1].reasons == ("no keep rule matched",)
    assert plan.decisions[1].reasons == ("within 30d",)


def test_keep_within_ignores_a_run_dated_in_the_future_as_reference() -> None:
    runs = [run("2030-01-01T02:00:00"), run("2026-11-23T02:00:00"), run("2026-11-01T02:00:00")]
    plan = plan_retention(runs, RetentionPolicy(keep_within=Duration(weeks=1)), now=datetime(2026, 11, 24, tzinfo=UTC))
    assert kept_days(plan) == ["2030-01-01", "2026-11-23"]


def test_keep_within_months_are_calendar_months() -> None:
    runs = [run("2026-03-31T02:00:00"), run("2026-02-28T02:00:01"), run("2026-02-28T02:00:00")]
    plan = plan_retention(runs, RetentionPolicy(keep_within=Duration(months=1)), now=datetime(2026, 4, 1, tzinfo=UTC))
    assert [kept.started_at.second for kept in plan.keep] == [0, 1]


def test_every_rule_that_keeps_a_run_is_a_reason() -> None:
    runs = nightly("2026-11-01", "2026-11-30")
    policy = RetentionPolicy(keep_last=2, keep_daily=3, keep_monthly=1, keep_within=Duration(days=5))
    reasons = reasons_by_day(plan_retention(runs, policy, now=datetime(2026, 12, 1, tzinfo=UTC)))
    newest = ("newest complete run", "within 5d", "last snapshot", "daily snapshot", "monthly snapshot")
    assert reasons["2026-11-30 02:00"] == newest
    assert reasons["2026-11-29 02:00"] == ("within 5d", "last snapshot", "daily snapshot")
    assert reasons["2026-11-28 02:00"] == ("within 5d", "daily snapshot")
    assert reasons["2026-11-26 02:00"] == ("within 5d",)
    assert reasons["2026-11-25 02:00"] == ("no keep rule matched",)


def test_oldest_run_is_kept_while_a_count_is_left_as_restic_does() -> None:
    runs = [run("2026-11-22T02:00:00"), run("2026-11-22T14:00:00"), run("2026-11-23T02:00:00")]
    reasons = reasons_by_day(
        plan_retention(runs, RetentionPolicy(keep_daily=7), now=datetime(2026, 11, 24, tzinfo=UTC))
    )
    assert reasons == {
        "2026-11-23 02:00": ("newest complete run", "daily snapshot"),
        "2026-11-22 14:00": ("daily snapshot",),
        "2026-11-22 02:00": ("oldest daily snapshot",),
    }


# --- guards: newest complete, just uploaded, incomplete runs, empty policy --------------------------------------------


def test_incomplete_runs_never_count_and_are_deleted_after_the_grace() -> None:
    runs = [
        run("2026-11-23T02:00:00", complete=False),  # still uploading
        run("2026-11-22T02:00:00", complete=False),  # 2 days and 1 hour old: died
        run("2026-11-21T02:00:00"),
        run("2026-11-20T02:00:00"),
    ]
    plan = plan_retention(runs, RetentionPolicy(keep_last=1), now=datetime(2026, 11, 24, 3, tzinfo=UTC))
    assert reasons_by_day(plan) == {
        "2026-11-23 02:00": ("incomplete, within grace: may still be uploading",),
        "2026-11-22 02:00": ("incomplete, last written more than 2d ago: an upload that never finished",),
        "2026-11-21 02:00": ("newest complete run", "last snapshot"),
        "2026-11-20 02:00": ("no keep rule matched",),
    }
    assert kept_days(plan) == ["2026-11-23", "2026-11-21"]


def test_just_uploaded_run_is_kept_whatever_the_policy() -> None:
    runs = [run("2026-11-23T02:00:00"), run("2026-11-01T02:00:00", suffix="beef")]
    plan = plan_retention(
        runs, RetentionPolicy(keep_last=1), now=datetime(2026, 11, 24, tzinfo=UTC), protect={runs[1].run_id}
    )
    assert plan.delete == ()
    assert plan.decisions[1].reasons == ("just uploaded",)


def test_an_empty_policy_keeps_every_complete_run_and_still_clears_dead_uploads() -> None:
    runs = [*nightly("2026-11-01", "2026-11-03"), run("2026-10-01T02:00:00", complete=False)]
    for policy in (RetentionPolicy(), RetentionPolicy(keep_last=0, keep_within=Duration())):
        assert policy.empty()
        plan = plan_retention(runs, policy, now=datetime(2026, 11, 4, tzinfo=UTC))
        assert kept_days(plan) == ["2026-11-03", "2026-11-02", "2026-11-01"]
        assert plan.decisions[1].reasons == ("no retention policy",)
        assert plan.delete == (runs[-1],)


def test_no_runs_make_an_empty_plan() -> None:
    plan = plan_retention([], RetentionPolicy(keep_last=1), now=datetime(2026, 11, 24, tzinfo=UTC))
    assert plan.decisions == () and plan.describe() == []


# --- runs dated in the future: a getter whose clock was ahead ------------------------------------------------------


def skewed(stamp: str, written: str, *, complete: bool = True) -> ArchivedRun:
    """A run whose id says `stamp` (the getter's clock) and whose objects the store last wrote at `written`."""
    started = datetime.fromisoformat(stamp).replace(tzinfo=UTC)
    last_write = datetime.fromisoformat(written).replace(tzinfo=UTC)
    return ArchivedRun(layout.new_run_id(started, "beef"), started, complete, last_modified=last_write)


def test_a_run_dated_in_the_future_takes_no_keep_last_slot_for_good() -> None:
    ahead = skewed("2030-01-01T02:00:00", "2026-11-20T02:05:00")
    runs = [ahead, run("2026-11-23T02:00:00"), run("2026-11-22T02:00:00"), run("2026-11-21T02:00:00")]
    plan = plan_retention(runs, RetentionPolicy(keep_last=2), now=datetime(2026, 11, 24, 3, tzinfo=UTC))
    assert [decision.run.run_id for decision in plan.decisions] == [
        "20261123T020000Z-0000", "20261122T020000Z-0000", "20261121T020000Z-0000", "20300101T020000Z-beef"
    ]  # fmt: skip
    assert kept_days(plan) == ["2026-11-23", "2026-11-22"]
    assert plan.describe()[-1] == (
        "delete  20300101T020000Z-beef         0 B  no keep rule matched; "
        "dated in the future (2030-01-01 02:00Z): judged by its last write 2026-11-20 02:05Z"
    )


def test_a_future_dated_run_written_last_is_the_newest_complete_run_and_says_why() -> None:
    ahead = skewed("2030-01-01T02:00:00", "2026-11-23T02:10:00")
    runs = [ahead, run("2026-11-22T02:00:00"), run("2026-11-21T02:00:00")]
    plan = plan_retention(runs, RetentionPolicy(keep_daily=1), now=datetime(2026, 11, 24, 3, tzinfo=UTC))
    assert plan.decisions[0].run is ahead
    assert plan.decisions[0].reasons == (
        "newest complete run",
        "daily snapshot",
        "dated in the future (2030-01-01 02:00Z): judged by its last write 2026-11-23 02:10Z",
    )
    assert kept_days(plan) == ["2030-01-01"], "the 23rd's bucket holds it; the 22nd and 21st go"


def test_a_run_less_than_a_day_ahead_is_taken_at_its_word() -> None:
    slightly = skewed("2026-11-24T20:00:00", "2026-11-24T03:00:00")
    plan = plan_retention([slightly, run("2026-11-24T02:00:00")], RetentionPolicy(keep_last=1),
                          now=datetime(2026, 11, 24, 3, 5, tzinfo=UTC))  # fmt: skip
    assert plan.decisions[0].run is slightly and plan.decisions[0].reasons == ("newest complete run", "last snapshot")


def test_an_unfinished_run_dated_in_the_future_is_judged_by_its_last_write() -> None:
    dead = skewed("2030-01-01T02:00:00", "2026-11-18T02:05:00", complete=False)
    plan = plan_retention([dead, run("2026-11-23T02:00:00")], RetentionPolicy(keep_last=1),
                          now=datetime(2026, 11, 24, 3, tzinfo=UTC))  # fmt: skip
    assert plan.delete == (dead,)
    assert reasons_by_day(plan)["2030-01-01 02:00"] == (
        "incomplete, last written more than 2d ago: an upload that never finished",
        "dated in the future (2030-01-01 02:00Z): judged by its last write 2026-11-18 02:05Z",
    )


def test_an_unfinished_run_is_judged_by_its_last_write_not_its_id() -> None:
    backlog = ArchivedRun.from_run_id(
        "20261116T020000Z-0a0a", complete=False, last_modified=datetime(2026, 11, 24, 2, 59, tzinfo=UTC)
    )
    plan = plan_retention([backlog], RetentionPolicy(keep_last=1), now=datetime(2026, 11, 24, 3, tzinfo=UTC))
    assert plan.keep == (backlog,) and plan.decisions[0].reasons == (INCOMPLETE_IN_GRACE,)


# --- partial runs: valid data, never the newest complete run ---------------------------------------------------------


def test_a_newer_partial_run_never_takes_the_place_of_the_newest_complete_run() -> None:
    runs = [run("2026-11-22T02:00:00"), run("2026-11-23T02:00:00", failed=("configauditreports",))]
    plan = plan_retention(runs, RetentionPolicy(keep_last=1), now=datetime(2026, 11, 24, tzinfo=UTC))
    assert reasons_by_day(plan) == {
        "2026-11-23 02:00": ("last snapshot", "partial: failed configauditreports"),
        "2026-11-22 02:00": ("newest complete run",),
    }
    assert kept_days(plan) == ["2026-11-23", "2026-11-22"]


def test_partial_runs_count_toward_keep_rules_and_say_they_are_partial_when_deleted() -> None:
    runs = [
        run("2026-11-23T02:00:00", failed=("configauditreports", "rbacassessmentreports")),
        run("2026-11-22T02:00:00", failed=("vulnerabilityreports",)),
        run("2026-11-21T02:00:00"),
        run("2026-11-20T02:00:00"),
    ]
    plan = plan_retention(runs, RetentionPolicy(keep_daily=2), now=datetime(2026, 11, 24, tzinfo=UTC))
    assert reasons_by_day(plan) == {
        "2026-11-23 02:00": ("daily snapshot", "partial: failed configauditreports, rbacassessmentreports"),
        "2026-11-22 02:00": ("daily snapshot", "partial: failed vulnerabilityreports"),
        "2026-11-21 02:00": ("newest complete run",),
        "2026-11-20 02:00": ("no keep rule matched",),
    }
    older = [run("2026-11-23T02:00:00"), run("2026-11-22T02:00:00", failed=("vulnerabilityreports",))]
    plan = plan_retention(older, RetentionPolicy(keep_last=1), now=datetime(2026, 11, 24, tzinfo=UTC))
    assert plan.decisions[1].reasons == ("no keep rule matched", "partial: failed vulnerabilityreports")


def test_with_only_partial_runs_the_newest_finished_one_is_kept_as_such() -> None:
    runs = [
        run("2026-11-23T02:00:00", failed=("configauditreports",)),
        run("2026-11-22T02:00:00", failed=("configauditreports",)),
        run("2026-11-24T02:00:00", complete=False),
    ]
    plan = plan_retention(runs, RetentionPolicy(keep_last=1), now=datetime(2026, 11, 24, 3, tzinfo=UTC))
    assert reasons_by_day(plan) == {
        "2026-11-24 02:00": ("incomplete, within grace: may still be uploading",),
        "2026-11-23 02:00": (
            "newest finished run: no complete run exists",
            "last snapshot",
            "partial: failed configauditreports",
        ),
        "2026-11-22 02:00": ("no keep rule matched", "partial: failed configauditreports"),
    }


def test_a_run_with_an_unreadable_manifest_is_partial_with_the_problem_in_the_plan() -> None:
    started = datetime(2026, 11, 23, 2, tzinfo=UTC)
    unreadable = ArchivedRun(
        "20261123T020000Z-3f9a", started, complete=True, partial=True, problem="manifest unreadable: not JSON"
    )
    plan = plan_retention(
        [unreadable, run("2026-11-22T02:00:00")], RetentionPolicy(keep_last=1), now=datetime(2026, 11, 24, tzinfo=UTC)
    )
    assert plan.describe()[0] == (
        "keep    20261123T020000Z-3f9a         0 B  last snapshot; partial: manifest unreadable: not JSON"
    )
    assert plan.decisions[1].reasons == ("newest complete run",)


def test_a_run_has_one_of_three_statuses() -> None:
    assert run("2026-11-23T02:00:00").status == "complete"
    assert run("2026-11-23T02:00:00", complete=False).status == "incomplete"
    partial = run("2026-11-23T02:00:00", failed=("configauditreports", "rbacassessmentreports"))
    assert (partial.status, partial.complete) == ("partial", True)
    assert partial.status_text == "partial: failed configauditreports, rbacassessmentreports"
    started = datetime(2026, 11, 23, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="only a finished run"):
        ArchivedRun("20261123T020000Z-3f9a", started, complete=False, partial=True)
    with pytest.raises(ValueError, match="set partial=True"):
        ArchivedRun("20261123T020000Z-3f9a", started, complete=True, failed_kinds=("configauditreports",))


# --- the plan in words --------------------------------------------------------------------------------------------


def test_describe_prints_one_line_per_run_with_its_reasons() -> None:
    runs = [
        run("2026-11-23T02:00:00", size=3 * 1024 * 1024, suffix="3f9a"),
        run("2026-11-22T02:00:00", size=512, suffix="aa01"),
        run("2026-11-21T02:00:00", complete=False, size=2048, suffix="bb02"),
    ]
    plan = plan_retention(runs, RetentionPolicy(keep_last=1), now=datetime(2026, 11, 24, 3, tzinfo=UTC))
    assert plan.describe() == [
        "keep    20261123T020000Z-3f9a     3.0 MiB  newest complete run; last snapshot",
        "delete  20261122T020000Z-aa01       512 B  no keep rule matched",
        "delete  20261121T020000Z-bb02     2.0 KiB  incomplete, last written more than 2d ago: an upload that never "
        "finished",
    ]
    assert plan.summary() == "keep 1 runs (3.0 MiB), delete 2 runs (2.5 KiB)"


def test_describe_says_a_run_is_partial_and_which_kinds_failed() -> None:
    runs = [
        run("2026-11-23T02:00:00", size=1024, suffix="3f9a", failed=("configauditreports",)),
        run("2026-11-22T02:00:00", size=512, suffix="aa01"),
    ]
    plan = plan_retention(runs, RetentionPolicy(keep_last=1), now=datetime(2026, 11, 24, 3, tzinfo=UTC))
    assert plan.describe() == [
        "keep    20261123T020000Z-3f9a     1.0 KiB  last snapshot; partial: failed configauditreports",
        "keep    20261122T020000Z-aa01       512 B  newest complete run",
    ]


def test_policy_says_itself_in_words() -> None:
    settings = RetentionSettings(keep_last=3, keep_daily=7, keep_weekly=4, keep_within="30d")
    policy = RetentionPolicy.from_settings(settings)
    assert str(policy) == "keep the last 3 runs, 7 daily, 4 weekly, all within 30d; delete incomplete runs after 2d"
    assert str(RetentionPolicy(keep_last=1, keep_monthly=12, keep_yearly=2, incomplete_grace=Duration(hours=12))) == (
        "keep the last run, 12 monthly, 2 yearly; delete incomplete runs after 12h"
    )
    assert str(RetentionPolicy()) == "keep every complete run (no retention policy); delete incomplete runs after 2d"


def test_from_settings_parses_the_durations() -> None:
    policy = RetentionPolicy.from_settings(RetentionSettings(keep_within="1y6m", incomplete_grace="12h"))
    assert policy.keep_within == Duration(years=1, months=6)
    assert policy.incomplete_grace == Duration(hours=12)
    assert RetentionPolicy.from_settings(RetentionSettings()) == RetentionPolicy()


# --- durations --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", Duration(days=30)),
        ("1y6m", Duration(years=1, months=6)),
        ("2w", Duration(weeks=2)),
        ("12h", Duration(hours=12)),
        ("1y6m2w3d12h", Duration(years=1, months=6, weeks=2, days=3, hours=12)),
        ("1d1d", Duration(days=2)),
    ],
)
def test_parse_duration_reads_restic_units_and_weeks(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "d", "3 days", "1.5d", "-1d", "10s", "1M"])
def test_parse_duration_rejects_other_text_with_a_hint(text: str) -> None:
    with pytest.raises(ConfigError, match=r"not like 30d, 1y6m, 2w or 12h"):
        parse_duration(text)


def test_calendar_months_clamp_to_the_end_of_the_month() -> None:
    assert Duration(months=1).before(datetime(2026, 3, 31, 2, tzinfo=UTC)) == datetime(2026, 2, 28, 2, tzinfo=UTC)
    assert Duration(months=1).before(datetime(2028, 3, 31, tzinfo=UTC)) == datetime(2028, 2, 29, tzinfo=UTC)
    assert Duration(years=1).before(datetime(2028, 2, 29, tzinfo=UTC)) == datetime(2027, 2, 28, tzinfo=UTC)
    assert Duration(months=14, days=1, hours=1).before(datetime(2026, 1, 1, tzinfo=UTC)) == datetime(
        2024, 10, 30, 23, tzinfo=UTC
    )
    assert Duration(years=9000).before(datetime(2026, 1, 1, tzinfo=UTC)) == datetime.min.replace(tzinfo=UTC)


def test_archived_run_needs_a_time_zone_and_reads_its_id() -> None:
    assert ArchivedRun.from_run_id("20261123T020000Z-3f9a", complete=True) == run("2026-11-23T02:00:00", suffix="3f9a")
    with pytest.raises(ValueError, match="no time zone"):
        ArchivedRun("20261123T020000Z-3f9a", datetime(2026, 11, 23, 2), complete=True)


# --- invariants, whatever the input -----------------------------------------------------------------------------------

START = datetime(2025, 6, 1, tzinfo=UTC)
durations = st.builds(
    Duration,
    years=st.integers(0, 2),
    months=st.integers(0, 14),
    weeks=st.integers(0, 5),
    days=st.integers(0, 40),
    hours=st.integers(0, 48),
)
counts = st.none() | st.integers(0, 12)
policies = st.builds(
    RetentionPolicy,
    keep_last=counts,
    keep_daily=counts,
    keep_weekly=counts,
    keep_monthly=counts,
    keep_yearly=counts,
    keep_within=st.none() | durations,
    incomplete_grace=durations,
)
# Hours after START: mostly spread over three years, sometimes bunched into three days so buckets collide.
offsets = st.integers(0, 3 * 365 * 24) | st.integers(0, 72)
nows = st.builds(lambda hours: START + timedelta(hours=hours), st.integers(-100, 4 * 365 * 24))


KIND_PLURALS = ("vulnerabilityreports", "configauditreports", "rbacassessmentreports")


@st.composite
def archived_runs(draw: st.DrawFn) -> ArchivedRun:
    """Incomplete, complete or partial (some kinds failed, or only a problem such as an unreadable manifest)."""
    started = START + timedelta(hours=draw(offsets), minutes=draw(st.integers(0, 59)))
    suffix = draw(st.text("0123456789abcdef", min_size=4, max_size=4))
    complete = draw(st.booleans())
    partial = complete and draw(st.booleans())
    failed = tuple(draw(st.lists(st.sampled_from(KIND_PLURALS), unique=True))) if partial else ()
    problem = draw(st.sampled_from(["", "manifest unreadable: not JSON"])) if partial else ""
    run_id = layout.new_run_id(started, suffix)
    size = draw(st.integers(0, 10**9))
    # written around its start by the store's clock (before it, when the getter's clock was ahead), or not listed
    written = draw(st.none() | st.builds(lambda hours: started + timedelta(hours=hours), st.integers(-24 * 400, 72)))
    return ArchivedRun(
        run_id, started, complete, size, partial=partial, failed_kinds=failed, problem=problem, last_modified=written
    )


def placed_at(run: ArchivedRun, now: datetime) -> datetime:
    """The rule, written out here rather than taken from the module: a run dated more than a day ahead of now is
    placed at its last write when that is known."""
    if run.started_at > now + timedelta(days=1) and run.last_modified is not None:
        return run.last_modified
    return run.started_at


run_lists = st.lists(archived_runs(), max_size=40)


@given(runs=run_lists, policy=policies, now=nows, data=st.data())
def test_plan_decides_every_run_once_newest_first_whatever_the_input_order(
    runs: list[ArchivedRun], policy: RetentionPolicy, now: datetime, data: st.DataObject
) -> None:
    plan = plan_retention(runs, policy, now=now)
    assert Counter(decision.run for decision in plan.decisions) == Counter(runs)
    assert Counter(plan.keep) + Counter(plan.delete) == Counter(runs)
    assert len(plan.keep) + len(plan.delete) == len(runs)
    assert all(decision.reasons for decision in plan.decisions)
    placed = [placed_at(decision.run, now) for decision in plan.decisions]
    assert placed == sorted(placed, reverse=True)
    assert plan_retention(data.draw(st.permutations(runs)), policy, now=now) == plan


@given(runs=run_lists, policy=policies, now=nows, data=st.data())
def test_never_deletes_the_newest_complete_run_nor_a_protected_one(
    runs: list[ArchivedRun], policy: RetentionPolicy, now: datetime, data: st.DataObject
) -> None:
    protect = data.draw(st.sets(st.sampled_from([r.run_id for r in runs]))) if runs else set()
    plan = plan_retention(runs, policy, now=now, protect=protect)
    complete = [decision for decision in plan.decisions if decision.run.complete and not decision.run.partial]
    if complete:
        assert complete[0].keep and "newest complete run" in complete[0].reasons
    for decision in plan.decisions:
        if decision.run.run_id in protect:
            assert decision.keep and decision.reasons[0] == "just uploaded"


@given(runs=run_lists, policy=policies, now=nows, data=st.data())
def test_a_partial_run_never_takes_the_place_of_the_newest_complete_run(
    runs: list[ArchivedRun], policy: RetentionPolicy, now: datetime, data: st.DataObject
) -> None:
    protect = data.draw(st.sets(st.sampled_from([r.run_id for r in runs]))) if runs else set()
    plan = plan_retention(runs, policy, now=now, protect=protect)
    newest = {"newest complete run", "newest finished run: no complete run exists"}
    guarded = [decision for decision in plan.decisions if newest & set(decision.reasons)]
    finished = [decision for decision in plan.decisions if decision.run.complete]
    complete = [decision for decision in finished if not decision.run.partial]
    expected = complete[:1] or finished[:1]
    assert guarded == expected, "exactly the newest complete run is guarded; without one, the newest finished run"
    assert all(decision.keep for decision in guarded)
    for decision in finished:
        if decision.run.partial:
            assert decision.reasons[-1].startswith("partial: ")
            assert "newest complete run" not in decision.reasons


@given(runs=run_lists, policy=policies, now=nows)
def test_incomplete_runs_are_judged_by_their_last_write_alone_and_never_count(
    runs: list[ArchivedRun], policy: RetentionPolicy, now: datetime
) -> None:
    plan = plan_retention(runs, policy, now=now)
    cutoff = policy.incomplete_grace.before(now)
    for decision in plan.decisions:
        if not decision.run.complete:
            written = decision.run.last_modified or decision.run.started_at
            assert decision.keep == (written >= cutoff)
    only_complete = plan_retention([r for r in runs if r.complete], policy, now=now)
    assert [d for d in plan.decisions if d.run.complete] == list(only_complete.decisions)


@given(runs=run_lists, grace=durations, now=nows)
def test_an_empty_policy_keeps_every_complete_run(runs: list[ArchivedRun], grace: Duration, now: datetime) -> None:
    plan = plan_retention(runs, RetentionPolicy(incomplete_grace=grace), now=now)
    assert Counter(run for run in plan.keep if run.complete) == Counter(run for run in runs if run.complete)


@given(runs=run_lists, policy=policies, now=nows, field=st.sampled_from(COUNT_FIELDS), more=st.integers(1, 10))
def test_raising_a_count_never_deletes_a_run_the_smaller_count_kept(
    runs: list[ArchivedRun], policy: RetentionPolicy, now: datetime, field: str, more: int
) -> None:
    # From an empty policy (keep everything) any rule deletes, so monotony is about policies that have a rule.
    assume(not policy.empty())
    raised_count: dict[str, Any] = {field: (getattr(policy, field) or 0) + more}
    raised = replace(policy, **raised_count)
    kept = Counter(plan_retention(runs, policy, now=now).keep)
    kept_by_raised = Counter(plan_retention(runs, raised, now=now).keep)
    assert kept <= kept_by_raised


@given(duration=durations)
def test_a_duration_reads_back_from_its_words(duration: Duration) -> None:
    assert parse_duration(str(duration)) == duration
