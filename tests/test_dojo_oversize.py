"""One workload whose own document passes `dojo.max_document_bytes`: split by finding, never refused every night.

Before, a test was split by workload only: a workload larger than the limit went whole, DefectDojo's proxy refused
it (413) night after night and every night ended partial. Now its findings are spread over the parts by their
identity; every part is a document DefectDojo's parser (tests/dojo_parsers.py) turns into findings; one finding
larger than the limit alone is a one-line error for its test, and nothing of that test is closed.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.archive import keys
from exporter.config import load_settings
from exporter.dojo.identities import finding_identities
from exporter.dojo.plan import DojoPlan, PartsBefore, build_plan
from exporter.dojo.state import load_state
from exporter.getter import get_from_files
from exporter.progress import JsonReporter
from exporter.rundir import reader
from exporter.samples import sample_cluster_dir
from tests import dojo_parsers
from tests.cli_outcomes import invoke
from tests.dojo_harness import TOKEN, Harness, cve, events, report
from tests.dojo_standin import DojoStandin

SHOP = "trivy-operator/vulnerability/shop"
LIMIT = 4096
"""dojo.max_document_bytes in these tests; the stand-in's proxy refuses (413) a body a little larger."""
MULTIPART = 2048
"""The form fields around the document in a reimport's body, with room to spare (a new test's names its product
type, product, engagement and title)."""
CVES = [cve(f"CVE-2024-{n:04d}", f"package-{n}") for n in range(40)]
MORE = [cve(f"CVE-2025-{n:04d}", f"package-{n}") for n in range(40, 80)]


@pytest.fixture
def dojo() -> Iterator[DojoStandin]:
    with DojoStandin(token=TOKEN, proxy_max_body_bytes=LIMIT + MULTIPART) as standin:
        yield standin


def web(*vulnerabilities: dict[str, Any]) -> dict[str, Any]:
    return report("shop", "web-6d4cf56db6", *vulnerabilities)


def test_the_standin_refuses_a_workload_over_the_limit_as_a_proxy_does(harness: Harness) -> None:
    """The premise: sent whole (limit raised), the one workload's 40 findings are refused with a 413."""
    result = harness.sync([web(*CVES)], max_document_bytes=10 * LIMIT)
    assert len(result.failed) == 1 and "too large (413)" in result.failed[0]
    assert [r.status for r in harness.dojo.requests if r.path.endswith("/reimport-scan/")] == [413]


def test_a_workload_over_the_limit_is_split_by_finding_and_every_finding_arrives(harness: Harness) -> None:
    result = harness.sync([web(*CVES)], max_document_bytes=LIMIT)
    assert result.failed == [] and len(result.reimported) > 1
    sent = [r for r in harness.dojo.requests if r.path.endswith("/reimport-scan/")]
    assert all(r.status == 201 and (r.file_size or 0) <= LIMIT for r in sent)
    tests = harness.dojo.tests()
    assert len(tests) == len(result.reimported) and all("(part " in str(t["title"]) for t in tests)
    assert all(harness.dojo.findings(test=t["id"]) for t in tests), "no part without a finding"
    assert len(harness.dojo.findings(active=True)) == 40
    harness.dojo.clear_requests()
    again = harness.sync([web(*CVES)], max_document_bytes=LIMIT)
    assert again.reimported == [] and again.failed == [] and again.calls == 1


def test_each_finding_stays_in_its_part_when_another_is_fixed(harness: Harness) -> None:
    harness.sync([web(*CVES)], max_document_bytes=LIMIT)
    before = {f["title"]: (f["id"], f["test"]) for f in harness.dojo.findings(active=True)}
    tests = {t["id"]: t["title"] for t in harness.dojo.tests()}
    result = harness.sync([web(*CVES[1:])], max_document_bytes=LIMIT)
    assert result.failed == [] and len(result.reimported) == 1, "only the part of the fixed finding is sent"
    after = {f["title"]: (f["id"], f["test"]) for f in harness.dojo.findings(active=True)}
    assert after == {title: where for title, where in before.items() if "CVE-2024-0000" not in title}
    [closed] = harness.dojo.findings(active=False)
    assert "CVE-2024-0000" in closed["title"]
    assert {t["id"]: t["title"] for t in harness.dojo.tests()} == tests


