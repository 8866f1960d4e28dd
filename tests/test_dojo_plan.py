"""The DefectDojo planner's two identities: a test's fingerprint (what makes a test be sent again) and the part of a
split test each workload lands in (what keeps a finding in one test across nights).

Expected values are literals: the part of each workload was computed once with zlib.crc32 by hand, so a partition
that changes (another hash, Python's per-process `hash()`) fails here instead of moving findings between tests.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from exporter.dojo.coverage import Coverage
from exporter.dojo.plan import DojoPlan, build_plan, fingerprint
from exporter.getter import get_from_files
from exporter.progress import JsonReporter
from exporter.rundir import reader
from tests.dojo_harness import SHOP_CONTEXT, plan_of, plan_settings
from tests.report_objects import vulnerability_report

CONTEXT = SHOP_CONTEXT
DOCUMENT = orjson.dumps([vulnerability_report("shop", "replicaset-web-6d4cf56db6-app")])

# Twelve Deployments `svc0`..`svc11` of namespace shop split in four parts: part -> its workloads, from
# zlib.crc32(b"Workload(namespace='shop', kind='Deployment', name='svcN', container='app')") % 4 + 1.
PARTS_OF_TWELVE = {
    1: ["svc4", "svc6"],
    2: ["svc0", "svc11", "svc2", "svc9"],
    3: ["svc5", "svc7"],
    4: ["svc1", "svc10", "svc3", "svc8"],
}


@pytest.mark.parametrize("name", ["product_type", "product", "engagement", "title", "service"])
def test_a_test_sent_under_another_name_has_another_fingerprint(name: str) -> None:
    """Renamed (a template changed, the cluster renamed), the same findings belong to another test: sent again."""
    renamed = dataclasses.replace(CONTEXT, **{name: "renamed"})
    assert fingerprint(DOCUMENT, renamed) != fingerprint(DOCUMENT, CONTEXT)


def test_the_same_document_for_the_same_test_keeps_its_fingerprint() -> None:
    assert fingerprint(DOCUMENT, dataclasses.replace(CONTEXT)) == fingerprint(bytes(DOCUMENT), CONTEXT)


def test_another_finding_changes_the_fingerprint() -> None:
    report = vulnerability_report("shop", "replicaset-web-6d4cf56db6-app")
    report["report"]["vulnerabilities"][0]["vulnerabilityID"] = "CVE-2024-0001"
    assert fingerprint(orjson.dumps([report]), CONTEXT) != fingerprint(DOCUMENT, CONTEXT)


def report(index: int) -> dict[str, Any]:
    """Deployment svc<index>'s VulnerabilityReport, one finding of its own."""
    obj = vulnerability_report("shop", f"replicaset-svc{index}-6d4cf56db6-app")
    obj["metadata"]["labels"]["trivy-operator.resource.name"] = f"svc{index}-6d4cf56db6"
    vulnerability = obj["report"]["vulnerabilities"][0]
    vulnerability["vulnerabilityID"], vulnerability["resource"] = f"CVE-2024-{index:04d}", f"pkg{index}"
    return obj


def parts(plan: DojoPlan) -> dict[str, list[str]]:
    """Each planned test's key -> the workloads its document holds, sorted."""
    return {
        str(test.key): sorted(obj["metadata"]["labels"]["trivy-operator.resource.name"].removesuffix("-6d4cf56db6")
                              for obj in orjson.loads(test.document))
        for test in plan.tests()
    }  # fmt: skip


def test_a_test_over_the_limit_is_split_by_a_stable_hash_of_each_workload(tmp_path: Path) -> None:
    """The limit holds four workloads' reports but not eight: four parts, each workload in its crc32 part."""
    [whole] = plan_of(tmp_path / "one", [report(0)], plan_settings()).tests()
    limit = 5 * len(whole.document)
    plan = plan_of(tmp_path / "twelve", [report(index) for index in range(12)], plan_settings(limit))
    expected = {f"trivy-operator/vulnerability/shop#{part}/4": names for part, names in PARTS_OF_TWELVE.items()}
    assert parts(plan) == expected
    titles = [test.context.title for test in plan.tests()]
    assert titles == [f"vulnerability shop (part {part} of 4)" for part in range(1, 5)]
    assert [test.objects for test in plan.tests()] == [len(names) for names in PARTS_OF_TWELVE.values()]


