"""A split test planned again (plan.PartsBefore), at the edges found by mutation testing: each finding stays in the
part that held it, or DefectDojo closes it there as fixed although it is not.

- New workloads go to the part they hash to; what that part cannot hold beside what it held goes to new parts after
  the last, one part each when two do not fit together, every part within the limit.
- A part exactly at the limit keeps what it held; a workload whose findings were in two parts keeps them there
  when it fits whole again (the limit raised).
- A test sent whole that grew into parts keeps them when it fits whole again; one sent whole with no finding
  recorded (a document without findings, or an older state) still goes whole.
- A part whose findings are all fixed is not planned (sync empties it); when every finding is fixed, none is.
- A workload that gains a finding its part cannot hold beside the rest keeps its old findings in that part: only the
  new one goes elsewhere. (It used to move whole to a new part, and DefectDojo closed its old findings as fixed.)

Workloads svc<n> of namespace shop; a first split into 2 places svc4, svc5, svc6 and svc7 in part 1, svc0 and svc2
in part 2 (their crc32 modulo 2, as in test_dojo_plan.py). One finding makes a document of about 550 bytes, a title
of 1000 characters makes it about 1550.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from exporter.dojo.identities import finding_identities
from exporter.dojo.plan import DojoPlan, PartsBefore
from tests.dojo_harness import Harness, cve, plan_of, plan_settings, report

LIMIT = 3000
SHOP = "trivy-operator/vulnerability/shop"


def svc(index: int, *identifiers: str, large: bool = False) -> dict[str, Any]:
    """Deployment svc<index>'s VulnerabilityReport with these findings, each of a long title when `large`."""
    findings = [{**cve(i, f"pkg-{i}"), "title": "x" * 1000 if large else i} for i in identifiers]
    return report("shop", f"svc{index}-6d4cf56db6", *findings)


def night(
    tmp_path: Path, objects: list[dict[str, Any]], before: dict[str, PartsBefore] | None = None, limit: int = LIMIT
) -> DojoPlan:
    """The plan of a night with these objects, as split before (`before`, what the state recorded)."""
    plan = plan_of(tmp_path, objects, plan_settings(limit))
    plan.parts_before = before or {}
    return plan


def sent(plan: DojoPlan) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """Each planned test's key -> its title and (workload, vulnerability id) of every finding in its document."""
    tests = {}
    for test in plan.tests():
        assert len(test.document) <= plan.settings.max_document_bytes, f"{test.key} passes the limit"
        findings = sorted(
            (obj["metadata"]["labels"]["trivy-operator.resource.name"].removesuffix("-6d4cf56db6"),
             vulnerability["vulnerabilityID"])
            for obj in orjson.loads(test.document)
            for vulnerability in obj["report"]["vulnerabilities"]
        )  # fmt: skip
        tests[str(test.key)] = (test.context.title, findings)
    return tests


def recorded(plan: DojoPlan) -> dict[str, PartsBefore]:
    """What the state records of the plan's split tests: their count and the part of each finding."""
    before: dict[str, PartsBefore] = {}
    for test in plan.tests():
        base = str(test.key).split("#", 1)[0]
        placed = dict(before[base].placed) if base in before else {}
        placed |= dict.fromkeys(finding_identities(test.context.scan_type, test.document), test.key.part)
        before[base] = PartsBefore(test.key.parts, placed)
    return before


FIRST = [svc(4, "CVE-2024-0004", large=True), svc(6, "CVE-2024-0006"), svc(0, "CVE-2024-0000", large=True)]
"""About 3.6 KB together: split into 2, svc4 and svc6 in part 1 (2.1 KB), svc0 in part 2."""


def test_the_first_night_splits_the_workloads_into_two_parts_by_their_hash(tmp_path: Path) -> None:
    """The premise of the tests below."""
    assert sent(night(tmp_path, FIRST)) == {
        f"{SHOP}#1/2": ("vulnerability shop (part 1 of 2)", [("svc4", "CVE-2024-0004"), ("svc6", "CVE-2024-0006")]),
        f"{SHOP}#2/2": ("vulnerability shop (part 2 of 2)", [("svc0", "CVE-2024-0000")]),
    }


