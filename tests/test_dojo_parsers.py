"""The DefectDojo parser port on small documents: what it reads, what it refuses, and how it hashes.

These pin the upstream behaviour the converters work around, so a test here failing means the port (or our reading
of upstream) changed, not the exporter.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import orjson
import pytest

from tests.dojo_parsers import (
    ANCHORE_GRYPE,
    KUBESCAPE,
    TRIVY_OPERATOR,
    ParserError,
    dedupe_key,
    hash_code,
    parse,
)

LABELS = {
    "trivy-operator.resource.namespace": "shop",
    "trivy-operator.resource.kind": "ReplicaSet",
    "trivy-operator.resource.name": "nginx-6d4cf56db6",
    "trivy-operator.container.name": "nginx",
}
VULN = {
    "vulnerabilityID": "CVE-2024-6119",
    "resource": "libssl3",
    "installedVersion": "3.0.13",
    "fixedVersion": "3.0.15",
    "severity": "HIGH",
    "title": "openssl: type confusion",
    "class": "os-pkgs",
    "target": "nginx (debian 12.5)",
    "primaryLink": "https://avd.aquasec.com/nvd/cve-2024-6119",
}


def trivy_cr(report: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "replicaset-nginx-6d4cf56db6-nginx", "namespace": "shop"}
    if labels is not None:
        metadata["labels"] = labels
    return {"apiVersion": "aquasecurity.github.io/v1alpha1", "kind": "VulnerabilityReport", "metadata": metadata,
            "report": report}  # fmt: skip


def trivy(document: Any) -> list[Any]:
    return parse(TRIVY_OPERATOR, orjson.dumps(document))


def test_trivy_reads_one_cr_an_array_and_a_dict_keyed_by_plural() -> None:
    cr = trivy_cr({"vulnerabilities": [VULN]}, LABELS)
    assert len(trivy(cr)) == 1
    assert len(trivy([cr, cr])) == 2
    sbom = {"metadata": {"labels": LABELS}, "report": {"vulnerabilities": [VULN]}}
    keyed = {"vulnerabilityreports.aquasecurity.github.io": [cr], "sbomreports.aquasecurity.github.io": [sbom]}
    assert len(trivy(keyed)) == 1


def test_trivy_vulnerability_fields() -> None:
    [finding] = trivy(trivy_cr({"vulnerabilities": [VULN]}, LABELS))
    assert finding.title == "CVE-2024-6119 libssl3 3.0.13"
    assert finding.severity == "High"
    assert (finding.component_name, finding.component_version) == ("libssl3", "3.0.13")
    assert finding.vulnerability_ids == ("CVE-2024-6119",)
    assert finding.mitigation == "3.0.15"
    assert finding.file_path == "nginx (debian 12.5)"
    assert finding.service == "shop/ReplicaSet/nginx-6d4cf56db6/nginx"
    assert "**resource.name:** nginx-6d4cf56db6" in finding.description
    assert finding.static_finding and not finding.dynamic_finding


def test_a_kubernetes_list_yields_zero_findings() -> None:
    cr = trivy_cr({"vulnerabilities": [VULN]}, LABELS)
    assert trivy({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": [cr]}) == []
    assert trivy({"apiVersion": "v1", "kind": "List", "items": [cr]}) == []


def test_a_cr_without_labels_yields_zero_findings() -> None:
    assert trivy(trivy_cr({"vulnerabilities": [VULN]})) == []


@pytest.mark.parametrize("severity", ["high", "NONE", "NEGLIGIBLE", "", None, "INFO"])
def test_trivy_unknown_severity_is_a_server_error(severity: Any) -> None:
    with pytest.raises(ParserError, match="KeyError"):
        trivy(trivy_cr({"vulnerabilities": [{**VULN, "severity": severity}]}, LABELS))


def test_trivy_unknown_becomes_info() -> None:
    [finding] = trivy(trivy_cr({"vulnerabilities": [{**VULN, "severity": "UNKNOWN"}]}, LABELS))
    assert finding.severity == "Info"


def test_passed_checks_become_findings_in_the_parser() -> None:
    checks = [
        {"checkID": "KSV001", "title": "Privilege escalation", "severity": "MEDIUM", "success": True},
        {"checkID": "KSV014", "title": "Root file system", "severity": "LOW", "success": False,
         "messages": ["Container 'nginx' should set readOnlyRootFilesystem"], "remediation": "Set it."},
    ]  # fmt: skip
    passed, failed = trivy(trivy_cr({"checks": checks}, {**LABELS, "trivy-operator.container.name": ""}))
    assert passed.title == "KSV001 - Privilege escalation"
    assert passed.vulnerability_ids == ("AVD-KSV-0001",)
    assert passed.service == "shop/ReplicaSet/nginx-6d4cf56db6"
    assert failed.mitigation == "Set it.\n\nContainer 'nginx' should set readOnlyRootFilesystem"
    assert failed.references == "https://avd.aquasec.com/misconfig/kubernetes/ksv014"


@pytest.mark.parametrize("check_id", [None, "", "0", "missing"])
def test_a_check_without_check_id_is_check_zero_without_references_or_vulnerability_id(check_id: Any) -> None:
    """Upstream 4332b0b8 (PR #14359): the port raised on a null checkID and linked .../kubernetes/0 otherwise."""
    check = {"title": "No id", "severity": "LOW"} | ({} if check_id == "missing" else {"checkID": check_id})
    [finding] = trivy(trivy_cr({"checks": [check]}, LABELS))
    assert finding.title == "0 - No id"
    assert finding.references == ""
    assert finding.vulnerability_ids == ()


SECRET = {"ruleID": "aws-access-key-id", "title": "AWS Access Key", "category": "AWS", "severity": "CRITICAL",
          "target": "/app/.env", "match": "AKIA****"}  # fmt: skip


def test_secrets() -> None:
    [finding] = trivy(trivy_cr({"secrets": [SECRET]}, LABELS))
    assert finding.title == "Secret detected in /app/.env - AWS Access Key"
    assert (finding.severity, finding.file_path, finding.references) == ("Critical", "/app/.env", "aws-access-key-id")


def test_a_secret_rule_id_ends_the_description_and_is_no_vulnerability_id() -> None:
    """Upstream b6f1e724 (PR #11188); the port still made the ruleID a vulnerability id, which changed the hash."""
    [finding] = trivy(trivy_cr({"secrets": [SECRET]}, LABELS))
    assert finding.description == (
        "AWS Access Key\n**Category:** AWS\n**Match:** AKIA****\n\n**container.name:** nginx"
        "\n**resource.kind:** ReplicaSet\n**resource.name:** nginx-6d4cf56db6\n**resource.namespace:** shop"
        "\n**ruleID:** aws-access-key-id"
    )
    assert finding.vulnerability_ids == ()
    text = (
        "Secret detected in /app/.env - AWS Access KeyCritical" + finding.description
        + "shop/ReplicaSet/nginx-6d4cf56db6/nginx"
    )  # fmt: skip
    assert hash_code(TRIVY_OPERATOR, finding) == hashlib.sha256(text.casefold().encode()).hexdigest()


def test_a_null_secret_rule_id_is_a_server_error() -> None:
    with pytest.raises(ParserError, match="TypeError"):
        trivy(trivy_cr({"secrets": [{**SECRET, "ruleID": None}]}, LABELS))


def compliance(status: dict[str, Any], controls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"kind": "ClusterComplianceReport", "metadata": {"name": "nsa", "labels": {}},
            "spec": {"compliance": {"controls": controls or []}}, "status": status}  # fmt: skip


def test_compliance_detail_report_takes_failed_checks_with_the_check_severity() -> None:
    """Upstream 4332b0b8 (PR #14359): the port took the result's severity whenever the check had one."""
    check = {"checkID": "AVD-KSV-0012", "severity": "LOW", "target": "shop/ReplicaSet/nginx-6d4cf56db6",
             "messages": ["m"], "remediation": "r"}  # fmt: skip
    detail = {"description": "NSA", "results": [{"id": "1.0", "severity": "HIGH", "checks": [
        {**check, "success": False}, {**check, "success": True}, {**check, "success": None}]}]}  # fmt: skip
    [finding] = trivy(compliance({"detailReport": detail}))
    assert finding.title == "1.0 AVD-KSV-0012 shop/ReplicaSet/nginx-6d4cf56db6"
    assert finding.severity == "Low"
    assert finding.mitigation == "r"
    assert finding.service is None
    assert finding.dynamic_finding and not finding.static_finding


def test_compliance_empty_check_severity_falls_back_to_the_result_severity() -> None:
    """The port raised KeyError('') here, as upstream did before 4332b0b8."""
    checks = [{"checkID": "X", "success": False}, {"checkID": "Y", "severity": "", "success": False}]
    detail = {"description": "NSA", "results": [{"id": "1", "severity": "HIGH", "checks": checks}]}
    assert [finding.severity for finding in trivy(compliance({"detailReport": detail}))] == ["High", "High"]


def test_compliance_check_ids_are_made_uniform() -> None:
    """compliance_handler.py passes the checkID through UniformTrivyVulnID (b6f1e724); the port kept it raw."""
    checks = [{"checkID": "KSV012", "success": False}, {"checkID": "CVE-2024-1", "success": False}]
    detail = {"description": "NSA", "results": [{"id": "1", "severity": "HIGH", "checks": checks}]}
    findings = trivy(compliance({"detailReport": detail}))
    assert [finding.vulnerability_ids for finding in findings] == [("AVD-KSV-0012",), ("CVE-2024-1",)]
    assert findings[0].title == "1 KSV012 "


def test_cluster_compliance_needs_a_positive_fail_count() -> None:
    controls = [
        {"id": "2", "description": "Host namespaces", "checks": [{"id": "AVD-KSV-0008"}, {"id": "AVD-KSV-0009"}]}
    ]
    summary = {"controlCheck": [{"id": "2", "name": "Host", "severity": "HIGH", "totalFail": 4},
                                {"id": "3", "name": "Priv", "severity": "HIGH", "totalFail": 0}]}  # fmt: skip
    [finding] = trivy(compliance({"summary": {"failCount": 1}, "summaryReport": summary}, controls))
    assert finding.title == "TrivyClusterCompliance 2 totalFail: 4"
    assert finding.vulnerability_ids == ("AVD-KSV-0008", "AVD-KSV-0009")
    assert trivy(compliance({"summary": {"failCount": 0}, "summaryReport": summary}, controls)) == []


def grype_match(**vulnerability: Any) -> dict[str, Any]:
    return {"vulnerability": {"id": "CVE-2023-4911", "severity": "High", **vulnerability},
            "matchDetails": [{"matcher": "dpkg-matcher"}],
            "artifact": {"name": "libc6", "version": "2.36-9", "purl": "pkg:deb/debian/libc6@2.36-9",
                         "locations": [{"path": "/var/lib/dpkg/status"}]}}  # fmt: skip


def grype(matches: list[Any]) -> list[Any]:
    return parse(ANCHORE_GRYPE, orjson.dumps({"matches": matches}))


def test_grype_fields_and_repeats_merged_by_title() -> None:
    [finding] = grype([grype_match(fix={"versions": ["2.36-9+deb12u3"]}), grype_match()])
    assert finding.title == "CVE-2023-4911 in libc6:2.36-9"
    assert (finding.component_name, finding.component_version) == ("libc6", "2.36-9")
    assert finding.vuln_id_from_tool == "CVE-2023-4911"
    assert finding.mitigation == "Upgrade to version: 2.36-9+deb12u3"
    assert finding.file_path == "/var/lib/dpkg/status"
    assert finding.service is None


def test_grype_merges_repeats_by_id_name_and_version_not_by_title() -> None:
    """Upstream dcc9a25d (PR #14592) keys repeats on `id|name|version`; the port keyed on the title, which is equal
    for `a:b` version `c` and `a` version `b:c`, and so dropped a finding."""
    first, second = grype_match(), grype_match()
    first["artifact"] |= {"name": "a:b", "version": "c"}
    second["artifact"] |= {"name": "a", "version": "b:c"}
    findings = grype([first, second])
    assert [(f.title, f.component_name, f.component_version) for f in findings] == [
        ("CVE-2023-4911 in a:b:c", "a:b", "c"),
        ("CVE-2023-4911 in a:b:c", "a", "b:c"),
    ]


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("Negligible", "Info"), ("Unknown", "Info"), ("critical", "Critical"), ("none", "Info"), ("MEDIUM", "Medium")],
)
def test_grype_severities(severity: str, expected: str) -> None:
    assert grype([grype_match(severity=severity)])[0].severity == expected