def test_a_test_twice_the_limit_is_split_in_two(tmp_path: Path) -> None:
    """Eight workloads' reports fit, twelve do not: two parts (crc32 % 2), not more."""
    [whole] = plan_of(tmp_path / "one", [report(0)], plan_settings()).tests()
    expected = {
        "trivy-operator/vulnerability/shop#1/2": ["svc4", "svc5", "svc6", "svc7"],
        "trivy-operator/vulnerability/shop#2/2": ["svc0", "svc1", "svc10", "svc11", "svc2", "svc3", "svc8", "svc9"],
    }
    plan = plan_of(tmp_path / "twelve", [report(index) for index in range(12)], plan_settings(9 * len(whole.document)))
    assert parts(plan) == expected
    largest = max(len(test.document) for test in plan.tests())
    exact = plan_of(tmp_path / "exact", [report(index) for index in range(12)], plan_settings(largest))
    assert parts(exact) == expected, "a part of exactly the limit is not split further"


def test_a_test_of_exactly_the_limit_is_one_part(tmp_path: Path) -> None:
    objects = [report(index) for index in range(12)]
    [whole] = plan_of(tmp_path / "unlimited", objects, plan_settings()).tests()
    plan = plan_of(tmp_path / "limited", objects, plan_settings(len(whole.document)))
    assert parts(plan) == {"trivy-operator/vulnerability/shop": sorted(f"svc{index}" for index in range(12))}


def test_an_object_without_its_report_holds_its_family_though_the_manifest_says_nothing(tmp_path: Path) -> None:
    """The spool is the second line: a report missing from an object the manifest counts as whole (a manifest of
    an older getter) holds the family, its scopes are not emptied, and its test is not sent."""
    without = report(1)
    del without["report"]
    config = plan_settings()
    source = tmp_path / "source"
    source.mkdir()
    (source / "reports.yaml").write_text(yaml.safe_dump_all([report(0), without]))
    run_dir = get_from_files(config, source, tmp_path / "runs", JsonReporter(io.StringIO())).run_dir
    manifest = reader.read_manifest(run_dir)
    for entry in manifest["kinds"]:
        entry.update(objects_with_warnings=0, warnings=[])
    (tmp_path / "scratch").mkdir()
    plan = build_plan(run_dir, manifest, config.dojo, tmp_path / "scratch")
    why = "vulnerabilityreports shop/replicaset-svc1-6d4cf56db6-app has no report to import; not reimported"
    assert plan.held == {("trivy-operator", "vulnerability"): why}
    assert plan.coverage.held == plan.held and list(plan.tests()) == []
    assert not plan.may_empty("trivy-operator/vulnerability/shop")


@pytest.mark.parametrize(
    ("key", "may"),
    [("trivy-operator/vulnerability/shop", True), ("trivy-operator/vulnerability/shop#2/4", True),
     ("kubescape/vulnerability/shop/docker.io/library/nginx:1.25", True), ("trivy-operator/vulnerability/web", False),
     ("trivy-operator/vulnerability/web#1/2", False), ("trivy-operator/vulnerability/cluster", True)],
)  # fmt: skip
def test_a_test_not_fed_tonight_may_be_emptied_only_when_its_scope_was_read(key: str, may: bool) -> None:
    """A run filtered to namespace shop: a test of shop (a part of a split one, an image's) may be sent empty."""
    plan = DojoPlan("prod", plan_settings().dojo, Coverage(namespaces=frozenset({"shop"})))
    assert plan.may_empty(key) is may
