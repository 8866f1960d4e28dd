"""The mass-close valve at its edges, found by mutation testing: the smallest closes and the smallest tests.

The valve is the last guard before a reimport closes findings that were not fixed, so its boundaries are pinned
with literals: a test closing one finding still counts towards the cluster's share, and the lowest floor the
settings allow (`mass_close_min: 1`) judges a test of one finding.
"""

from __future__ import annotations

from exporter.dojo.valve import Closing, ValvePolicy, mass_closes

POLICY = ValvePolicy(max_share=0.5, minimum=5)


def test_many_tests_each_closing_one_finding_trip_the_cluster_share() -> None:
    """A namespace filter gone wrong empties six one-finding tests: each is under the floor, together 6 of 10."""
    closings = [Closing(f"trivy-operator/vulnerability/ns{i}", 1, 1) for i in range(6)]
    tripped = mass_closes(closings, 10, POLICY)
    assert set(tripped) == {f"trivy-operator/vulnerability/ns{i}" for i in range(6)}
    assert tripped["trivy-operator/vulnerability/ns0"] == (
        "trivy-operator/vulnerability/ns0 would close 1 of 1 findings, and the cluster's tests together 6 of 10 "
        "(60 % > 50 %)"
    )


def test_a_floor_of_one_holds_a_test_whose_only_finding_would_close() -> None:
    """`mass_close_min: 1` (the lowest the settings accept) asks for every closing share to be judged."""
    tripped = mass_closes([Closing("trivy-operator/vulnerability/shop", 1, 1)], 3, ValvePolicy(0.5, 1))
    assert tripped == {
        "trivy-operator/vulnerability/shop": "trivy-operator/vulnerability/shop would close 1 of 1 findings "
        "(100 % > 50 %)"
    }