def test_a_split_test_that_shrinks_keeps_its_parts_and_its_findings_their_tests(harness: Harness) -> None:
    """Twenty findings fit in fewer parts than forty, but a new count would move every finding to a new test (the
    count is in each part's key and title): the parts stay, the fixed findings close, none is created."""
    harness.sync([web(*CVES)], max_document_bytes=LIMIT)
    titles = {t["id"]: t["title"] for t in harness.dojo.tests()}
    fixed = {str(c["vulnerabilityID"]) for c in CVES[20:]}
    kept = {f["title"]: (f["id"], f["test"]) for f in harness.dojo.findings() if f["title"].split()[0] not in fixed}
    result = harness.sync([web(*CVES[:20])], max_document_bytes=LIMIT, allow_mass_close=True)
    assert result.failed == [] and len(harness.dojo.findings()) == 40, "nothing created"
    assert {f["title"]: (f["id"], f["test"]) for f in harness.dojo.findings(active=True)} == kept
    assert len(harness.dojo.findings(active=False)) == 20
    assert {t["id"]: t["title"] for t in harness.dojo.tests()} == titles


def test_a_split_test_that_grows_keeps_each_finding_in_its_test_and_closes_none(harness: Harness) -> None:
    """Forty more findings need more parts: the old findings stay in their tests (same DefectDojo ids, nothing closed,
    nothing opened twice), the new ones fill the parts and the parts added after the last, and the titles follow."""
    harness.sync([web(*CVES)], max_document_bytes=LIMIT)
    before = {f["title"]: (f["id"], f["test"]) for f in harness.dojo.findings()}
    first_tests = {t["id"] for t in harness.dojo.tests()}
    result = harness.sync([web(*CVES, *MORE)], max_document_bytes=LIMIT)
    assert result.failed == [] and result.valve_held == [] and result.emptied == []
    after = {f["title"]: (f["id"], f["test"]) for f in harness.dojo.findings()}
    assert {title: where for title, where in after.items() if title in before} == before
    assert len(after) == 80 and len(harness.dojo.findings(active=True)) == 80
    tests = harness.dojo.tests()
    assert first_tests < {t["id"] for t in tests}
    assert sorted(t["title"] for t in tests) == sorted(f"vulnerability shop (part {i} of {len(tests)})"
                                                       for i in range(1, len(tests) + 1))  # fmt: skip
    harness.dojo.clear_requests()
    again = harness.sync([web(*CVES, *MORE)], max_document_bytes=LIMIT)
    assert again.reimported == [] and again.renamed == [] and again.calls == 1
    fixed = harness.sync([web(*CVES[1:], *MORE)], max_document_bytes=LIMIT)
    [closed] = harness.dojo.findings(active=False)
    assert closed["id"] == before[closed["title"]][0] and "CVE-2024-0000" in closed["title"]
    assert len(fixed.reimported) == 1 and fixed.valve_held == []


def test_a_whole_test_that_grows_past_the_limit_keeps_its_findings_in_its_test_as_part_one(harness: Harness) -> None:
    """Sent whole while it fit, then too large: the test it was sent to becomes part 1, keeping its findings (their
    ids, their triage); none is closed, none opened twice, and the next unchanged night sends nothing."""
    harness.sync([web(*CVES[:10])], max_document_bytes=LIMIT)
    [whole] = harness.dojo.tests()
    before = {f["title"]: f["id"] for f in harness.dojo.findings()}
    result = harness.sync([web(*CVES)], max_document_bytes=LIMIT)
    assert result.failed == [] and result.valve_held == [] and len(result.reimported) > 1
    assert {f["title"]: f["id"] for f in harness.dojo.findings(test=whole["id"]) if f["title"] in before} == before
    assert len(harness.dojo.findings(active=True)) == 40 and harness.dojo.findings(active=False) == []
    tests = harness.dojo.tests()
    assert {t["id"]: t["title"] for t in tests}[whole["id"]] == f"vulnerability shop (part 1 of {len(tests)})"
    harness.dojo.clear_requests()
    again = harness.sync([web(*CVES)], max_document_bytes=LIMIT)
    assert again.reimported == [] and again.calls == 1