def test_new_workloads_the_part_they_hash_to_cannot_hold_go_to_new_parts_each_within_the_limit(tmp_path: Path) -> None:
    """svc5 and svc7 are new, large, and hash to part 1, which holds svc4 and svc6: those stay, and the new ones go
    to parts 3 and 4 (together they pass the limit); part 2 is as it was. The keys keep the first count, the titles
    say the current one."""
    before = recorded(night(tmp_path / "first", FIRST))
    new = [svc(5, "CVE-2024-0005", large=True), svc(7, "CVE-2024-0007", large=True)]
    second = night(tmp_path / "second", [*FIRST, *new], before)
    assert sent(second) == {
        f"{SHOP}#1/2": ("vulnerability shop (part 1 of 4)", [("svc4", "CVE-2024-0004"), ("svc6", "CVE-2024-0006")]),
        f"{SHOP}#2/2": ("vulnerability shop (part 2 of 4)", [("svc0", "CVE-2024-0000")]),
        f"{SHOP}#3/2": ("vulnerability shop (part 3 of 4)", [("svc5", "CVE-2024-0005")]),
        f"{SHOP}#4/2": ("vulnerability shop (part 4 of 4)", [("svc7", "CVE-2024-0007")]),
    }
    third = night(tmp_path / "third", [*FIRST, *new], recorded(second))
    assert sent(third) == sent(second), "unchanged, the next night plans the same parts: svc5 and svc7 stay"


def test_a_new_workload_goes_to_the_part_it_hashes_to_beside_what_that_part_held(tmp_path: Path) -> None:
    """svc2 is new and small and hashes to part 2: it joins svc0 there; nothing is added after the last part."""
    before = recorded(night(tmp_path / "first", FIRST))
    assert sent(night(tmp_path / "second", [*FIRST, svc(2, "CVE-2024-0002")], before)) == {
        f"{SHOP}#1/2": ("vulnerability shop (part 1 of 2)", [("svc4", "CVE-2024-0004"), ("svc6", "CVE-2024-0006")]),
        f"{SHOP}#2/2": ("vulnerability shop (part 2 of 2)", [("svc0", "CVE-2024-0000"), ("svc2", "CVE-2024-0002")]),
    }


def test_a_part_whose_findings_are_all_fixed_is_not_planned(tmp_path: Path) -> None:
    """svc0's finding is fixed (its report lists none): part 2 would make no finding and is left to the sync, which
    re-sends it empty when the scope was read whole (DojoPlan.may_empty); part 1 is planned as it was."""
    before = recorded(night(tmp_path / "first", FIRST))
    assert sent(night(tmp_path / "second", [*FIRST[:2], svc(0)], before)) == {
        f"{SHOP}#1/2": ("vulnerability shop (part 1 of 2)", [("svc4", "CVE-2024-0004"), ("svc6", "CVE-2024-0006")]),
    }


def test_a_split_test_whose_findings_are_all_fixed_plans_no_part(tmp_path: Path) -> None:
    before = recorded(night(tmp_path / "first", FIRST))
    plan = night(tmp_path / "second", [svc(4), svc(6), svc(0)], before)
    assert sent(plan) == {} and plan.too_large == {}


def test_a_workload_that_gains_a_finding_its_part_cannot_hold_keeps_its_old_finding_there(tmp_path: Path) -> None:
    """svc6 gains a large finding: svc4 and svc6 together no longer fit in part 1. svc6's old finding stays in part 1
    beside svc4 (moved, DefectDojo would close it there as fixed and open it anew without its triage); its new one
    goes to a part of its own after the last."""
    before = recorded(night(tmp_path / "first", FIRST))
    grown = svc(6, "CVE-2024-0006")
    grown["report"]["vulnerabilities"] += svc(6, "CVE-2024-0106", large=True)["report"]["vulnerabilities"]
    assert sent(night(tmp_path / "second", [FIRST[0], grown, FIRST[2]], before)) == {
        f"{SHOP}#1/2": ("vulnerability shop (part 1 of 3)", [("svc4", "CVE-2024-0004"), ("svc6", "CVE-2024-0006")]),
        f"{SHOP}#2/2": ("vulnerability shop (part 2 of 3)", [("svc0", "CVE-2024-0000")]),
        f"{SHOP}#3/2": ("vulnerability shop (part 3 of 3)", [("svc6", "CVE-2024-0106")]),
    }


