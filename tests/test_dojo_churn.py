"""Findings keep their identity when nothing an analyst cares about changed (issue 11, items 9 and 11): a
vulnerability database update is no reason to re-send a test, and a fix published upstream need not re-create a
finding and lose its triage."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from exporter.dojo import convert, documents
from exporter.dojo.client import TestContext as Context
from exporter.dojo.plan import fingerprint
from exporter.filesource import FileScan, iter_report_objects
from exporter.samples import sample_cluster_dir
from tests.dojo_parsers import ANCHORE_GRYPE, TRIVY_OPERATOR, hash_code, parse

CONTEXT = Context("Kubernetes", "prod", "kubescape", "vulnerability shop", "Anchore Grype", "prod/k/v/shop")
TRIVY_CONTEXT = Context("Kubernetes", "prod", "trivy-operator", "vulnerability shop", "Trivy Operator Scan", "s")


def sample(kind: str) -> list[dict[str, Any]]:
    return [dict(obj) for found, obj in iter_report_objects(sample_cluster_dir(), FileScan()) if found.kind == kind]


def grype_payload() -> dict[str, Any]:
    manifest = next(obj for obj in sample("VulnerabilityManifest") if (obj["spec"].get("payload") or {}).get("matches"))
    return copy.deepcopy(manifest["spec"]["payload"])


def test_a_vulnerability_database_update_does_not_change_the_fingerprint() -> None:
    payload = grype_payload()
    before = orjson.dumps(payload)
    payload["descriptor"] = {**payload.get("descriptor", {}), "db": {"built": "2026-11-29T04:12:00Z"}}
    for match in payload["matches"]:
        match["vulnerability"]["epss"] = [{"cve": match["vulnerability"]["id"], "epss": 0.42, "percentile": 0.9}]
    after = orjson.dumps(payload)
    assert before != after
    assert fingerprint(before, CONTEXT) == fingerprint(after, CONTEXT)


def test_a_new_match_changes_the_fingerprint() -> None:
    payload = grype_payload()
    before = orjson.dumps(payload)
    payload["matches"] = payload["matches"][1:]
    assert fingerprint(before, CONTEXT) != fingerprint(orjson.dumps(payload), CONTEXT)


def test_a_rollout_renaming_the_report_does_not_change_the_trivy_fingerprint() -> None:
    [report] = [obj for obj in sample("VulnerabilityReport") if obj["metadata"]["name"].startswith("replicaset-fr")]
    moved = copy.deepcopy(report)
    moved["metadata"]["name"] = moved["metadata"]["name"].replace("7c9d8f6b5d", "58b7cd9f4c")
    one, two = (convert.trivy_operator_document([obj]) for obj in (report, moved))
    assert one != two and fingerprint(one, TRIVY_CONTEXT) == fingerprint(two, TRIVY_CONTEXT)


def test_a_published_fix_keeps_the_finding_when_the_fixed_version_goes_to_the_references() -> None:
    [report] = [obj for obj in sample("VulnerabilityReport") if obj["metadata"]["name"].startswith("replicaset-fr")]
    unfixed = copy.deepcopy(report)
    for vulnerability in unfixed["report"]["vulnerabilities"]:
        vulnerability["fixedVersion"] = ""

    def codes(obj: dict[str, Any], moved: bool) -> list[str]:
        document = convert.trivy_operator_document([obj], fixed_version_in_references=moved)
        return sorted(hash_code(TRIVY_OPERATOR, finding) for finding in parse(TRIVY_OPERATOR, document))

    assert codes(report, moved=False) != codes(unfixed, moved=False), "upstream: a published fix is a new finding"
    assert codes(report, moved=True) == codes(unfixed, moved=True)
    fixed = next(v for v in report["report"]["vulnerabilities"] if v.get("fixedVersion"))
    document = convert.trivy_operator_document([report], fixed_version_in_references=True)
    finding = next(f for f in parse(TRIVY_OPERATOR, document) if f.title.startswith(fixed["vulnerabilityID"] + " "))
    assert f"**Fixed version:** {fixed['fixedVersion']}" in (finding.references or "")


def test_an_empty_document_keeps_its_fingerprint_content() -> None:
    empty = documents.empty_document(ANCHORE_GRYPE)
    assert documents.finding_content(ANCHORE_GRYPE, empty) == b"[]"


def test_the_fixed_version_setting_reaches_the_documents_sent(tmp_path: Any) -> None:
    import io

    from exporter.config import load_settings
    from exporter.dojo.plan import build_plan
    from exporter.getter import get_from_files
    from exporter.progress import JsonReporter

    settings = load_settings(environ={"REPORT_EXPORTER_DD_TRIVY_FIXED_VERSION": "references"}, flags={})
    run = get_from_files(settings, sample_cluster_dir(), tmp_path / "runs", JsonReporter(io.StringIO()))
    plan = build_plan(run.run_dir, run.manifest, settings.dojo, tmp_path)
    shop = next(test for test in plan.tests() if str(test.key) == "trivy-operator/vulnerability/shop")
    vulnerabilities = [v for report in orjson.loads(shop.document) for v in report["report"]["vulnerabilities"]]
    assert vulnerabilities and all(v["fixedVersion"] == "" for v in vulnerabilities)
    assert any("**Fixed version:** " in v["primaryLink"] for v in vulnerabilities)
