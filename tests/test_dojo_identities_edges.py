"""Edge cases of exporter/dojo/identities.py that mutation testing showed untested (docs/reliability.md).

The oracle is the port of DefectDojo's parsers and hash codes (tests/dojo_parsers.py), on hand-written documents:
`same_findings` asks the port whether DefectDojo makes the same findings of two documents, checks that the
identities say the same, and the test pins the port's answer with a literal. So a default, a severity rule or a
document shape the identities get wrong shows as a test that fails, not as a mass-close valve counting findings
that DefectDojo would not close (or missing those it would).
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from exporter.dojo.identities import finding_identities
from tests import dojo_parsers
from tests.test_dojo_identities import hash_codes

GRYPE, KUBESCAPE, TRIVY = dojo_parsers.ANCHORE_GRYPE, dojo_parsers.KUBESCAPE, dojo_parsers.TRIVY_OPERATOR


def same_findings(scan_type: str, first: bytes, second: bytes) -> bool:
    """Whether DefectDojo makes the same findings (hash_codes) of both documents; the identities must agree."""
    by_dojo = hash_codes(scan_type, first) == hash_codes(scan_type, second)
    by_identities = finding_identities(scan_type, first) == finding_identities(scan_type, second)
    assert by_identities == by_dojo
    return by_dojo


def counted(scan_type: str, document: bytes) -> int:
    """How many findings DefectDojo makes of the document; the identities must count as many."""
    findings = len(hash_codes(scan_type, document))
    assert len(finding_identities(scan_type, document)) == findings
    return findings


# --- Anchore Grype ---------------------------------------------------------------------------------------------


def grype(*matches: dict[str, Any]) -> bytes:
    return orjson.dumps({"matches": list(matches)})


def match(vulnerability_id: str = "CVE-1", name: str = "zlib", version: str = "1.2", **severity: str) -> dict[str, Any]:
    """A Grype match; `severity=...` sets the vulnerability's severity, left out it is missing."""
    return {"vulnerability": {"id": vulnerability_id, **severity}, "matchDetails": [],
            "artifact": {"name": name, "version": version}}  # fmt: skip


def test_grype_severity_is_hashed_and_unknown_negligible_or_missing_are_info() -> None:
    """High and Low of one package are two findings; a missing severity, Unknown and Negligible are Info, as the
    parser maps them, and a severity's case does not matter."""
    info = grype(match(severity="Info"))
    assert same_findings(GRYPE, grype(match(severity="High")), grype(match(severity="Low"))) is False
    assert same_findings(GRYPE, grype(match(severity="High")), info) is False
    assert same_findings(GRYPE, grype(match()), info) is True
    assert same_findings(GRYPE, grype(match(severity="Unknown")), info) is True
    assert same_findings(GRYPE, grype(match(severity="Negligible")), info) is True
    assert same_findings(GRYPE, grype(match(severity="high")), grype(match(severity="High"))) is True
    assert same_findings(GRYPE, grype(match(severity="Unknown")), grype(match(severity="Low"))) is False


def test_grype_vulnerability_id_and_version_are_hashed() -> None:
    """Another CVE of the same package, and the same CVE of another version, are other findings; two CVEs of one
    package in one document are two."""
    plain = grype(match(severity="High"))
    assert same_findings(GRYPE, grype(match("CVE-2", severity="High")), plain) is False
    assert same_findings(GRYPE, grype(match(version="1.3", severity="High")), plain) is False
    assert counted(GRYPE, grype(match(severity="High"), match("CVE-2", severity="High"))) == 2


def test_grype_keeps_reading_after_a_repeated_package() -> None:
    """A repeat is skipped, not the end of the matches: the package after it is a finding of its own."""
    document = grype(match(severity="High"), match(severity="Low"), match(name="curl", severity="High"))
    assert counted(GRYPE, document) == 2


