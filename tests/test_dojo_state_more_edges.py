"""What the sync reads back from its state about split tests (`sync.parts_before`), at the edges found by mutation
testing.

The parts a test was last sent in, and the part each of its findings was in, come from the state's keys
(`<key>#<part>/<parts>`, or the bare key of a test sent whole: part 1 of 1) and the identities recorded for each.
Read wrongly, a split test's findings would be laid out anew: DefectDojo closes them in one part although they are
not fixed and opens them again, without their triage, in another.
"""

from __future__ import annotations

from pathlib import Path

from exporter.dojo.identities import finding_identities
from exporter.dojo.plan import PartsBefore
from exporter.dojo.state import SyncState
from exporter.dojo.sync import parts_before
from tests.dojo_harness import cve, plan_of, plan_settings, report

SHOP = "trivy-operator/vulnerability/shop"
AUDIT = "trivy-operator/config-audit/shop"
API = "trivy-operator/vulnerability/payments"
SHOP_SCAN = "Trivy Operator Scan"


def test_each_test_is_read_with_its_part_count_and_the_part_of_each_of_its_findings() -> None:
    state = SyncState()
    state.record(f"{SHOP}#1/3", fingerprint="1", identities=frozenset({"a", "b"}))
    state.record(f"{SHOP}#3/3", fingerprint="3", identities=frozenset({"c"}))
    state.record(f"{SHOP}#4/3", fingerprint="4", identities=frozenset({"d"}))  # grown past its three parts
    state.record(API, fingerprint="w", identities=frozenset({"e"}))  # sent whole
    state.record(f"{API}#2/1", fingerprint="w2", identities=frozenset({"f"}))  # a whole test grown past the limit
    assert parts_before(state) == {
        SHOP: PartsBefore(3, {"a": 1, "b": 1, "c": 3, "d": 4}),
        API: PartsBefore(1, {"e": 1, "f": 2}),
    }


def test_a_test_whose_findings_were_not_recorded_has_its_part_count_and_no_placed_findings() -> None:
    """A state written before identities were recorded: the count is known, where each finding was is not."""
    state = SyncState({f"{SHOP}#1/2": {"fingerprint": "1"}, f"{SHOP}#2/2": {"fingerprint": "2"}, API: {}})
    before = parts_before(state)
    assert before == {SHOP: PartsBefore(2, {}), API: PartsBefore(1, {})}
    assert [dict(b.placed) for b in before.values()] == [{}, {}]


def test_a_key_in_no_form_the_planner_writes_is_left_out_and_the_keys_after_it_are_still_read() -> None:
    state = SyncState()
    state.record(f"{AUDIT}#first/2", fingerprint="x", identities=frozenset({"x"}))
    state.record(f"{AUDIT}#1/two", fingerprint="y", identities=frozenset({"y"}))
    state.record(f"{SHOP}#2/2", fingerprint="2", identities=frozenset({"b"}))
    assert parts_before(state) == {SHOP: PartsBefore(2, {"b": 2})}


CVES = [cve(f"CVE-2024-{n:04d}", f"package-{n}") for n in range(40)]


def test_emptied_parts_of_an_older_count_do_not_move_the_findings_of_the_live_parts(tmp_path: Path) -> None:
    """A version before de1365a split a shrinking test anew, leaving `#1/8` ... emptied beside the live `#1/4` ...;
    read as a count of 8, every finding went into the old parts (opened a second time) and the live parts were
    emptied (their findings closed, unfixed). The count comes from the parts that hold findings."""
    config = plan_settings(4096)
    objects = [report("shop", "web-6d4cf56db6", *CVES)]
    first = list(plan_of(tmp_path / "a", objects, config).tests())
    live = {str(t.key): t for t in first}
    base, count = str(first[0].key).split("#")[0], first[0].key.parts
    assert count > 1, "split at this limit"
    state = SyncState()
    for part in range(1, 2 * count + 1):  # an older version's split in twice as many parts, emptied since
        state.record(f"{base}#{part}/{2 * count}", fingerprint="emptied", identities=frozenset())
    for key, test in live.items():
        state.record(key, fingerprint=test.fingerprint, identities=finding_identities(SHOP_SCAN, test.document))
    plan = plan_of(tmp_path / "b", objects, config)
    plan.parts_before = parts_before(state)
    assert sorted(str(t.key) for t in plan.tests()) == sorted(live)


def test_a_test_whose_parts_are_all_emptied_keeps_its_count() -> None:
    state = SyncState()
    for part in (1, 2):
        state.record(f"{SHOP}#{part}/2", fingerprint="emptied", identities=frozenset())
    assert parts_before(state) == {SHOP: PartsBefore(2, {})}
