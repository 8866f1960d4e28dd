"""The mass-close valve as a pure policy: which reimports trip it, and what it says. Expected values are literals."""

from __future__ import annotations

from exporter.dojo.valve import Closing, ValvePolicy, mass_closes

POLICY = ValvePolicy(max_share=0.5, minimum=5)


def test_a_test_closing_most_of_its_findings_trips_the_valve_with_the_count() -> None:
    tripped = mass_closes([Closing("trivy-operator/vulnerability/shop", 40, 52)], 52, POLICY)
    assert tripped == {
        "trivy-operator/vulnerability/shop": "trivy-operator/vulnerability/shop would close 40 of 52 findings "
        "(77 % > 50 %)"
    }


def test_a_fixed_finding_of_a_tiny_test_goes_through() -> None:
    """The floor: 1 of 1 (100 %) and 4 of 4 are below five findings, and are not judged."""
    assert mass_closes([Closing("a", 1, 1), Closing("b", 4, 4)], 1000, POLICY) == {}


def test_the_floor_counts_findings_closed_not_held() -> None:
    assert set(mass_closes([Closing("a", 5, 5)], 1000, POLICY)) == {"a"}


def test_the_share_must_be_above_the_threshold() -> None:
    assert mass_closes([Closing("a", 26, 52)], 1000, POLICY) == {}
    assert set(mass_closes([Closing("a", 27, 52)], 1000, POLICY)) == {"a"}


def test_a_share_just_above_reads_with_a_decimal() -> None:
    [said] = mass_closes([Closing("a", 252, 500)], 1000, POLICY).values()
    assert said == "a would close 252 of 500 findings (50.4 % > 50 %)"


def test_many_small_tests_closing_together_trip_the_cluster_share() -> None:
    """Each test is under the floor, the cluster's tests together are not: every one that closes is held."""
    closings = [Closing(f"trivy-operator/vulnerability/ns{i}", 2, 3) for i in range(3)] + [Closing("quiet", 0, 1)]
    tripped = mass_closes(closings, 10, POLICY)
    assert set(tripped) == {f"trivy-operator/vulnerability/ns{i}" for i in range(3)}
    assert tripped["trivy-operator/vulnerability/ns0"] == (
        "trivy-operator/vulnerability/ns0 would close 2 of 3 findings, and the cluster's tests together 6 of 10 "
        "(60 % > 50 %)"
    )


def test_the_cluster_share_counts_every_finding_of_the_cluster() -> None:
    """The same closes against a larger cluster are a small share: nothing trips."""
    closings = [Closing(f"ns{i}", 2, 3) for i in range(3)]
    assert set(mass_closes(closings, 9, POLICY)) == {"ns0", "ns1", "ns2"}
    assert mass_closes(closings, 12, POLICY) == {}, "6 of 12 is not above 50 %"
    assert mass_closes(closings, 100, POLICY) == {}


def test_tests_that_close_nothing_never_trip() -> None:
    assert mass_closes([Closing("a", 0, 0), Closing("b", 0, 50)], 50, POLICY) == {}


def test_a_share_of_one_disables_the_valve() -> None:
    assert mass_closes([Closing("a", 50, 50)], 50, ValvePolicy(max_share=1.0, minimum=5)) == {}


def test_the_policy_says_itself_in_words() -> None:
    assert str(POLICY) == "a reimport closing more than 50 % of findings, and at least 5"