def test_grype_nul_characters_leave_the_title_and_version_but_not_the_name() -> None:
    """The parser strips NUL from the title and the version (PostgreSQL refuses it), not from the component name."""
    plain = grype(match(severity="High"))
    assert same_findings(GRYPE, grype(match("CVE-\x001", severity="High")), plain) is True
    assert same_findings(GRYPE, grype(match(version="1.\x002", severity="High")), plain) is True
    assert same_findings(GRYPE, grype(match(name="zl\x00ib", severity="High")), plain) is False


def test_grype_version_is_hashed_apart_from_the_title() -> None:
    """Two matches with one title and one package name but other versions are two findings: the version is a hash
    field of its own (`X in a:b in a:c` is the title of version `b in a:c` of CVE `X`, and of version `c` of
    CVE `X in a:b`)."""
    document = grype(match("X", "a", "b in a:c", severity="High"), match("X in a:b", "a", "c", severity="High"))
    assert counted(GRYPE, document) == 2


# --- Kubescape JSON Importer -----------------------------------------------------------------------------------


def kubescape(resource_id: str, *controls: dict[str, Any]) -> bytes:
    """A Kubescape document of one resource and its controls."""
    results = [{"resourceID": resource_id, "controls": list(controls)}]
    resources = [{"resourceID": resource_id, "object": {}}]
    return orjson.dumps({"summaryDetails": {"controls": {}}, "resources": resources, "results": results})


def control(name: str | None, control_id: str = "C-0001", **changes: Any) -> dict[str, Any]:
    """A failed control of one failed rule; `status=...` replaces the control's status, `rules=...` its rules."""
    fields = {"status": {"status": "failed"}, "rules": [{"name": "r", "status": "failed"}], **changes}
    return {"controlID": control_id, "name": name, **fields}


@pytest.mark.parametrize(
    ("resource_id", "expected"),
    [
        ("apps/v1/shop/Deployment/web", 2),  # "None - Deployment web" and "None - apps/v1/shop/Deployment/web"
        ("Deployment/web", 2),  # two parts are enough for a kind and a name
        ("apps//shop/Deployment/web", 2),  # an empty part before the kind does not matter
        ("apps/v1//Deployment/web", 2),
        ("apps/v1/shop/Deployment/", 1),  # no name: both titles end in the resource id
        ("web", 1),  # no kind: likewise
    ],
)
def test_kubescape_titles_name_the_kind_and_name_only_when_both_and_the_control_are_there(
    resource_id: str, expected: int
) -> None:
    """A control named "None" and one without a name are two findings when the title can say `<kind> <name>`: the
    named control's title does, the unnamed one's falls back to the resource id (`None - <resource id>`); the kind
    and name are the id's last two parts."""
    assert counted(KUBESCAPE, kubescape(resource_id, control(None), control("None", "C-0002"))) == expected


def test_kubescape_controls_whose_rules_all_passed_make_no_finding() -> None:
    """A failed control is a finding per rule that did not pass: none when all passed or there are none."""
    passed = [{"name": "r", "status": "passed"}]
    mixed = [*passed, {"name": "s", "status": "failed"}]
    resource_id = "apps/v1/shop/Deployment/web"
    assert counted(KUBESCAPE, kubescape(resource_id, control("Privileged", rules=passed))) == 0
    assert counted(KUBESCAPE, kubescape(resource_id, control("Privileged", rules=[]))) == 0
    assert counted(KUBESCAPE, kubescape(resource_id, control("Privileged", rules=mixed))) == 1
    assert counted(KUBESCAPE, kubescape(resource_id, control("Privileged", status={"status": "passed"}))) == 0


def test_kubescape_a_passed_control_does_not_end_the_resources_controls() -> None:
    passed = control("Privileged", status={"status": "passed"})
    assert counted(KUBESCAPE, kubescape("apps/v1/shop/Deployment/web", passed, control("Root", "C-0002"))) == 1


def test_kubescape_titles_are_cut_beyond_150_characters() -> None:
    """Two control names of 145 characters, differing in their last word, make titles of 151 characters
    (`<name> - web`): both are shortened to 150, their last word cut, and are one finding, as in DefectDojo."""
    name = " ".join(["word"] * 28) + "xxxx"
    document = kubescape("web", control(name + " a"), control(name + " b", "C-0002"))
    assert len(f"{name} a - web") == 151
    assert counted(KUBESCAPE, document) == 1