@pytest.mark.parametrize("severity", ["", "Moderate", None])
def test_grype_severity_the_importer_refuses(severity: Any) -> None:
    with pytest.raises(ParserError):
        grype([grype_match(severity=severity)])


@pytest.mark.parametrize("missing", ["matchDetails", "artifact"])
def test_grype_match_without_a_required_key_is_a_server_error(missing: str) -> None:
    match = grype_match()
    del match[missing]
    with pytest.raises(ParserError, match="KeyError"):
        grype([match])


def test_grype_null_version_is_a_server_error() -> None:
    match = grype_match()
    match["artifact"]["version"] = None
    with pytest.raises(ParserError, match="AttributeError"):
        grype([match])


def kubescape_report(rules: list[Any], control_status: Any, score: Any = 8) -> dict[str, Any]:
    control = {"controlID": "C-0009", "name": "Resource limits", "rules": rules}
    if control_status is not None:
        control["status"] = control_status
    rid = "apps/v1/shop/Deployment/nginx"
    return {"summaryDetails": {"controls": {"C-0009": {"scoreFactor": score, "mitigation": "Set limits"}}},
            "resources": [{"resourceID": rid, "object": {}}],
            "results": [{"resourceID": rid, "controls": [control]}]}  # fmt: skip


def kubescape(document: Any) -> list[Any]:
    return parse(KUBESCAPE, orjson.dumps(document))


