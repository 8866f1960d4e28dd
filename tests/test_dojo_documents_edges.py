"""exporter/dojo/documents.py at its edges, found by mutation testing; what DefectDojo's parser (the port in
tests/dojo_parsers.py) reads out of a document is the behaviour pinned, not the document's shape:

- a document split by finding and put back together gives exactly the findings of the whole, with the same severity,
  description and mitigation (not only the same hash_code), and each part makes at most one finding: a Trivy CR with
  two kinds of entries, a compliance report with both a detail and a summary report, a Kubescape report whose
  control summaries set the findings' severity;
- Grype documents merged keep the first document's descriptor, and each part of a split one keeps it;
- the fingerprint (`finding_content`) does not move with the daily EPSS and risk figures, the descriptor, a CR's
  own name or the order of keys, and does move when what DefectDojo makes findings of changes;
- `document_for` leaves the fixed version in the description unless asked; an unknown scan type is named.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import orjson
import pytest

from exporter.dojo import documents
from tests import dojo_parsers
from tests.dojo_parsers import ParsedFinding

TRIVY, GRYPE, KUBESCAPE = "Trivy Operator Scan", "Anchore Grype", "Kubescape JSON Importer"

LABELS = {
    "trivy-operator.resource.namespace": "shop",
    "trivy-operator.resource.kind": "Deployment",
    "trivy-operator.resource.name": "web",
    "trivy-operator.container.name": "app",
}
VULN = {"vulnerabilityID": "CVE-2024-6119", "resource": "libssl3", "installedVersion": "3.0.13",
        "fixedVersion": "3.0.15", "severity": "HIGH", "title": "openssl: type confusion",
        "primaryLink": "https://avd.aquasec.com/nvd/cve-2024-6119"}  # fmt: skip
VULN2 = {**VULN, "vulnerabilityID": "CVE-2024-45490", "resource": "libexpat1", "installedVersion": "2.5.0",
         "severity": "CRITICAL"}  # fmt: skip
CHECK = {"checkID": "KSV012", "title": "Runs as root user", "severity": "MEDIUM", "description": "root",
         "success": False}  # fmt: skip
WORKLOAD: dict[str, Any] = {
    "kind": "ConfigAuditReport",
    "metadata": {"name": "replicaset-web-6d4cf56db6", "labels": LABELS},
    "report": {"vulnerabilities": [VULN, VULN2], "checks": [CHECK]},
}
"""A CR with two kinds of entries: each part must carry one entry and none of the other kind."""

CONTROLS = [
    {"id": "1.0", "description": "Non-root containers", "checks": [{"id": "AVD-KSV-0012"}]},
    {"id": "2.0", "description": "Host namespaces", "checks": [{"id": "AVD-KSV-0008"}, {"id": "AVD-KSV-0009"}]},
    {"id": "3.0", "description": "Privileged", "checks": [{"id": "AVD-KSV-0017"}]},
]
FAILED = {"checkID": "AVD-KSV-0012", "severity": "LOW", "target": "shop/Deployment/web", "success": False}
DETAIL = {"description": "NSA", "results": [
    {"id": "1.0", "severity": "HIGH", "checks": [FAILED, {**FAILED, "target": "shop/Deployment/api", "success": True}]},
]}  # fmt: skip
SUMMARY = {"controlCheck": [{"id": "2.0", "name": "Host", "severity": "HIGH", "totalFail": 4},
                            {"id": "3.0", "name": "Priv", "severity": "CRITICAL", "totalFail": 0},
                            {"id": "1.0", "name": "Root", "severity": "MEDIUM", "totalFail": 1}]}  # fmt: skip
COMPLIANCE = {"kind": "ClusterComplianceReport", "metadata": {"name": "nsa", "labels": {}},
              "spec": {"compliance": {"id": "nsa", "controls": CONTROLS}},
              "status": {"summary": {"failCount": 2, "passCount": 1}, "detailReport": DETAIL,
                         "summaryReport": SUMMARY}}  # fmt: skip
"""Both compliance reports at once: each part must carry one check or control and not the other report."""


def parse(scan_type: str, document: bytes) -> Counter[ParsedFinding]:
    return Counter(dojo_parsers.parse(scan_type, document))


def assert_split_and_joined_make_the_same_findings(scan_type: str, document: bytes) -> list[bytes]:
    whole = parse(scan_type, document)
    parts = documents.split_findings(scan_type, document)
    assert all(sum(parse(scan_type, part).values()) <= 1 for part in parts), "a part makes at most one finding"
    assert sum((parse(scan_type, part) for part in parts), Counter()) == whole
    assert parse(scan_type, documents.join_documents(scan_type, parts)) == whole
    assert parse(scan_type, documents.join_documents(scan_type, parts[::2] + parts[1::2])) == whole
    return parts


def test_a_trivy_cr_with_two_kinds_of_entries_splits_into_one_finding_a_part() -> None:
    document = orjson.dumps([WORKLOAD])
    assert [f.title for f in dojo_parsers.parse(TRIVY, document)] == [
        "CVE-2024-6119 libssl3 3.0.13", "CVE-2024-45490 libexpat1 2.5.0", "KSV012 - Runs as root user"
    ]  # fmt: skip
    assert len(assert_split_and_joined_make_the_same_findings(TRIVY, document)) == 3


def test_parts_of_one_trivy_cr_join_into_that_one_cr_and_others_stay_apart() -> None:
    """A split part holding many findings of one workload is as small as its own document: the pieces of one CR join
    into one CR again, its entries in their order, while another workload's CR stays its own (its labels name it)."""
    other = {**WORKLOAD, "metadata": {"name": "replicaset-api-7c9d8f6b5d",
                                      "labels": {**LABELS, "trivy-operator.resource.name": "api"}}}  # fmt: skip
    document = orjson.dumps([WORKLOAD, other])
    joined = documents.join_documents(TRIVY, documents.split_findings(TRIVY, document))
    assert orjson.loads(joined) == [WORKLOAD, other]
    assert len(joined) == len(document)