def test_kubescape_a_resource_without_results_has_no_identities_rather_than_an_error() -> None:
    """DefectDojo's parser fails on a resource that no result names (an IndexError, a 500); the identities of such
    a document are those of the resources that have results, and reading it raises nothing."""
    document = orjson.loads(kubescape("apps/v1/shop/Deployment/web", control("Privileged")))
    document["resources"].append({"resourceID": "apps/v1/shop/Deployment/gone", "object": {}})
    assert len(finding_identities(KUBESCAPE, orjson.dumps(document))) == 1


# --- Trivy Operator Scan -----------------------------------------------------------------------------------------

LABELS = {"trivy-operator.resource.namespace": "shop", "trivy-operator.resource.kind": "Deployment",
          "trivy-operator.resource.name": "web", "trivy-operator.container.name": "app"}  # fmt: skip
VULNERABILITY = {"vulnerabilityID": "CVE-1", "resource": "zlib", "installedVersion": "1.2", "fixedVersion": "1.3",
                 "severity": "HIGH", "title": "zlib: overflow"}  # fmt: skip
CHECK = {"checkID": "KSV001", "title": "Runs as root", "severity": "HIGH", "description": "d", "success": False}
SECRET = {"target": "/app/.env", "title": "AWS key", "ruleID": "aws-key", "category": "AWS", "match": "AKIA***",
          "severity": "CRITICAL"}  # fmt: skip


def trivy(**report: list[dict[str, Any]]) -> bytes:
    """An array of one CR with the shop/web labels and the given report parts (vulnerabilities=..., checks=...)."""
    return orjson.dumps(
        [{"kind": "VulnerabilityReport", "metadata": {"name": "r", "labels": LABELS}, "report": report}]
    )


def without(entry: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key != field}


@pytest.mark.parametrize(
    "plural",
    [
        "clustercompliancereports", "clusterconfigauditreports", "clusterinfraassessmentreports",
        "clusterrbacassessmentreports", "configauditreports", "exposedsecretreports", "infraassessmentreports",
        "rbacassessmentreports", "vulnerabilityreports",
    ],
)  # fmt: skip
def test_trivy_documents_in_each_of_the_parsers_shapes_make_the_same_findings(plural: str) -> None:
    """An array of CRs, a dict keyed by any CRD plural the parser knows, and one CR alone are read alike."""
    array = trivy(vulnerabilities=[VULNERABILITY], checks=[CHECK])
    [cr] = orjson.loads(array)
    keyed = orjson.dumps({f"{plural}.aquasecurity.github.io": [cr], "sbomreports.aquasecurity.github.io": [cr]})
    assert counted(TRIVY, keyed) == 2
    assert same_findings(TRIVY, keyed, array) is True
    assert same_findings(TRIVY, orjson.dumps(cr), array) is True


def test_trivy_a_cr_without_labels_makes_no_finding_but_empty_labels_do() -> None:
    """The parser skips a CR whose metadata has no labels (a `kind: List`) and a null one, not one whose labels are
    empty."""
    [cr] = orjson.loads(trivy(vulnerabilities=[VULNERABILITY]))
    assert counted(TRIVY, orjson.dumps([{**cr, "metadata": {"name": "r"}}])) == 0
    assert counted(TRIVY, orjson.dumps([{**cr, "metadata": {"name": "r", "labels": None}}])) == 0
    assert counted(TRIVY, orjson.dumps([{**cr, "metadata": {"name": "r", "labels": {}}}])) == 1
    assert counted(TRIVY, orjson.dumps([{"kind": "List"}, None, cr])) == 1