def test_a_split_workload_that_fits_again_keeps_its_findings_in_their_parts(harness: Harness) -> None:
    """Most findings fixed, the workload fits in one part again: the rest stay where they are, only the fixed close."""
    harness.sync([web(*CVES)], max_document_bytes=LIMIT)
    before = {f["title"]: (f["id"], f["test"]) for f in harness.dojo.findings()}
    harness.sync([web(*CVES[:5])], max_document_bytes=LIMIT, allow_mass_close=True)
    open_now = {f["title"]: (f["id"], f["test"]) for f in harness.dojo.findings(active=True)}
    assert len(open_now) == 5 and all(before[title] == where for title, where in open_now.items())
    assert len(harness.dojo.findings()) == 40, "nothing opened anew"


@pytest.mark.parametrize("limit", [LIMIT, 4 * LIMIT])
def test_every_split_test_of_the_sample_is_planned_the_same_from_its_own_parts(tmp_path: Path, limit: int) -> None:
    """Planned again with what the first plan placed where (as the state records it), every scan type's parts come
    out the same: same keys, titles and documents, so an unchanged night sends nothing."""
    first = {str(test.key): test for test in _plan(tmp_path / "first", limit).tests()}
    before: dict[str, PartsBefore] = {}
    for test in first.values():
        if test.key.parts > 1:
            placed = dict(before[_base(test.key)].placed) if _base(test.key) in before else {}
            placed |= dict.fromkeys(finding_identities(test.context.scan_type, test.document), test.key.part)
            before[_base(test.key)] = PartsBefore(test.key.parts, placed)
    assert before, "the sample is split at this limit"
    again = _plan(tmp_path / "again", limit)
    again.parts_before = before
    second = {str(test.key): test for test in again.tests()}
    assert sorted(second) == sorted(first)
    assert all(
        (second[key].context, second[key].document) == (first[key].context, first[key].document) for key in first
    )


def test_a_finding_larger_than_the_limit_alone_fails_its_test_and_closes_nothing(harness: Harness) -> None:
    harness.sync([web(*CVES), report("payments", "api-7c9d8f6b5d", CVES[0])], max_document_bytes=LIMIT)
    parts = {t["id"] for t in harness.dojo.tests()}
    huge = {**cve("CVE-2024-9999", "libhuge"), "title": "x" * (2 * LIMIT)}
    harness.dojo.clear_requests()
    result = harness.sync([web(*CVES[:5], huge), report("payments", "api-7c9d8f6b5d", CVES[1])],
                          max_document_bytes=LIMIT)  # fmt: skip
    [failed] = result.failed
    assert "\n" not in failed and failed.startswith(f"{SHOP}: one finding of shop/Deployment/web/app makes a document")
    assert "raise dojo.max_document_bytes" in failed and "nothing of it closed" in failed
    assert result.reimported == ["trivy-operator/vulnerability/payments"] and result.emptied == []
    sent = [r.form["test"] for r in harness.dojo.requests if r.path.endswith("/reimport-scan/")]
    assert sent == [str(_payments(harness))] and {t["id"] for t in harness.dojo.tests()} == parts
    assert len([f for f in harness.dojo.findings(active=True) if f["test"] != _payments(harness)]) == 40
    [error] = events(harness, "dojo_too_large")
    assert error["level"] == "error" and error["test"] == SHOP