def test_a_compliance_report_splits_into_its_failed_checks_and_failed_controls_alone() -> None:
    """Each part keeps the status beside its report (`summary.failCount`, without which the parser reads no
    control), the spec's control of its id (its description and check ids reach the finding), and not the other
    report, whose findings would then be in every part."""
    document = orjson.dumps([COMPLIANCE])
    findings = dojo_parsers.parse(TRIVY, document)
    assert [(f.title, f.severity) for f in findings] == [
        ("1.0 AVD-KSV-0012 shop/Deployment/web", "Low"),
        ("TrivyClusterCompliance 2.0 totalFail: 4", "High"),
        ("TrivyClusterCompliance 1.0 totalFail: 1", "Medium"),
    ]
    assert findings[1].vulnerability_ids == ("AVD-KSV-0008", "AVD-KSV-0009")
    assert "**description:** Host namespaces" in findings[1].description
    parts = assert_split_and_joined_make_the_same_findings(TRIVY, document)
    assert len(parts) == 5, "a passed check and a control without failures are parts too"


def test_a_compliance_part_keeps_only_the_spec_controls_of_its_own_id() -> None:
    """The other controls add nothing the parser reads to a part; each part keeps its own (and so is small)."""
    parts = documents.split_findings(TRIVY, orjson.dumps([COMPLIANCE]))
    kept = [[c["id"] for c in orjson.loads(part)[0]["spec"]["compliance"]["controls"]] for part in parts]
    assert kept == [["1.0"], ["1.0"], ["2.0"], ["3.0"], ["1.0"]]
    assert all(orjson.loads(part)[0]["spec"]["compliance"]["id"] == "nsa" for part in parts)


SUMMARIES = {
    "C-0009": {"scoreFactor": 8, "mitigation": "Set limits", "description": "No limits",
               "category": {"name": "Workload", "subCategory": {"name": "Resources"}}},
    "C-0017": {"scoreFactor": 3, "mitigation": "Read-only root", "description": "Writable root",
               "category": {"name": "Workload"}},
}  # fmt: skip
WEB, API, GONE = "apps/v1/shop/Deployment/web", "apps/v1/shop/Deployment/api", "apps/v1/shop/Deployment/gone"


def control(control_id: str, name: str) -> dict[str, Any]:
    return {"controlID": control_id, "name": name, "status": {"status": "failed"},
            "rules": [{"name": "rule", "status": "failed"}]}  # fmt: skip


KUBESCAPE_REPORT = {
    "summaryDetails": {"controls": SUMMARIES},
    "resources": [{"resourceID": WEB, "object": {}}, {"resourceID": API, "object": {}}],
    "results": [
        {"resourceID": WEB, "controls": [control("C-0009", "Resource limits"), control("C-0017", "Immutable root")]},
        {"resourceID": API, "controls": [control("C-0009", "Resource limits"), control("C-0046", "Capabilities")]},
        {"resourceID": GONE, "controls": [control("C-0009", "Resource limits")]},
    ],
}
"""Two resources; a control without a summary (C-0046); a result whose resource is not listed (the parser reads
results through resources, so it makes nothing)."""