@pytest.mark.parametrize(
    ("part", "entry", "field", "default"),
    [
        ("vulnerabilities", VULNERABILITY, "vulnerabilityID", "0"),
        ("checks", CHECK, "description", ""),
        ("checks", CHECK, "checkID", "0"),
        ("secrets", SECRET, "target", ""),
        ("secrets", SECRET, "ruleID", "0"),
        ("secrets", SECRET, "match", ""),
    ],
)
def test_trivy_a_missing_field_is_the_handlers_default(
    part: str, entry: dict[str, Any], field: str, default: str
) -> None:
    """A finding without the field is the finding with the value the handler puts in its place, and another one
    than the finding with some other value."""
    missing = trivy(**{part: [without(entry, field)]})
    assert same_findings(TRIVY, missing, trivy(**{part: [{**entry, field: default}]})) is True
    assert same_findings(TRIVY, missing, trivy(**{part: [{**entry, field: "other"}]})) is False


@pytest.mark.parametrize(
    ("part", "entry", "field", "value"),
    [
        ("vulnerabilities", VULNERABILITY, "resource", "zlib1g"),
        ("vulnerabilities", VULNERABILITY, "severity", "LOW"),
        ("checks", CHECK, "title", "Runs privileged"),
        ("checks", CHECK, "severity", "LOW"),
        ("secrets", SECRET, "title", "GCP key"),
        ("secrets", SECRET, "category", "GCP"),
        ("secrets", SECRET, "severity", "LOW"),
    ],
)
def test_trivy_each_field_of_the_hash_makes_another_finding(
    part: str, entry: dict[str, Any], field: str, value: str
) -> None:
    """The package, a title, a category or a severity changed: another finding (title, severity, description)."""
    assert same_findings(TRIVY, trivy(**{part: [entry]}), trivy(**{part: [{**entry, field: value}]})) is False


def test_trivy_a_missing_workload_label_is_an_empty_one() -> None:
    """The workload labels enter every description; a missing one reads as empty, as in the parser."""
    for label in LABELS:
        missing = {key: value for key, value in LABELS.items() if key != label}
        for labels, same in ((missing, True), ({**LABELS, label: "other"}, False)):
            cr = {"kind": "VulnerabilityReport", "metadata": {"name": "r", "labels": {**missing, label: ""}},
                  "report": {"vulnerabilities": [VULNERABILITY], "checks": [CHECK], "secrets": [SECRET]}}  # fmt: skip
            other = {**cr, "metadata": {"name": "r", "labels": labels}}
            assert same_findings(TRIVY, orjson.dumps([cr]), orjson.dumps([other])) is same, label


COMPLIANCE_CHECK = {"checkID": "KSV001", "target": "shop/web", "title": "Runs as root", "category": "Pod",
                    "description": "d", "severity": "HIGH", "messages": ["root"], "success": False}  # fmt: skip
RESULT = {"id": "1.1", "name": "Non-root", "description": "run as non-root", "severity": "LOW"}


def detail(*checks: dict[str, Any], report_description: str = "CIS", **result: Any) -> bytes:
    """A ClusterComplianceReport whose `status.detailReport` (of that description) has one result (the RESULT's
    fields, changed by `result`) holding the checks."""
    results = [{**RESULT, **result, "checks": list(checks)}]
    status = {"detailReport": {"description": report_description, "results": results}}
    return orjson.dumps([{"kind": "ClusterComplianceReport", "metadata": {"name": "cis", "labels": {}},
                          "status": status}])  # fmt: skip


def test_compliance_detail_reports_only_failed_checks() -> None:
    """`success: false` is a finding; true, null or missing is not, and does not end the result's checks. The
    report's description is part of each finding."""
    assert counted(TRIVY, detail(COMPLIANCE_CHECK, {**COMPLIANCE_CHECK, "checkID": "KSV002"})) == 2
    assert counted(TRIVY, detail({**COMPLIANCE_CHECK, "checkID": "KSV002", "success": True}, COMPLIANCE_CHECK)) == 1
    assert same_findings(TRIVY, detail(COMPLIANCE_CHECK), detail(COMPLIANCE_CHECK, report_description="NSA")) is False
    for success in (True, None):
        assert counted(TRIVY, detail({**COMPLIANCE_CHECK, "success": success})) == 0
    assert counted(TRIVY, detail(without(COMPLIANCE_CHECK, "success"))) == 0


