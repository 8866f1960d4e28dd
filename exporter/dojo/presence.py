"""Whether DefectDojo still holds the tests the sync state says it fed: one list call per engagement.

The state lets an unchanged test be skipped on the promise that DefectDojo still holds it. An analyst may delete
a test, an engagement or a product, and a DefectDojo may be rebuilt from scratch; trusting the state then means
the findings of every unchanged test are never sent again. So before skipping, the recorded test ids are looked
up, an engagement at a time (`GET tests/?engagement=<id>`, paged), and a test whose id is gone is missing: the
sync sends it again.

A recorded id whose test carries another title than the one recorded is either the exporter's own test, retitled
(by an analyst, or by a version that recorded a new title without renaming the test), or another test under a
reused id (a rebuilt DefectDojo hands out the same ids again). One call tells them apart: the exporter's test holds
findings of the test's service. Ours is confirmed, with the title DefectDojo holds, so that the sync renames it
back instead of opening a second copy of every finding; another's is missing.

A check that fails (DefectDojo unreachable) proves nothing: those tests are neither missing nor confirmed, and the
sync treats them as before.

`Places` then decides, for a confirmed test whose names the templates changed, whether it is renamed in place or
stays where it is: DefectDojo can retitle a test but not move it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from exporter.dojo.client import DojoClient, TestContext
from exporter.dojo.plan import fingerprint
from exporter.dojo.state import SyncState
from exporter.errors import DojoError
from exporter.progress import Reporter


@dataclass
class Presence:
    """Test keys DefectDojo was seen to hold (`confirmed`, with the title it holds them under) or not (`missing`);
    others are unknown."""

    confirmed: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    titles: dict[str, str] = field(default_factory=dict)
    unsure: set[str] = field(default_factory=set)  # found under another title, whose it is unknown tonight


def check_recorded_tests(client: DojoClient, state: SyncState, keys: Iterable[str], reporter: Reporter) -> Presence:
    """Look up each engagement holding one of `keys` once; engagement ids the state lacks are found by name.

    Engagement ids found by name are written back to the state, so the next night needs only the list calls.
    """
    presence = Presence()
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
            held = tests.get(state.test_id(key) or _GONE) if tests is not None else None
            if held is None:
                presence.missing.add(key)
            elif held == _title(state, key) or (ours := _holds_service(client, state, key, reporter)):
                presence.confirmed.add(key)
                presence.titles[key] = held
                state.amend(key, engagement_id=engagement)
            elif ours is False:
                presence.missing.add(key)  # another test under a reused id
            else:
                presence.unsure.add(key)  # its findings could not be listed: Places sends nothing for it tonight
    return presence


def _holds_service(client: DojoClient, state: SyncState, key: str, reporter: Reporter) -> bool | None:
    """Whether the recorded test, found under another title, holds findings of the key's service; None: unknown."""
    test_id, service = state.test_id(key), str(state.tests[key]["context"].get("service"))
    try:
        return client.holds_findings_of(test_id or _GONE, service)
    except DojoError as exc:
        reporter.warning(f"DefectDojo: cannot tell whether test {test_id} is still {key}'s: {exc}",
                         event="dojo_presence_unknown", test=key, test_id=test_id)  # fmt: skip
        return None


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