def test_kubescape_fields() -> None:
    [finding] = kubescape(kubescape_report([{"name": "r", "status": "failed"}], {"status": "failed"}))
    assert finding.title == "Resource limits - Deployment nginx"
    assert finding.component_name == "apps/v1/shop/Deployment/nginx"
    assert (finding.severity, finding.mitigation, finding.vulnerability_ids) == ("High", "Set limits", ("C-0009",))
    assert finding.references == "https://hub.armosec.io/docs/c-0009"


def test_kubescape_resource_without_object_is_read() -> None:
    """Upstream 9c035039 (PR #11542) no longer dumps `resource["object"]`; the port answered a KeyError (500)."""
    document = kubescape_report([{"name": "r", "status": "failed"}], {"status": "failed"})
    del document["resources"][0]["object"]
    [finding] = kubescape(document)
    assert finding.title == "Resource limits - Deployment nginx"


def test_kubescape_one_finding_per_non_passed_rule() -> None:
    rules = [{"name": "a", "status": "failed"}, {"name": "b", "status": "skipped"}, {"name": "c", "status": "passed"}]
    assert len(kubescape(kubescape_report(rules, {"status": "failed"}))) == 2
    assert kubescape(kubescape_report(rules, {"status": "passed"})) == []


def test_kubescape_cr_shaped_rules_count_passed_rules() -> None:
    """A rule status object (the CR's shape) is never equal to "passed": why the CR cannot be sent as is."""
    rules = [{"name": "a", "status": {"status": "passed"}}, {"name": "b", "status": {"status": "failed"}}]
    assert len(kubescape(kubescape_report(rules, {"status": "failed"}))) == 2