@pytest.mark.parametrize("field", ["checkID", "target", "title", "category", "description"])
def test_compliance_detail_missing_check_fields_are_empty(field: str) -> None:
    missing = detail(without(COMPLIANCE_CHECK, field))
    assert same_findings(TRIVY, missing, detail({**COMPLIANCE_CHECK, field: ""})) is True
    assert same_findings(TRIVY, missing, detail({**COMPLIANCE_CHECK, field: "other"})) is False


@pytest.mark.parametrize("field", ["id", "name", "description"])
def test_compliance_detail_missing_result_fields_are_empty(field: str) -> None:
    results = [{**without(RESULT, field), "checks": [COMPLIANCE_CHECK]}]
    missing = orjson.loads(detail(COMPLIANCE_CHECK))
    missing[0]["status"]["detailReport"]["results"] = results
    assert same_findings(TRIVY, orjson.dumps(missing), detail(COMPLIANCE_CHECK, **{field: ""})) is True
    assert same_findings(TRIVY, orjson.dumps(missing), detail(COMPLIANCE_CHECK, **{field: "other"})) is False


def test_compliance_detail_severity_is_the_checks_or_else_the_results() -> None:
    """The check's severity wins; an empty or missing one is the result's (LOW here), and the result's does not
    matter to a check that has its own."""
    low = detail({**COMPLIANCE_CHECK, "severity": "LOW"})
    assert same_findings(TRIVY, detail(COMPLIANCE_CHECK), low) is False
    assert same_findings(TRIVY, detail({**COMPLIANCE_CHECK, "severity": ""}), low) is True
    assert same_findings(TRIVY, detail(without(COMPLIANCE_CHECK, "severity")), low) is True
    assert same_findings(TRIVY, detail(COMPLIANCE_CHECK, severity="CRITICAL"), detail(COMPLIANCE_CHECK)) is True


def test_compliance_detail_messages_are_each_ended_by_a_newline() -> None:
    """The messages enter the description one per line: `a\\n` alone reads as `a` and an empty message, and none
    as no messages at all."""
    one = detail({**COMPLIANCE_CHECK, "messages": ["a\n"]})
    assert same_findings(TRIVY, one, detail({**COMPLIANCE_CHECK, "messages": ["a", ""]})) is True
    assert same_findings(TRIVY, one, detail({**COMPLIANCE_CHECK, "messages": ["a"]})) is False
    none = detail(without(COMPLIANCE_CHECK, "messages"))
    assert same_findings(TRIVY, none, detail({**COMPLIANCE_CHECK, "messages": []})) is True


CONTROL_CHECK = {"id": "1.1", "name": "Non-root", "severity": "HIGH", "totalFail": 2}


def summary(*entries: dict[str, Any], fail_count: Any = 1, control_id: str = "1.1") -> bytes:
    """A ClusterComplianceReport with a `status.summaryReport` of the entries, `status.summary.failCount` (left out
    when None) and a spec control `control_id` of two checks."""
    spec = {"compliance": {"controls": [{"id": control_id, "description": "run as non-root",
                                         "checks": [{"id": "KSV012"}, {"id": "KSV001"}]}]}}  # fmt: skip
    status = {"summaryReport": {"controlCheck": list(entries)},
              "summary": {} if fail_count is None else {"failCount": fail_count}}  # fmt: skip
    return orjson.dumps([{"kind": "ClusterComplianceReport", "metadata": {"name": "cis", "labels": {}}, "spec": spec,
                          "status": status}])  # fmt: skip


def test_compliance_summary_is_read_only_when_the_report_failed() -> None:
    """Its controls are findings when `failCount` is 1 or more, none when it is 0 or missing."""
    assert counted(TRIVY, summary(CONTROL_CHECK, fail_count=1)) == 1
    assert counted(TRIVY, summary(CONTROL_CHECK, fail_count="3")) == 1
    assert counted(TRIVY, summary(CONTROL_CHECK, fail_count=0)) == 0
    assert counted(TRIVY, summary(CONTROL_CHECK, fail_count=None)) == 0


