"""The planner at the edges found by mutation testing: where a test over `dojo.max_document_bytes` is split.

- A workload whose own document is exactly the limit fits: it goes whole, by its workload, not finding by finding.
- One finding whose document is exactly the limit fits too: the test is sent, not refused as too large.
- A split by finding skips an entry its parser makes nothing of (a compliance control without failures) and goes
  on: the failed controls after it are sent, or DefectDojo would close them as fixed.
- Every name of a test is rendered from its template, the product type's too.
- A test too large to send is noted and skipped; the tests after it are planned all the same (not planned, each
  would be re-sent empty, and DefectDojo would close all its findings).
- Two workloads that share a part at every count tried (their crc32 agree in the low bits) and pass the limit
  together make the test too large, with the last count tried in its message: nothing of it is sent.
"""

from __future__ import annotations

import dataclasses
import zlib
from itertools import count
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from exporter.config import load_settings
from exporter.dojo import convert, documents, plan
from exporter.dojo.plan import DojoPlan
from exporter.samples import sample_cluster_dir
from tests import dojo_parsers
from tests.dojo_harness import SHOP_CONTEXT, plan_of, plan_settings
from tests.report_objects import vulnerability_report


def workload(index: int, *cves: str, title: str = "openssl: type confusion") -> dict[str, Any]:
    """Deployment svc<index>'s VulnerabilityReport with these findings."""
    obj = vulnerability_report("shop", f"replicaset-svc{index}-6d4cf56db6-app")
    obj["metadata"]["labels"]["trivy-operator.resource.name"] = f"svc{index}-6d4cf56db6"
    [vulnerability] = obj["report"]["vulnerabilities"]
    obj["report"]["vulnerabilities"] = [
        {**vulnerability, "vulnerabilityID": cve, "resource": f"pkg-{cve}", "title": title} for cve in cves
    ]
    return obj


def findings_by_part(plan: DojoPlan) -> dict[str, list[tuple[str, str]]]:
    """Each planned test's key -> (workload, vulnerability id) of every finding its document holds, sorted."""
    return {
        str(test.key): sorted(
            (obj["metadata"]["labels"]["trivy-operator.resource.name"].removesuffix("-6d4cf56db6"),
             vulnerability["vulnerabilityID"])
            for obj in orjson.loads(test.document)
            for vulnerability in obj["report"]["vulnerabilities"]
        )
        for test in plan.tests()
    }  # fmt: skip


def test_a_workload_of_exactly_the_limit_goes_whole_into_its_part(tmp_path: Path) -> None:
    """svc4 (two findings) alone makes a document of exactly the limit, svc0 beside it passes it: two parts by
    workload (crc32 % 2: svc4 in part 1, svc0 in part 2, as in test_dojo_plan.py), svc4 one object, not split."""
    svc4 = workload(4, "CVE-2024-0001", "CVE-2024-0002", title="x" * 600)  # above the least limit, 1 KiB
    [whole] = plan_of(tmp_path / "whole", [svc4], plan_settings()).tests()
    plan = plan_of(tmp_path / "split", [svc4, workload(0, "CVE-2024-0003")], plan_settings(len(whole.document)))
    assert findings_by_part(plan) == {
        "trivy-operator/vulnerability/shop#1/2": [("svc4", "CVE-2024-0001"), ("svc4", "CVE-2024-0002")],
        "trivy-operator/vulnerability/shop#2/2": [("svc0", "CVE-2024-0003")],
    }
    assert [test.objects for test in plan.tests()] == [1, 1]


def test_a_finding_of_exactly_the_limit_is_sent_not_refused_as_too_large(tmp_path: Path) -> None:
    """One workload, two findings, each large (a long title): together above the limit, the larger alone exactly
    at it. Split by finding, every finding goes; nothing is held as too large."""
    svc4 = workload(4, "CVE-2024-0001", "CVE-2024-0002", title="x" * 1500)
    [whole] = plan_of(tmp_path / "whole", [svc4], plan_settings()).tests()
    limit = max(len(fragment) for fragment in documents.split_findings(whole.context.scan_type, whole.document))
    assert limit < len(whole.document)
    plan = plan_of(tmp_path / "split", [svc4], plan_settings(limit))
    assert sorted(finding for found in findings_by_part(plan).values() for finding in found) == [
        ("svc4", "CVE-2024-0001"),
        ("svc4", "CVE-2024-0002"),
    ]
    assert plan.too_large == {}


