"""Whether DefectDojo still holds the tests the sync state says it fed: one list call per engagement.

The state lets an unchanged test be skipped on the promise that DefectDojo still holds it. An analyst may delete
a test, an engagement or a product, and a DefectDojo may be rebuilt from scratch; trusting the state then means
the findings of every unchanged test are never sent again. So before skipping, the recorded test ids are looked
up, an engagement at a time (`GET tests/?engagement=<id>`, paged), and a test whose id is gone, or now carries
another title (a rebuilt DefectDojo hands out the same ids again), is missing: the sync sends it again.

A check that fails (DefectDojo unreachable) proves nothing: those tests are neither missing nor confirmed, and the
sync treats them as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from exporter.dojo.client import DojoClient
from exporter.dojo.state import SyncState
from exporter.errors import DojoError
from exporter.progress import Reporter


@dataclass
class Presence:
    """Test keys DefectDojo was seen to hold (`confirmed`) or not (`missing`); others are unknown."""

    confirmed: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    calls: int = 0


def check_recorded_tests(client: DojoClient, state: SyncState, keys: Iterable[str], reporter: Reporter) -> Presence:
    """Look up each engagement holding one of `keys` once; engagement ids the state lacks are found by name.

    Engagement ids found by name are written back to the state, so the next night needs only the list calls.
    """
    presence = Presence()
    before = client.calls
    for engagement, group in _by_engagement(client, state, keys, presence, reporter).items():
        if client.unreachable:
            break
        try:
            tests = client.engagement_tests(engagement)
        except DojoError as exc:
            reporter.warning(f"DefectDojo: cannot check the tests of engagement {engagement}: {exc}",
                             event="dojo_presence_unknown", engagement_id=engagement)  # fmt: skip
            continue
        for key in group:
            if tests is not None and tests.get(state.test_id(key) or _GONE) == _title(state, key):
                presence.confirmed.add(key)
                state.amend(key, engagement_id=engagement)
            else:
                presence.missing.add(key)
    presence.calls = client.calls - before
    return presence


def _by_engagement(
    client: DojoClient, state: SyncState, keys: Iterable[str], presence: Presence, reporter: Reporter
) -> dict[int, list[str]]:
    """Keys with a recorded test, by engagement id; keys whose product or engagement is gone are missing already."""
    groups: dict[int, list[str]] = {}
    by_name: dict[tuple[str, str], int | None] = {}
    for key in sorted(keys):
        context = state.tests.get(key, {}).get("context")
        if state.test_id(key) is None or not isinstance(context, dict):
            continue
        engagement = state.engagement_id(key)
        if engagement is None:
            names = (str(context.get("product")), str(context.get("engagement")))
            if names not in by_name:
                by_name[names] = _resolve(client, names, reporter)
            engagement = by_name[names]
            if engagement == _GONE:
                presence.missing.add(key)
        if engagement is not None and engagement != _GONE:
            groups.setdefault(engagement, []).append(key)
    return groups


_GONE = -1
"""What `_resolve` answers for a product or engagement DefectDojo does not have (ids are positive)."""


def _resolve(client: DojoClient, names: tuple[str, str], reporter: Reporter) -> int | None:
    """The engagement's id by product and engagement name, `_GONE` when either is gone, None when unknown."""
    if client.unreachable:
        return None
    try:
        found = client.engagement_id(*names)
    except DojoError as exc:
        reporter.warning(f"DefectDojo: cannot find engagement {names[1]!r} of product {names[0]!r}: {exc}",
                         event="dojo_presence_unknown")  # fmt: skip
        return None
    return _GONE if found is None else found


def _title(state: SyncState, key: str) -> str:
    return str(state.tests[key]["context"].get("title"))
