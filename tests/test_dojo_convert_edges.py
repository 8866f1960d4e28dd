"""exporter/dojo/convert_trivy.py and convert.py at their edges, found by mutation testing; what DefectDojo's parser
(the port in tests/dojo_parsers.py) reads out of a converted document is the behaviour pinned, not its shape:

- the fixed version stays where the parser hashes it unless asked; asked, it joins the advisory link in the
  references, or stands alone there;
- vulnerabilities, failed checks, secrets and compliance checks and controls keep their grade in any tool's words;
- null strings read as empty, never "None" and never a failed import (secrets, compliance controls);
- a ReplicaSet's config or compliance check reads as its Deployment in every text, so a rollout keeps the finding;
  texts that do not name the ReplicaSet are left alone;
- a compliance detail report delivers each failed check once (only `success: true` passes); checks or results
  differing in one field the finding is made of are two findings; a summary control listed twice is one, one
  failing is enough whatever `status.summary.failCount` says, and one without a failure count failed nothing;
- an object of another scan type, or a `kind: List` without items, is refused by name;
- a VulnerabilityManifest without its Grype payload (a storage list item) has no report to send.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from exporter import catalog
from exporter.dojo import convert
from tests.dojo_parsers import TRIVY_OPERATOR, ParsedFinding, hash_code, parse
from tests.report_objects import vulnerability_manifest

TRIVY = "aquasecurity.github.io/v1alpha1"
LABELS = {
    "trivy-operator.resource.namespace": "shop",
    "trivy-operator.resource.kind": "StatefulSet",
    "trivy-operator.resource.name": "cart-redis",
    "trivy-operator.container.name": "redis",
}
VULN = {"vulnerabilityID": "CVE-2024-6119", "resource": "libssl3", "installedVersion": "3.0.13",
        "fixedVersion": "3.0.15", "severity": "HIGH", "title": "openssl: type confusion",
        "primaryLink": "https://avd.aquasec.com/nvd/cve-2024-6119"}  # fmt: skip


def report(kind: str, body: dict[str, Any], labels: dict[str, str] = LABELS) -> dict[str, Any]:
    """A namespaced trivy-operator report as the operator writes it."""
    return {"apiVersion": TRIVY, "kind": kind,
            "metadata": {"name": "statefulset-cart-redis", "namespace": "shop", "labels": dict(labels)},
            "report": body}  # fmt: skip


def compliance(controls: list[Any], status: dict[str, Any]) -> dict[str, Any]:
    """A ClusterComplianceReport (cluster-scoped, no labels) as trivy-operator writes it."""
    return {"apiVersion": TRIVY, "kind": "ClusterComplianceReport", "metadata": {"name": "nsa"},
            "spec": {"compliance": {"id": "nsa", "title": "NSA", "controls": controls}}, "status": status}  # fmt: skip


def trivy(*objects: dict[str, Any], fixed_version_in_references: bool = False) -> list[ParsedFinding]:
    document = convert.trivy_operator_document(objects, fixed_version_in_references=fixed_version_in_references)
    return parse(TRIVY_OPERATOR, document)


def test_the_fixed_version_moves_to_the_references_only_when_asked() -> None:
    without_link = {key: value for key, value in VULN.items() if key != "primaryLink"}
    linked, alone = trivy(
        report("VulnerabilityReport", {"vulnerabilities": [VULN, {**without_link, "vulnerabilityID": "CVE-2"}]}),
        fixed_version_in_references=True,
    )
    assert linked.references == "https://avd.aquasec.com/nvd/cve-2024-6119\n\n**Fixed version:** 3.0.15"
    assert alone.references == "**Fixed version:** 3.0.15"
    assert linked.mitigation == alone.mitigation == ""
    [unmoved] = parse(
        TRIVY_OPERATOR, convert.trivy_operator_document([report("VulnerabilityReport", {"vulnerabilities": [VULN]})])
    )
    assert unmoved.mitigation == "3.0.15" and "**Fixed version:** 3.0.15\n" in unmoved.description, "the default"
    assert unmoved.references == "https://avd.aquasec.com/nvd/cve-2024-6119"


CONTROLS = [
    {"id": "1.0", "name": "Non-root", "description": "Run as non-root", "checks": [{"id": "AVD-KSV-0012"}]},
    {"id": "2.0", "name": "Host", "description": "Host namespaces", "checks": [{"id": "AVD-KSV-0008"}]},
    {"id": "3.0", "name": "Priv", "description": "Privileged", "checks": [{"id": "AVD-KSV-0017"}]},
    {"id": "4.0", "name": "Caps", "description": "Capabilities", "checks": [{"id": "AVD-KSV-0022"}]},
    {"id": "5.0", "name": "Seccomp", "description": "Seccomp profile", "checks": [{"id": "AVD-KSV-0104"}]},
]


def test_a_summary_control_keeps_its_grade_and_a_control_without_a_failure_count_failed_nothing() -> None:
    """trivy-operator's `status.summary.failCount` may lag its controls: one control failing once is enough for the
    parser to read the summary report."""
    summary = {"controlCheck": [
        {"id": 1.0, "name": "Non-root", "severity": "Moderate", "totalFail": 1},
        {"id": "2.0", "name": "Host", "severity": "HIGH", "totalFail": None},
        {"id": "3.0", "name": "Priv", "severity": "CRITICAL"},
        {"id": "4.0", "name": "Caps", "severity": "LOW", "totalFail": "n/a"},
        {"id": "5.0", "name": "Seccomp", "severity": "HIGH", "totalFail": 1},
    ]}  # fmt: skip
    # The first control as a hand-edited YAML would have it: an unquoted id, a check that is no object, no text.
    first = {**CONTROLS[0], "id": 1.0, "description": None, "checks": [{"id": "AVD-KSV-0012"}, "AVD-KSV-0013"]}
    controls = [first, "1.0", *CONTROLS[1:]]
    findings = trivy(compliance(controls, {"summary": {"failCount": 0, "passCount": 4}, "summaryReport": summary}))
    assert [(f.title, f.severity, f.vulnerability_ids) for f in findings] == [
        ("TrivyClusterCompliance 1.0 totalFail: 1", "Medium", ("AVD-KSV-0012",)),
        ("TrivyClusterCompliance 5.0 totalFail: 1", "High", ("AVD-KSV-0104",)),
    ]
    assert findings[0].description == "**description:** \n**id:** 1.0\n**name:** Non-root\n**totalfail:** 1\n"
    assert findings[1].description.startswith("**description:** Seccomp profile\n")


def test_a_detail_report_delivers_each_failed_check_once_with_its_grade() -> None:
    """A check without a grade takes its result's, and is then the same finding as the same check graded alike
    (DefectDojo would merge the two, then close one at the next reimport); only `success: true` passes, and passed
    checks and entries that are no object make nothing and do not hide what follows them; a check may lack a target."""
    failed = {"checkID": "AVD-KSV-0012", "severity": "low", "target": "shop/StatefulSet/cart-redis"}
    db = {**failed, "target": "shop/StatefulSet/db", "success": False}
    untargeted = {"checkID": "AVD-KSV-0017", "severity": "MEDIUM", "title": "Privileged", "success": None}
    checks = [failed, {**db, "severity": ""}, {**db, "severity": "HIGH"}, {**db, "success": True}, "AVD-KSV-0012",
              untargeted]  # fmt: skip
    detail = {"description": "NSA", "results": ["1.0", {"id": "1.0", "severity": "HIGH", "checks": checks}]}
    findings = trivy(compliance(CONTROLS, {"detailReport": detail}))
    assert [(f.title, f.severity) for f in findings] == [
        ("1.0 AVD-KSV-0012 shop/StatefulSet/cart-redis", "Low"),
        ("1.0 AVD-KSV-0012 shop/StatefulSet/db", "High"),
        ("1.0 AVD-KSV-0017 ", "Medium"),
    ]
    assert all(f.description.startswith("**detailReport description:** NSA\n") for f in findings)


def test_a_compliance_check_about_a_replicaset_reads_as_its_deployment_in_every_text() -> None:
    """Title, description, mitigation and the texts in the description (which the hash_code counts) name the
    Deployment, so the next rollout's check is the same finding."""

    def check(replicaset: str) -> dict[str, Any]:
        said = f"ReplicaSet '{replicaset}' runs as root"
        return {"checkID": "AVD-KSV-0012", "severity": "MEDIUM", "target": f"shop/ReplicaSet/{replicaset}",
                "title": said, "description": said, "remediation": f"Set runAsNonRoot on {replicaset}",
                "messages": [said], "success": False}  # fmt: skip

    def findings(replicaset: str) -> list[ParsedFinding]:
        result = {"id": "1.0", "name": "Non-root", "severity": "HIGH", "checks": [check(replicaset)]}
        return trivy(compliance(CONTROLS, {"detailReport": {"description": "NSA", "results": [result]}}))

    [finding] = findings("nginx-6d4cf56db6")
    assert finding.title == "1.0 AVD-KSV-0012 shop/Deployment/nginx"
    assert finding.mitigation == "Set runAsNonRoot on nginx"
    for label in ("checkdescription", "checkmessages", "checktitle"):
        assert f"**{label}:** Deployment 'nginx' runs as root\n" in finding.description
    assert findings("nginx-7f8e9d0c1b") == [finding]