def test_a_workload_that_gains_a_finding_closes_none_of_its_old_findings_in_defectdojo(harness: Harness) -> None:
    """The same two nights through the sync into the stand-in: nothing is closed, every old finding keeps its id and
    its test, and the next unchanged night sends nothing."""
    harness.sync(FIRST, max_document_bytes=LIMIT)
    before = {f["title"]: (f["id"], f["test"]) for f in harness.dojo.findings()}
    grown = svc(6, "CVE-2024-0006")
    grown["report"]["vulnerabilities"] += svc(6, "CVE-2024-0106", large=True)["report"]["vulnerabilities"]
    result = harness.sync([FIRST[0], grown, FIRST[2]], max_document_bytes=LIMIT)
    assert result.failed == [] and harness.dojo.findings(active=False) == []
    after = {f["title"]: (f["id"], f["test"]) for f in harness.dojo.findings()}
    assert {title: where for title, where in after.items() if title in before} == before and len(after) == 4
    harness.dojo.clear_requests()
    again = harness.sync([FIRST[0], grown, FIRST[2]], max_document_bytes=LIMIT)
    assert again.reimported == [] and again.calls == 1


def test_a_part_of_exactly_the_limit_keeps_what_it_held(tmp_path: Path) -> None:
    """Planned again with the limit set to part 1's own size, nothing changed: part 1 still holds svc4 and svc6."""
    first = night(tmp_path / "first", FIRST)
    [part_one] = [test for test in first.tests() if test.key.part == 1]
    again = night(tmp_path / "again", FIRST, recorded(first), limit=len(part_one.document))
    assert sent(again) == {
        f"{SHOP}#1/2": ("vulnerability shop (part 1 of 2)", [("svc4", "CVE-2024-0004"), ("svc6", "CVE-2024-0006")]),
        f"{SHOP}#2/2": ("vulnerability shop (part 2 of 2)", [("svc0", "CVE-2024-0000")]),
    }


def test_a_workload_whose_findings_were_in_two_parts_keeps_them_there_when_it_fits_whole_again(tmp_path: Path) -> None:
    """svc4's three large findings pass the limit together: split by finding, into two parts. With the limit raised
    the workload fits one part again, but each finding stays where it was: sent whole to one part, the findings of
    the other would be closed there as fixed."""
    large = [svc(4, "CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0003", large=True)]
    first = night(tmp_path / "first", large)
    split = sent(first)
    assert sorted(split) == [f"{SHOP}#2/4", f"{SHOP}#4/4"], "the premise: two parts (of 4, the others make nothing)"
    assert sent(night(tmp_path / "again", large, recorded(first), limit=4 * LIMIT)) == split


def test_a_whole_test_that_grew_into_parts_keeps_them_when_it_fits_whole_again(tmp_path: Path) -> None:
    """Sent whole, then grown past the limit: part 1 keeps the whole test's key and svc0, new, goes to a part 2 after
    it (`#2/1`). With the limit raised the test would fit whole again, but sent whole, svc0's finding would leave
    `#2/1` and be closed there: the parts stay."""
    whole = night(tmp_path / "whole", FIRST[:2])
    assert sorted(sent(whole)) == [SHOP]
    grown = night(tmp_path / "grown", FIRST, recorded(whole))
    parts = {
        SHOP: ("vulnerability shop (part 1 of 2)", [("svc4", "CVE-2024-0004"), ("svc6", "CVE-2024-0006")]),
        f"{SHOP}#2/1": ("vulnerability shop (part 2 of 2)", [("svc0", "CVE-2024-0000")]),
    }
    assert sent(grown) == parts
    assert sent(night(tmp_path / "raised", FIRST, recorded(grown), limit=4 * LIMIT)) == parts


def test_a_whole_test_with_no_finding_recorded_still_goes_whole(tmp_path: Path) -> None:
    """The state recorded no finding of the test (its document made none, or the state is older than the split):
    sent whole, never given a part after it, it goes whole again, findings or none."""
    before = {SHOP: PartsBefore(1)}
    assert sent(night(tmp_path / "none", [svc(4), svc(0)], before)) == {SHOP: ("vulnerability shop", [])}
    assert sent(night(tmp_path / "some", FIRST[:2], before)) == {
        SHOP: ("vulnerability shop", [("svc4", "CVE-2024-0004"), ("svc6", "CVE-2024-0006")])
    }