def test_kubescape_parts_keep_the_control_summaries_that_set_severity_and_mitigation() -> None:
    """Kubescape's hash_code is title and resource only: a part without its control's summary makes a finding that
    reimport matches, but as Info and without mitigation. The parts, and the parts joined, must keep them."""
    document = orjson.dumps(KUBESCAPE_REPORT)
    findings = dojo_parsers.parse(KUBESCAPE, document)
    assert [(f.title, f.severity, f.mitigation) for f in findings] == [
        ("Resource limits - Deployment web", "High", "Set limits"),
        ("Immutable root - Deployment web", "Low", "Read-only root"),
        ("Resource limits - Deployment api", "High", "Set limits"),
        ("Capabilities - Deployment api", "Info", ""),
    ]
    assert "**Category:** Workload > Resources" in findings[0].description
    parts = assert_split_and_joined_make_the_same_findings(KUBESCAPE, document)
    assert len(parts) == 5


GRYPE_MATCH: dict[str, Any] = {
    "vulnerability": {"id": "CVE-2023-4911", "severity": "High", "description": "glibc: buffer overflow",
                      "epss": [{"epss": 0.51, "percentile": 0.97, "date": "2026-11-28"}], "risk": 42.1},
    "relatedVulnerabilities": [{"id": "CVE-2023-4911", "description": "ld.so overflow",
                                "epss": [{"epss": 0.51, "date": "2026-11-28"}], "risk": 42.1}],
    "matchDetails": [{"matcher": "dpkg-matcher"}],
    "artifact": {"name": "libc6", "version": "2.36-9", "purl": "pkg:deb/debian/libc6@2.36-9"},
}  # fmt: skip
DESCRIPTOR = {"name": "grype", "version": "0.80.0", "db": {"built": "2026-11-28T01:00:00Z"}}


def grype_document(*matches: dict[str, Any], descriptor: dict[str, Any] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {"matches": list(matches), "source": {"type": "image", "target": "nginx:1.25"}}
    return document if descriptor is None else {"descriptor": descriptor, **document}


def other_match(version: str) -> dict[str, Any]:
    return {**GRYPE_MATCH, "artifact": {**GRYPE_MATCH["artifact"], "version": version}}


def test_merged_grype_documents_keep_the_first_descriptor_and_every_match() -> None:
    first, second = other_match("2.36-9+deb12u1"), other_match("2.36-9+deb12u2")
    later = {**DESCRIPTOR, "version": "0.81.0"}
    merged = documents.merge_grype([
        orjson.dumps(grype_document(GRYPE_MATCH)),
        orjson.dumps(grype_document(first, descriptor=DESCRIPTOR)),
        orjson.dumps(grype_document(second, descriptor=later)),
    ])  # fmt: skip
    assert orjson.loads(merged) == {"matches": [GRYPE_MATCH, first, second], "descriptor": DESCRIPTOR}
    assert len(dojo_parsers.parse(GRYPE, merged)) == 3


def test_every_part_of_a_split_grype_document_keeps_the_descriptor_and_source() -> None:
    document = orjson.dumps(grype_document(GRYPE_MATCH, other_match("2.36-9+deb12u1"), descriptor=DESCRIPTOR))
    parts = assert_split_and_joined_make_the_same_findings(GRYPE, document)
    assert [orjson.loads(part) for part in parts] == [
        grype_document(GRYPE_MATCH, descriptor=DESCRIPTOR),
        grype_document(other_match("2.36-9+deb12u1"), descriptor=DESCRIPTOR),
    ]


def grype_content(*matches: dict[str, Any], descriptor: dict[str, Any] = DESCRIPTOR) -> bytes:
    return documents.finding_content(GRYPE, orjson.dumps(grype_document(*matches, descriptor=descriptor)))


def test_the_grype_fingerprint_ignores_daily_figures_and_key_order() -> None:
    """EPSS and risk move every day, on the vulnerability and on its related ones; the descriptor carries the
    database's build time; key order is the producer's: none may send a test again."""
    tomorrow = copy.deepcopy(GRYPE_MATCH)
    tomorrow["vulnerability"] |= {"epss": [{"epss": 0.6, "date": "2026-11-29"}], "risk": 50.0}
    tomorrow["relatedVulnerabilities"][0] |= {"epss": [{"epss": 0.6, "date": "2026-11-29"}], "risk": 50.0}
    reordered = {key: GRYPE_MATCH[key] for key in reversed(list(GRYPE_MATCH))}
    reordered["vulnerability"] = {key: value for key, value in reversed(list(GRYPE_MATCH["vulnerability"].items()))}
    today = grype_content(GRYPE_MATCH)
    assert grype_content(tomorrow, descriptor={**DESCRIPTOR, "db": {"built": "2026-11-29T01:00:00Z"}}) == today
    assert grype_content(reordered) == today


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("vulnerability", {"severity": "Critical"}),
        ("vulnerability", {"description": "glibc: worse"}),
        ("relatedVulnerabilities", {"id": "GHSA-xxxx"}),
        ("relatedVulnerabilities", {"description": "ld.so: worse"}),
    ],
    ids=["severity", "description", "related-id", "related-description"],
)
def test_the_grype_fingerprint_moves_with_what_the_parser_reads(field: str, change: dict[str, Any]) -> None:
    """Severity and description of the vulnerability, ids (vulnerability ids) and description of the related
    ones: the parser reads them into the finding, so a change must reach DefectDojo."""
    changed = copy.deepcopy(GRYPE_MATCH)
    entry = changed[field] if field == "vulnerability" else changed[field][0]
    entry |= change
    before = dojo_parsers.parse(GRYPE, orjson.dumps(grype_document(GRYPE_MATCH)))
    assert dojo_parsers.parse(GRYPE, orjson.dumps(grype_document(changed))) != before, "the premise"
    assert grype_content(changed) != grype_content(GRYPE_MATCH)