@pytest.mark.parametrize(
    "change",
    [{"category": "Pod Security"}, {"checkID": "AVD-KSV-0013"}, {"description": "Runs as root"},
     {"messages": ["Container 'redis' runs as root"]}, {"target": "shop/StatefulSet/db"}, {"title": "Root user"},
     {"severity": "CRITICAL"}],
    ids=lambda change: next(iter(change)),
)  # fmt: skip
def test_compliance_checks_differing_in_one_hashed_field_are_two_findings(change: dict[str, Any]) -> None:
    """Only a check equal in every field DefectDojo makes the finding's title, severity and description of is the
    same finding again; one differing in any of them is another, and both arrive."""
    check = {"category": "Kubernetes Security Check", "checkID": "AVD-KSV-0012", "description": "Non-root",
             "messages": ["Container 'redis' should set runAsNonRoot"], "target": "shop/StatefulSet/cart-redis",
             "title": "Runs as root user", "severity": "HIGH", "success": False}  # fmt: skip
    result = {"id": "1.0", "name": "Non-root", "severity": "HIGH", "checks": [check, {**check, **change}]}
    findings = trivy(compliance(CONTROLS, {"detailReport": {"description": "NSA", "results": [result]}}))
    assert len(findings) == 2
    assert len({hash_code(TRIVY_OPERATOR, finding) for finding in findings}) == 2