def test_a_passed_control_does_not_stop_the_failed_controls_after_it_from_being_sent(tmp_path: Path) -> None:
    """The sample's PSS baseline compliance summary, whose first control has no failure, split by control (2 KiB;
    each control's document alone is a little over 1 KiB): the passed controls make no finding and no part, and
    every failed control after them is in a part."""
    [report] = [
        obj
        for obj in yaml.safe_load_all((sample_cluster_dir() / "cluster-scoped.yaml").read_text())
        if obj and obj["metadata"]["name"] == "k8s-pss-baseline-0.1"
    ]
    controls = report["status"]["summaryReport"]["controlCheck"]
    assert [control["totalFail"] for control in controls] == [0, 4, 1, 0, 3, 0, 0, 0, 0, 9, 0]
    plan = plan_of(tmp_path, [report], plan_settings(2048))
    found = [finding for test in plan.tests() for finding in dojo_parsers.parse(test.context.scan_type, test.document)]
    assert plan.too_large == {} and len(found) == 4, "the four failed controls, one finding each"


def test_two_workloads_that_share_a_part_at_every_count_make_the_test_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first split places each workload by its crc32 modulo the count of parts, 2, 4, 8 ... up to `_MAX_PARTS`. Two
    workloads whose crc32 agree modulo the last count share a part at every count: when they pass the limit together
    (each alone fits) the test is refused, naming the last count tried, and nothing of it is sent.

    The real last count, 2**20, takes some 10 s of empty parts to reach (svc4958 and svc70002 agree in their low 20
    bits); 8 stands in for it, with a workload found to agree with svc0 modulo 8."""
    monkeypatch.setattr(plan, "_MAX_PARTS", 8)

    def low_bits(obj: dict[str, Any]) -> int:
        return zlib.crc32(str(convert.workload_of(obj)).encode()) % 8

    first = workload(0, "CVE-2024-0001", title="x" * 1000)
    partner = next(n for n in count(1) if low_bits(workload(n)) == low_bits(first))
    second = workload(partner, "CVE-2024-0002", title="x" * 1000)
    alone = [len(test.document) for index, obj in enumerate((first, second))
             for test in plan_of(tmp_path / f"alone{index}", [obj], plan_settings()).tests()]  # fmt: skip
    assert max(alone) <= 2048 < sum(alone)
    refused = plan_of(tmp_path / "both", [first, second], plan_settings(2048))
    assert list(refused.tests()) == []
    assert refused.too_large == {
        "trivy-operator/vulnerability/shop": "trivy-operator/vulnerability/shop: no split into up to 8 parts keeps "
        "each below dojo.max_document_bytes (2.0 KiB); raise dojo.max_document_bytes, within DefectDojo's "
        "DD_SCAN_FILE_MAX_SIZE; not sent, nothing of it closed"
    }


def test_a_test_too_large_to_send_does_not_stop_the_tests_after_it(tmp_path: Path) -> None:
    """Tests are planned in the order of their keys: namespace `billing`'s test, one finding larger than the limit
    alone, comes before `shop`'s, which is planned all the same."""
    huge = vulnerability_report("billing", "replicaset-ledger-7c9d8f6b5d-app")
    huge["report"]["vulnerabilities"][0]["title"] = "x" * 2048
    refused = plan_of(tmp_path, [huge, workload(4, "CVE-2024-0001")], plan_settings(1024))
    assert findings_by_part(refused) == {"trivy-operator/vulnerability/shop": [("svc4", "CVE-2024-0001")]}
    assert list(refused.too_large) == ["trivy-operator/vulnerability/billing"]


def test_every_name_of_a_test_is_rendered_from_its_template(tmp_path: Path) -> None:
    templates = {"product_type": "{cluster} clusters", "product": "{cluster}-{scanner}", "engagement": "{family}",
                 "test": "{scope}: {family}"}  # fmt: skip
    settings = load_settings(environ={}, flags={"cluster": "prod"} | {f"dojo.{k}": v for k, v in templates.items()})
    [test] = plan_of(tmp_path, [workload(4, "CVE-2024-0001")], settings).tests()
    assert test.context == dataclasses.replace(
        SHOP_CONTEXT,
        product_type="prod clusters",
        product="prod-trivy-operator",
        engagement="vulnerability",
        title="shop: vulnerability",
    )