@pytest.mark.parametrize(("score", "severity"), [(0, "Low"), (4, "Low"), (7, "Medium"), (9, "High"), (10, "Critical")])
def test_kubescape_score_factor_bands(score: float, severity: str) -> None:
    assert kubescape(kubescape_report([{"status": "failed"}], None, score))[0].severity == severity


def test_kubescape_score_above_ten_is_an_error() -> None:
    with pytest.raises(ParserError):
        kubescape(kubescape_report([{"status": "failed"}], None, 11))


def test_kubescape_resource_without_result_is_a_server_error() -> None:
    document = kubescape_report([{"status": "failed"}], None)
    document["results"] = []
    with pytest.raises(ParserError, match="IndexError"):
        kubescape(document)


def test_kubescape_cr_itself_is_a_server_error() -> None:
    with pytest.raises(ParserError, match="KeyError"):
        kubescape({"kind": "WorkloadConfigurationScan", "spec": {"controls": {}}})


def test_hash_code_is_sha256_of_the_configured_fields_then_service() -> None:
    [finding] = trivy(trivy_cr({"vulnerabilities": [VULN]}, LABELS))
    text = finding.title + finding.severity + "CVE-2024-6119" + finding.description + str(finding.service)
    assert hash_code(TRIVY_OPERATOR, finding) == hashlib.sha256(text.casefold().encode().strip()).hexdigest()
    assert dedupe_key(TRIVY_OPERATOR, finding) == f"hash_code:{hash_code(TRIVY_OPERATOR, finding)}"
    without_service = dataclasses.replace(finding, service=None)
    assert hash_code(TRIVY_OPERATOR, without_service) != hash_code(TRIVY_OPERATOR, finding)
    upper = dataclasses.replace(finding, title=finding.title.upper())
    assert hash_code(TRIVY_OPERATOR, upper) == hash_code(TRIVY_OPERATOR, finding)