def test_a_compliance_target_without_a_kind_is_taken_as_it_is() -> None:
    """Node and cluster checks name their target in one word; it is no ReplicaSet or Pod to rewrite."""
    check = {"checkID": "AVD-KCV-0001", "severity": "LOW", "target": "kubelet", "title": "Anonymous auth",
             "success": False}  # fmt: skip
    result = {"id": "2.0", "name": "Kubelet", "severity": "LOW", "checks": [check]}
    [finding] = trivy(compliance(CONTROLS, {"detailReport": {"description": "NSA", "results": [result]}}))
    assert finding.title == "2.0 AVD-KCV-0001 kubelet"


def test_a_secret_with_null_fields_reads_as_empty_not_as_none() -> None:
    """The parser pastes category and match into the description (which the hash_code counts) and adds the ruleID
    to it: null would read "None", or fail the import."""
    secret = {"target": None, "title": "AWS access key", "category": None, "match": None, "ruleID": None,
              "severity": "critical"}  # fmt: skip
    untitled = {"target": "/app/.env", "title": None, "category": "AWS", "match": "AKIA****", "ruleID": "aws-key",
                "severity": "HIGH"}  # fmt: skip
    finding, other = trivy(report("ExposedSecretReport", {"secrets": [secret, untitled]}))
    assert other.title == "Secret detected in /app/.env - "
    assert (finding.title, finding.severity, finding.service) == (
        "Secret detected in  - AWS access key", "Critical", "shop/StatefulSet/cart-redis/redis"
    )  # fmt: skip
    assert finding.description == (
        "AWS access key\n**Category:** \n**Match:** \n\n**container.name:** redis\n**resource.kind:** StatefulSet"
        "\n**resource.name:** cart-redis\n**resource.namespace:** shop\n**ruleID:** "
    )


def test_a_config_check_about_a_replicaset_reads_as_its_deployment_in_title_and_description() -> None:
    """Both are in the check's hash_code: the next rollout's check is the same finding, graded as the CR says. A
    text that does not name the ReplicaSet is left as it is, Pods and all."""

    def findings(replicaset: str) -> list[ParsedFinding]:
        said = f"ReplicaSet '{replicaset}' runs as root"
        check = {"checkID": "KSV012", "title": said, "description": said, "severity": "Moderate",
                 "messages": [said, f"replicaset {replicaset} runs as root"], "success": False}  # fmt: skip
        other = {"checkID": "KSV017", "title": "Pod runs privileged", "description": "Container 'nginx' of the Pod"
                 " runs privileged", "severity": "HIGH"}  # fmt: skip
        labels = {**LABELS, "trivy-operator.resource.kind": "ReplicaSet", "trivy-operator.resource.name": replicaset}
        return trivy(report("ConfigAuditReport", {"checks": [check, other]}, labels))

    finding, other = findings("nginx-6d4cf56db6")
    assert (finding.title, finding.severity, finding.service) == (
        "KSV012 - Deployment 'nginx' runs as root", "Medium", "shop/Deployment/nginx/redis"
    )  # fmt: skip
    assert finding.description.startswith("Deployment 'nginx' runs as root\n**container.name:** redis\n")
    assert finding.mitigation == "Deployment 'nginx' runs as root\ndeployment nginx runs as root"
    assert other.title == "KSV017 - Pod runs privileged"
    assert other.description.startswith("Container 'nginx' of the Pod runs privileged\n")
    assert findings("nginx-7f8e9d0c1b") == [finding, other]