def test_compliance_summary_controls_with_failures_are_findings() -> None:
    """A control with `totalFail` 1 or more is a finding, one with 0 or none is not; the count is hashed."""
    assert counted(TRIVY, summary({**CONTROL_CHECK, "totalFail": 1})) == 1
    assert counted(TRIVY, summary({**CONTROL_CHECK, "totalFail": 0})) == 0
    assert counted(TRIVY, summary(without(CONTROL_CHECK, "totalFail"))) == 0
    assert counted(TRIVY, summary({**CONTROL_CHECK, "id": "1.2", "totalFail": 0}, CONTROL_CHECK)) == 1
    assert same_findings(TRIVY, summary(CONTROL_CHECK), summary({**CONTROL_CHECK, "totalFail": 3})) is False


@pytest.mark.parametrize("field", ["id", "name"])
def test_compliance_summary_missing_fields_are_empty(field: str) -> None:
    """A control check without an id matches a spec control of id "" (its description and checks are hashed)."""
    missing = summary(without(CONTROL_CHECK, field), control_id="")
    assert same_findings(TRIVY, missing, summary({**CONTROL_CHECK, field: ""}, control_id="")) is True
    assert same_findings(TRIVY, missing, summary({**CONTROL_CHECK, field: "other"}, control_id="")) is False


def test_compliance_summary_control_id_and_severity_are_hashed() -> None:
    """Another control id (its spec control along) or another severity: another finding."""
    other_id = summary({**CONTROL_CHECK, "id": "1.2"}, control_id="1.2")
    assert same_findings(TRIVY, summary(CONTROL_CHECK), other_id) is False
    assert same_findings(TRIVY, summary(CONTROL_CHECK), summary({**CONTROL_CHECK, "severity": "LOW"})) is False


def test_compliance_summary_check_ids_are_concatenated_as_dojo_does() -> None:
    """DefectDojo hashes a control's check ids sorted and run together, so checks `a` and `bc` are checks `ab`
    and `c`: one finding."""
    first, second = orjson.loads(summary(CONTROL_CHECK)), orjson.loads(summary(CONTROL_CHECK))
    first[0]["spec"]["compliance"]["controls"][0]["checks"] = [{"id": "a"}, {"id": "bc"}]
    second[0]["spec"]["compliance"]["controls"][0]["checks"] = [{"id": "ab"}, {"id": "c"}]
    assert same_findings(TRIVY, orjson.dumps(first), orjson.dumps(second)) is True


def test_compliance_counts_that_are_no_numbers_are_no_failures() -> None:
    """DefectDojo's parser fails on a `failCount` or `totalFail` that is no integer (a 500); the identities read it
    as 0, no finding, rather than raise or count a finding DefectDojo never makes."""
    assert len(finding_identities(TRIVY, summary(CONTROL_CHECK, fail_count="many"))) == 0
    assert len(finding_identities(TRIVY, summary({**CONTROL_CHECK, "totalFail": None}))) == 0


def test_compliance_summary_hashes_the_spec_controls_checks_and_description() -> None:
    """The matching spec control's check ids (in any order) and description enter the finding."""
    document = orjson.loads(summary(CONTROL_CHECK))
    control_spec = document[0]["spec"]["compliance"]["controls"][0]
    control_spec["checks"].reverse()
    assert same_findings(TRIVY, orjson.dumps(document), summary(CONTROL_CHECK)) is True
    control_spec["checks"].append({"id": "KSV003"})
    assert same_findings(TRIVY, orjson.dumps(document), summary(CONTROL_CHECK)) is False
    control_spec["checks"].pop()
    control_spec["description"] = "other"
    assert same_findings(TRIVY, orjson.dumps(document), summary(CONTROL_CHECK)) is False