@pytest.mark.parametrize("limit", [LIMIT, 4 * LIMIT])
def test_every_part_of_the_sample_cluster_split_by_finding_parses_into_its_findings(tmp_path: Path, limit: int) -> None:
    """Every test of the sample (every scan type and report kind) split hard: each part is a document the ported
    parser reads, makes at least one finding, and the parts together make exactly the findings of the whole."""
    whole = _plan(tmp_path / "whole", 90 * 1024 * 1024)
    split = _plan(tmp_path / "split", limit)
    expected = {_base(test.key): _hashes(test.context.scan_type, test.document) for test in whole.tests()}
    found: dict[str, Counter[str]] = {}
    for test in split.tests():
        assert len(test.document) <= limit, test.key
        hashes = _hashes(test.context.scan_type, test.document)
        assert hashes or test.key.parts == 1, f"{test.key} is a part that makes no finding"
        found.setdefault(_base(test.key), Counter()).update(hashes)
    assert split.too_large == {}
    assert found == expected
    split_types = {test.context.scan_type for test in split.tests() if test.key.parts > 1}
    assert split_types == ({"Trivy Operator Scan", "Anchore Grype", "Kubescape JSON Importer"} if limit == LIMIT
                           else {"Trivy Operator Scan", "Anchore Grype"})  # fmt: skip


def _plan(tmp_path: Path, limit: int) -> DojoPlan:
    settings = load_settings(environ={}, flags={"cluster": "prod", "dojo.max_document_bytes": limit})
    run_dir = get_from_files(settings, sample_cluster_dir(), tmp_path / "runs", JsonReporter(io.StringIO())).run_dir
    (tmp_path / "scratch").mkdir()
    return build_plan(run_dir, reader.read_manifest(run_dir), settings.dojo, tmp_path / "scratch")


def _base(key: Any) -> str:
    return str(key).split("#", 1)[0]


def _hashes(scan_type: str, document: bytes) -> Counter[str]:
    """The hash_codes DefectDojo's parser (the port) makes of the document, without the test's service."""
    return Counter(dojo_parsers.hash_code(scan_type, finding) for finding in dojo_parsers.parse(scan_type, document))


def _payments(harness: Harness) -> int:
    [test] = [t for t in harness.dojo.tests() if t["title"] == "vulnerability payments"]
    return int(test["id"])


def test_dojo_plan_shows_the_parts_the_sync_sends_reading_the_state(harness: Harness, tmp_path: Path) -> None:
    """`dojo plan` with the archive configured reads the DefectDojo state: a grown split test is shown in the parts
    it is sent in (keys of the first split, each finding where it was), not as a first night would lay it out."""
    harness.sync([web(*CVES)], max_document_bytes=LIMIT)
    grown = harness.run_dir([web(*CVES, *MORE)])
    harness.sync(grown, max_document_bytes=LIMIT)
    sent = sorted(key for key in load_state(harness.store, "prod").tests if key.startswith(SHOP))
    config = tmp_path / "plan.yaml"
    config.write_text(f"cluster: prod\ndojo:\n  max_document_bytes: {LIMIT}\n")

    def planned(archive: str | None, name: str = "") -> tuple[list[str], str]:
        shown = tmp_path / f"plan-{archive is not None}{name}"
        env = {"REPORT_EXPORTER_ARCHIVE": archive} if archive else {}
        outcome = invoke(["dojo", "plan", str(grown), "--documents", str(shown), "--config", str(config)], env=env)
        assert outcome.code == 0, outcome.stderr
        names = sorted(path.stem for path in shown.iterdir() if path.stem.startswith(SHOP.replace("/", "_")))
        return names, outcome.stderr

    as_sent, _ = planned(harness.store.url)
    assert as_sent == sorted(key.replace("/", "_").replace("#", "_part") for key in sent)
    first_night, _ = planned(None)
    assert first_night != as_sent, "without the state the grown test is laid out as on a first night"
    harness.store.put_bytes(b'{"schema_version": 1, "te', keys.dojo_state_key("prod"))
    shown, said = planned(harness.store.url, "unreadable")
    assert shown == first_night and "split tests are shown as a first night lays them out, not as last sent" in said
    assert "is not JSON" in said, "the plan still prints, and says why its layout is a first night's"
