"""The planner at the edges found by mutation testing: where a test over `dojo.max_document_bytes` is split.

- A workload whose own document is exactly the limit fits: it goes whole, by its workload, not finding by finding.
- One finding whose document is exactly the limit fits too: the test is sent, not refused as too large.
- A split by finding skips an entry its parser makes nothing of (a compliance control without failures) and goes
  on: the failed controls after it are sent, or DefectDojo would close them as fixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import yaml

from exporter.dojo import documents
from exporter.dojo.plan import DojoPlan
from exporter.samples import sample_cluster_dir
from tests import dojo_parsers
from tests.dojo_harness import plan_of, plan_settings
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