def test_hash_code_vulnerability_ids_are_deduplicated_and_sorted() -> None:
    [finding] = trivy(trivy_cr({"vulnerabilities": [VULN]}, LABELS))
    one = dataclasses.replace(finding, vulnerability_ids=("B", "A", "B"))
    other = dataclasses.replace(finding, vulnerability_ids=("A", "B"))
    assert hash_code(TRIVY_OPERATOR, one) == hash_code(TRIVY_OPERATOR, other)


def test_hash_code_takes_vulnerability_ids_as_text() -> None:
    """`get_vulnerability_ids` applies str() to each id: a control check without an id hashes as "None"."""
    controls = [{"id": "2", "description": "d", "checks": [{"id": "AVD-KSV-0008"}, {}]}]
    summary = {"controlCheck": [{"id": "2", "name": "Host", "severity": "HIGH", "totalFail": 1}]}
    [finding] = trivy(compliance({"summary": {"failCount": 1}, "summaryReport": summary}, controls))
    assert finding.vulnerability_ids == ("AVD-KSV-0008", None)
    text = "TrivyClusterCompliance 2 totalFail: 1" + "High" + "AVD-KSV-0008None" + finding.description
    assert hash_code(TRIVY_OPERATOR, finding) == hashlib.sha256(text.casefold().encode().strip()).hexdigest()


def test_grype_and_kubescape_hash_fields() -> None:
    [finding] = grype([grype_match()])
    text = finding.title + "High" + "libc6" + "2.36-9"
    assert hash_code(ANCHORE_GRYPE, finding) == hashlib.sha256(text.casefold().encode()).hexdigest()
    [control] = kubescape(kubescape_report([{"status": "failed"}], None))
    text = control.title + control.component_name
    assert hash_code(KUBESCAPE, control) == hashlib.sha256(text.casefold().encode()).hexdigest()


def test_unknown_scan_type() -> None:
    with pytest.raises(ParserError):
        parse("Trivy Scan", b"{}")