def test_a_vulnerability_graded_in_another_tool_s_words_keeps_its_grade() -> None:
    """The parser knows five upper-case words and fails the import on any other; a missing grade is Info."""
    grades = ["moderate", " critical ", "Negligible", None]
    vulnerabilities = [
        {**VULN, "vulnerabilityID": f"CVE-2024-{n}", "severity": grade} for n, grade in enumerate(grades)
    ]
    findings = trivy(report("VulnerabilityReport", {"vulnerabilities": vulnerabilities}))
    assert [(f.title, f.severity) for f in findings] == [
        ("CVE-2024-0 libssl3 3.0.13", "Medium"), ("CVE-2024-1 libssl3 3.0.13", "Critical"),
        ("CVE-2024-2 libssl3 3.0.13", "Info"), ("CVE-2024-3 libssl3 3.0.13", "Info"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    "change",
    [{"id": "2.0"}, {"name": "Root user"}, {"description": "No root"}, {"severity": "LOW"}],
    ids=lambda change: next(iter(change)),
)
def test_one_check_failing_under_two_results_differing_in_one_hashed_field_is_two_findings(
    change: dict[str, Any],
) -> None:
    """The result's id (title), name and description (description) and grade (the severity of a check without
    one) make the finding too: the same check under two such results is two findings, and both arrive."""
    check = {"checkID": "AVD-KSV-0012", "severity": "", "target": "shop/StatefulSet/cart-redis", "success": False}
    result = {"id": "1.0", "name": "Non-root", "description": "Run as non-root", "severity": "HIGH", "checks": [check]}
    detail = {"description": "NSA", "results": [result, {**result, **change}]}
    findings = trivy(compliance(CONTROLS, {"detailReport": detail}))
    assert len({hash_code(TRIVY_OPERATOR, finding) for finding in findings}) == len(findings) == 2


def test_a_summary_control_listed_twice_is_one_finding() -> None:
    """DefectDojo would merge the two, then close one at the next reimport."""
    entry = {"id": "5.0", "name": "Seccomp", "severity": "HIGH", "totalFail": 2}
    summary = {"summary": {"failCount": 1}, "summaryReport": {"controlCheck": [entry, dict(entry)]}}
    assert [f.title for f in trivy(compliance(CONTROLS, summary))] == ["TrivyClusterCompliance 5.0 totalFail: 2"]


@pytest.mark.parametrize(("second", "findings"), [("b", 2), ("a", 1)], ids=["specs-differ", "specs-equal"])
def test_two_compliance_reports_keep_the_summary_controls_their_specs_make_distinct(second: str, findings: int) -> None:
    """The parser builds a summary control's finding from the spec too (its control's description and check ids):
    two compliance reports whose summaries agree but whose specs differ are two findings in DefectDojo, and the
    document keeps both; equal in spec too, they are one finding twice, and one is left out."""
    entry = {"id": "1", "name": "Privileged", "severity": "HIGH", "totalFail": 1}
    status = {"summary": {"failCount": 1}, "summaryReport": {"controlCheck": [entry]}}
    reports = [compliance([{"id": "1", "name": "Privileged", "description": text, "checks": [{"id": "AVD-KSV-0017"}]}],
                          status) for text in ("a", second)]  # fmt: skip
    reports[1]["metadata"]["name"] = "k8s-pss-restricted"
    labelled = [{**r, "metadata": {**r["metadata"], "labels": {}}} for r in reports]  # the parser needs labels
    raw = parse(TRIVY_OPERATOR, json.dumps(labelled).encode())
    assert len({hash_code(TRIVY_OPERATOR, f) for f in raw}) == findings
    converted = trivy(*reports)
    assert {hash_code(TRIVY_OPERATOR, f) for f in converted} == {hash_code(TRIVY_OPERATOR, f) for f in raw}
    assert len(converted) == findings


@pytest.mark.parametrize(
    ("obj", "named"),
    [({"apiVersion": "spdx.softwarecomposition.kubescape.io/v1beta1", "kind": "VulnerabilityManifest"},
      "spdx.softwarecomposition.kubescape.io/v1beta1/VulnerabilityManifest"),
     ({"apiVersion": "v1", "kind": "List", "items": None}, "v1/List")],
    ids=["kubescape", "list-without-items"],
)  # fmt: skip
def test_an_object_that_is_no_trivy_report_is_refused_by_name(obj: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=rf"^{re.escape(named)} is not imported as a Trivy Operator Scan$"):
        convert.trivy_operator_document([obj])


def test_a_vulnerability_manifest_without_its_grype_payload_has_no_report() -> None:
    """A storage list item (no `spec.payload`) sent as a document would read as "no findings" and close them."""
    kind = catalog.by_group_kind("spdx.softwarecomposition.kubescape.io", "VulnerabilityManifest")
    assert kind is not None
    assert convert.has_report(kind, vulnerability_manifest("nginx-1.25", payload=True))
    assert not convert.has_report(kind, vulnerability_manifest("nginx-1.25", payload=False))