def trivy_content(*reports: dict[str, Any]) -> bytes:
    return documents.finding_content(TRIVY, orjson.dumps(list(reports)))


def test_the_trivy_fingerprint_ignores_the_crs_own_name_and_key_order() -> None:
    """The CR is named after the ReplicaSet of the day, its findings after the Deployment."""
    renamed = {**WORKLOAD, "metadata": {**WORKLOAD["metadata"], "name": "replicaset-web-7f8e9d0c1b"}}
    reordered = {key: WORKLOAD[key] for key in reversed(list(WORKLOAD))}
    assert trivy_content(renamed) == trivy_content(WORKLOAD) == trivy_content(reordered)
    assert trivy_content({**WORKLOAD, "report": {"vulnerabilities": [VULN]}}) != trivy_content(WORKLOAD)


def test_the_trivy_fingerprint_of_a_cr_without_metadata_or_name_is_taken() -> None:
    """Nothing the parser would read (no labels: no findings), but the plan must not fail on it."""
    bare = {"kind": "VulnerabilityReport", "report": {"vulnerabilities": [VULN]}}
    nameless = {**bare, "metadata": {"namespace": "shop"}}
    assert orjson.loads(trivy_content(bare, nameless)) == [bare, nameless]


def test_document_for_leaves_the_fixed_version_where_the_parser_reads_it_unless_asked() -> None:
    cr = {"apiVersion": "aquasecurity.github.io/v1alpha1", "kind": "VulnerabilityReport",
          "metadata": {"name": "replicaset-web-6d4cf56db6-app", "namespace": "shop", "labels": LABELS},
          "report": {"vulnerabilities": [VULN]}}  # fmt: skip
    [finding] = dojo_parsers.parse(TRIVY, documents.document_for(TRIVY, [cr]))
    assert finding.mitigation == "3.0.15" and "**Fixed version:** 3.0.15" in finding.description
    [moved] = dojo_parsers.parse(TRIVY, documents.document_for(TRIVY, [cr], fixed_version_in_references=True))
    assert moved.mitigation == "" and "3.0.15" in str(moved.references)


@pytest.mark.parametrize("call", ["document_for", "split_findings", "join_documents"])
def test_an_unknown_scan_type_is_named_in_the_error(call: str) -> None:
    functions: dict[str, Any] = {
        "document_for": lambda: documents.document_for("Nessus Scan", []),
        "split_findings": lambda: documents.split_findings("Nessus Scan", b"{}"),
        "join_documents": lambda: documents.join_documents("Nessus Scan", [b"{}"]),
    }
    with pytest.raises(ValueError, match=r"^no converter for scan type 'Nessus Scan'$"):
        functions[call]()
