"""The mass-close valve: which reimports would close so much of what DefectDojo holds that they must wait.

A reimport closes every finding of its test that its document lacks. A scanner that silently lost its database,
a namespace filter typed wrong or a converter bug all look exactly like "everything was fixed", and closing is
the one thing a nightly import cannot take back quietly: analysts' open findings vanish from their queues. So a
test whose reimport would close more than `max_close_share` of its findings is held (not sent, nothing closed,
the night partial) until an operator says it is right (`allow_mass_close`, `--allow-mass-close`).

Two thresholds, both needed:
- per test: closes / the test's findings;
- per cluster: all closes / all findings of the cluster's tests. Many small tests emptied at once (a namespace
  filter gone wrong) each pass the per-test floor below, together they do not.

A floor (`mass_close_min`): a share is only judged when at least that many findings would close, so a tiny test
whose one finding was fixed (1 of 1 = 100 %) goes through. The cluster's share is judged against the same floor.
Tests whose last findings are unknown (a state written before identities were recorded, or a test that no longer
exists in DefectDojo, where nothing can close) are not judged.

Pure: counts in, the tests that trip it with what they would close out; the sync holds them or, when mass closes
are allowed, says so and sends them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Closing:
    """What one test's reimport would do: close `closes` of the `findings` its test holds now."""

    key: str
    closes: int
    findings: int

    @property
    def share(self) -> float:
        return self.closes / self.findings if self.findings else 0.0


@dataclass(frozen=True)
class ValvePolicy:
    """The valve's settings as a value: `ValvePolicy(0.5, 5)` stops a reimport closing > 50 % and >= 5 findings."""

    max_share: float
    minimum: int

    def __str__(self) -> str:
        return f"a reimport closing more than {_percent(self.max_share)} of findings, and at least {self.minimum}"

    def trips(self, closes: int, findings: int) -> bool:
        """Too many: at least the floor, and a share above the threshold."""
        return closes >= self.minimum and findings > 0 and closes / findings > self.max_share


def mass_closes(closings: Iterable[Closing], cluster_findings: int, policy: ValvePolicy) -> dict[str, str]:
    """Test key -> what its reimport would close, for each test that trips the valve (alone or with the cluster).

    `cluster_findings` is every finding the cluster's tests hold now (the denominator of the cluster's share).
    Tests that close nothing never trip it.
    """
    judged = [closing for closing in closings if closing.closes > 0]
    total = sum(closing.closes for closing in judged)
    cluster_trips = policy.trips(total, cluster_findings)
    tripped = {}
    for closing in judged:
        if policy.trips(closing.closes, closing.findings):
            tripped[closing.key] = (
                f"{closing.key} would close {closing.closes} of {closing.findings} findings "
                f"({_above(closing.share, policy.max_share)})"
            )
        elif cluster_trips:
            tripped[closing.key] = (
                f"{closing.key} would close {closing.closes} of {closing.findings} findings, and the cluster's tests "
                f"together {total} of {cluster_findings} ({_above(total / cluster_findings, policy.max_share)})"
            )
    return tripped


def _above(share: float, limit: float) -> str:
    """`77 % > 50 %`; one decimal where whole percents would read `50 % > 50 %`."""
    shown = _percent(share)
    return f"{shown if shown != _percent(limit) else f'{share * 100:.1f} %'} > {_percent(limit)}"


def _percent(share: float) -> str:
    return f"{round(share * 100)} %"