class Places:
    """Where a recorded test's findings go when the name templates changed since it was last sent.

    DefectDojo keeps a finding's history and triage on the finding, in its test, and cannot move a test to another
    engagement (`Test.engagement` is not editable); its title it can change. So:
    - the same engagement (same product and engagement names, or new names an operator already gave the recorded
      engagement in DefectDojo): the test is renamed in place (`PATCH tests/<id>/`) before anything is sent, and
      reimported into as before. There is never a second copy of a finding, nothing is closed that was not fixed,
      and a rename alone costs one call, no reimport. A failed rename sends nothing tonight (a reimport into the
      old title would be found "missing" tomorrow and duplicated); it is tried again the next night;
    - another engagement or product: the test stays where it is, under its recorded names, and keeps being
      reimported into (fixed findings close, nothing is duplicated); a warning every night names it and the two
      ways to move it (rename the engagement or product in DefectDojo to the new names; or delete the test, whose
      findings and triage then start anew in the new place). Sending it anew and closing the old copies would lose
      the triage and report unfixed findings as mitigated;
    - DefectDojo not checked tonight (the list call failed): the recorded names, so that a lookup by title finds
      the test that holds the findings rather than creating a second one;
    - the recorded id found under another title, and whose it is could not be told tonight (its findings could not
      be listed): nothing is sent for it tonight. Sent by its recorded title, which DefectDojo no longer holds, it
      would open a second test beside the one holding its findings, and those would stay open for good.
    """

    def __init__(self, client: DojoClient, state: SyncState, presence: Presence, reporter: Reporter) -> None:
        self.client, self.state, self.presence, self.reporter = client, state, presence, reporter
        self.engagements: dict[tuple[str, str], int | None] = {}
        self.renamed: list[str] = []  # retitled in DefectDojo to the planned title
        self.not_moved: list[str] = []  # left in their engagement: the templates would move them
        self.failed: dict[str, str] = {}  # key -> why its rename failed: not sent tonight

    def context(self, key: str, planned: TestContext, document: bytes) -> TestContext | None:
        """The names to send under tonight; None when the test is not sent tonight (its rename failed)."""
        entry = self.state.tests.get(key) or {}
        if key in self.presence.unsure:
            self.failed[key] = (f"{key}: DefectDojo holds test {self.state.test_id(key)} under another title and "
                                "whether it is still this test's could not be checked; not sent tonight, checked "
                                "again next run")  # fmt: skip
            return None
        if key in self.presence.missing or not isinstance(entry.get("context"), dict):
            return planned
        recorded = TestContext(**entry["context"])
        held = self.presence.titles.get(key, recorded.title)
        if key not in self.presence.confirmed:
            return recorded
        if recorded == planned and held == planned.title:
            return planned
        if not self._same_engagement(key, recorded, planned):
            self._not_moved(key, recorded, planned)
            return recorded
        if held != planned.title and not self._renamed(key, held, planned.title):
            return None
        unchanged = self.state.fingerprint(key) == fingerprint(document, recorded)
        moved_on: dict[str, Any] = {"fingerprint": fingerprint(document, planned)} if unchanged else {}
        self.state.amend(key, context=asdict(planned), **moved_on)
        return planned

    def _same_engagement(self, key: str, recorded: TestContext, planned: TestContext) -> bool:
        """Same names, or the planned names find the recorded engagement (renamed in DefectDojo by an operator)."""
        if _place(recorded) == _place(planned):
            return True
        names = _place(planned)
        if names not in self.engagements:
            try:
                self.engagements[names] = self.client.engagement_id(*names)
            except DojoError as exc:
                self.reporter.warning(f"DefectDojo: cannot find engagement {names[1]!r} of product {names[0]!r}: "
                                      f"{exc}", event="dojo_presence_unknown")  # fmt: skip
                self.engagements[names] = None
        recorded_engagement = self.state.engagement_id(key)
        return recorded_engagement is not None and self.engagements[names] == recorded_engagement

    def _renamed(self, key: str, held: str, title: str) -> bool:
        test_id = self.state.test_id(key)
        try:
            self.client.rename_test(test_id or 0, title)
        except DojoError as exc:
            self.reporter.error(f"DefectDojo: {key}: {exc}; not sent tonight, the rename is tried again next run",
                                event="dojo_failed", test=key)  # fmt: skip
            self.failed[key] = f"{key}: {exc}"
            return False
        self.reporter.info(f"DefectDojo: {key}: test {test_id} renamed from {held!r} to {title!r}",
                           event="dojo_test_renamed", test=key, test_id=test_id)  # fmt: skip
        self.renamed.append(key)
        return True

    def _not_moved(self, key: str, recorded: TestContext, planned: TestContext) -> None:
        test_id = self.state.test_id(key)
        self.reporter.warning(
            f"DefectDojo: {key}: the templates now place it in engagement {planned.engagement!r} of product "
            f"{planned.product!r}, but DefectDojo cannot move a test: it stays test {test_id} in engagement "
            f"{recorded.engagement!r} of product {recorded.product!r}; to move it, rename that engagement or product "
            "in DefectDojo to the new names (keeps every finding and its triage), or delete the test (its findings "
            "start anew in the new place)",
            event="dojo_test_not_moved", test=key, test_id=test_id,
        )  # fmt: skip
        self.not_moved.append(key)


def _place(context: TestContext) -> tuple[str, str]:
    """The product and engagement a test lives in: what DefectDojo cannot change for a test."""
    return context.product, context.engagement
