"""A port of the three DefectDojo parsers the exporter feeds, and of how DefectDojo hashes and matches findings.

DefectDojo cannot run here, so its source is the contract. Ported from DefectDojo/django-DefectDojo, checked
against master at 7cfa159a (2026-08-07) with `scripts/check_dojo_port.py` (see docs/defectdojo.md):

- "Trivy Operator Scan": `dojo/tools/trivy_operator/parser.py` (8e89ba24: one CR, an array of CRs, or a
  dict keyed by CRD plural), `vulnerability_handler.py` (46ef61bf, the labels-based handler that parser calls;
  `service` = `namespace/kind/name[/container]` as quoted in upstream issue #16026), `checks_handler.py` (7e63dcbf),
  `secrets_handler.py` (40287651), `compliance_handler.py` (4332b0b8), `clustercompliance_handler.py` (305bad78),
  `uniform_vulnid.py` (8bbe5fe0);
- "Anchore Grype": `dojo/tools/anchore_grype/parser.py` (a00effe9; the default mode, not "Anchore Grype detailed");
- "Kubescape JSON Importer": `dojo/tools/kubescape/parser.py` (5b86366e);
- what the importer does with any parser's findings: `dojo/importers/base_importer.py` `sanitize_severity`;
- `dojo/finding/models.py` `Finding.compute_hash_code`, `get_vulnerability_ids`, `hash_fields`, and
  `dojo/settings/settings.dist.py` `HASHCODE_FIELDS_PER_SCANNER`, `HASH_CODE_FIELDS_ALWAYS` and
  `DEDUPLICATION_ALGORITHM_PER_PARSER`. How reimport picks among matches is the stand-in's
  (`tests/dojo_standin/importer.py`).

Only what reaches the ParsedFinding fields is ported (not tags, cvss scores, epss or steps to reproduce). What
makes DefectDojo answer an error (a KeyError in a handler is an HTTP 500, the importer's ValidationError a 400,
unreadable JSON either) raises ParserError here.
"""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any

TRIVY_OPERATOR = "Trivy Operator Scan"
ANCHORE_GRYPE = "Anchore Grype"
KUBESCAPE = "Kubescape JSON Importer"

HASHCODE_FIELDS_PER_SCANNER = {
    ANCHORE_GRYPE: ("title", "severity", "component_name", "component_version"),
    TRIVY_OPERATOR: ("title", "severity", "vulnerability_ids", "description"),
    KUBESCAPE: ("title", "component_name"),
}
HASH_CODE_FIELDS_ALWAYS = ("service",)
DEDUPLICATION_ALGORITHM_PER_PARSER = {ANCHORE_GRYPE: "hash_code", TRIVY_OPERATOR: "hash_code", KUBESCAPE: "hash_code"}
SEVERITIES = ("Critical", "High", "Medium", "Low", "Info")


class ParserError(Exception):
    """What makes DefectDojo answer 400 or 500: a KeyError in a handler, bad JSON, an unsupported severity..."""


@dataclass(frozen=True)
class ParsedFinding:
    """The Finding fields a parser sets that matter to the exporter (identity, hash fields, what analysts read)."""

    title: str
    severity: str
    description: str
    mitigation: str | None
    references: str | None
    component_name: str | None
    component_version: str | None
    vuln_id_from_tool: str | None
    vulnerability_ids: tuple[str, ...]
    file_path: str | None
    service: str | None
    unique_id_from_tool: str | None
    static_finding: bool
    dynamic_finding: bool


def parse(scan_type: str, content: bytes) -> list[ParsedFinding]:
    """The findings DefectDojo's parser for `scan_type` makes of `content`, after the importer's severity check."""
    parsers = {TRIVY_OPERATOR: _trivy_operator, ANCHORE_GRYPE: _grype, KUBESCAPE: _kubescape}
    if scan_type not in parsers:
        raise ParserError(f"no parser for {scan_type!r}")
    try:
        return [_sanitize_severity(finding) for finding in parsers[scan_type](content)]
    except (KeyError, TypeError, AttributeError, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise ParserError(f"{scan_type}: {type(exc).__name__}: {exc}") from exc


def hash_code(scan_type: str, finding: ParsedFinding) -> str:
    """`Finding.compute_hash_code` for a finding not yet saved: the configured fields, then `service` if set.

    vulnerability_ids enter as `str()`, deduplicated, sorted and concatenated; other fields as `str()` (None is
    "None");
    `service` (HASH_CODE_FIELDS_ALWAYS) is appended when truthy. The whole is case-folded, stripped, SHA-256.
    To model an import that sets `service` for the test, pass `dataclasses.replace(finding, service=...)`.
    """
    text = ""
    for field in HASHCODE_FIELDS_PER_SCANNER[scan_type]:
        if field == "vulnerability_ids":
            text += "".join(sorted(dict.fromkeys(str(value) for value in finding.vulnerability_ids)))
        else:
            text += str(getattr(finding, field))
    for field in HASH_CODE_FIELDS_ALWAYS:
        if getattr(finding, field):
            text += str(getattr(finding, field))
    return hashlib.sha256(text.casefold().encode("utf-8").strip()).hexdigest()


def dedupe_key(scan_type: str, finding: ParsedFinding) -> str:
    """What reimport matches an incoming finding on within the test, per DEDUPLICATION_ALGORITHM_PER_PARSER."""
    algorithm = DEDUPLICATION_ALGORITHM_PER_PARSER[scan_type]
    if algorithm == "unique_id_from_tool":
        return f"unique_id_from_tool:{finding.unique_id_from_tool}"
    return f"hash_code:{hash_code(scan_type, finding)}"


def _sanitize_severity(finding: ParsedFinding) -> ParsedFinding:
    severity: Any = finding.severity
    if severity != "Info" and (severity.lower().startswith("info") or severity.lower() == "none"):
        severity = "Info"
    if severity not in SEVERITIES:
        raise ParserError(f'Finding severity "{severity}" is not supported (HTTP 400)')
    return finding if severity == finding.severity else _replace(finding, severity=severity)


def _finding(title: Any, severity: Any, description: Any, **fields: Any) -> ParsedFinding:
    values: dict[str, Any] = dict.fromkeys(ParsedFinding.__dataclass_fields__)
    values.update(title=title, severity=severity, description=description, **fields)
    values["static_finding"] = bool(values["static_finding"])
    values["dynamic_finding"] = bool(values["dynamic_finding"])
    values["vulnerability_ids"] = tuple(values["vulnerability_ids"] or ())
    return ParsedFinding(**values)


def _replace(finding: ParsedFinding, **changes: Any) -> ParsedFinding:
    return ParsedFinding(**{**finding.__dict__, **changes})


# --- Trivy Operator Scan -------------------------------------------------------------------------------------------

TRIVY_SEVERITIES = {"CRITICAL": "Critical", "HIGH": "High", "MEDIUM": "Medium", "LOW": "Low", "UNKNOWN": "Info"}
_PLURALS = {
    f"{plural}.aquasecurity.github.io"
    for plural in (
        "clustercompliancereports",
        "clusterconfigauditreports",
        "clusterinfraassessmentreports",
        "clusterrbacassessmentreports",
        "configauditreports",
        "exposedsecretreports",
        "infraassessmentreports",
        "rbacassessmentreports",
        "vulnerabilityreports",
    )
}
_SBOM_PLURALS = ("clustersbomreports.aquasecurity.github.io", "sbomreports.aquasecurity.github.io")


def _trivy_operator(content: bytes) -> list[ParsedFinding]:
    try:
        data = json.loads(str(content, "utf-8"))
    except Exception:
        data = json.loads(content)
    findings: list[ParsedFinding] = []
    if type(data) is list:
        for item in data:
            findings += _trivy_output(item)
    elif type(data) is dict and set(data) & _PLURALS:
        for key in list(data):
            if key not in _SBOM_PLURALS:
                for item in data[key]:
                    findings += _trivy_output(item)
    else:
        findings += _trivy_output(data)
    return findings


def _trivy_output(data: Any) -> list[ParsedFinding]:
    """`TrivyOperatorParser.output_findings`: nothing without metadata.labels, which a `kind: List` lacks."""
    if data is None or data.get("metadata") is None or data["metadata"].get("labels") is None:
        return []
    labels = data["metadata"]["labels"]
    findings: list[ParsedFinding] = []
    report = data.get("report")
    if report is not None:
        if report.get("vulnerabilities") is not None:
            findings += _trivy_vulnerabilities(labels, report["vulnerabilities"])
        if report.get("checks") is not None:
            findings += _trivy_checks(labels, report["checks"])
        if report.get("secrets") is not None:
            findings += _trivy_secrets(labels, report["secrets"])
    status = data.get("status")
    if status is not None:
        if status.get("detailReport") is not None:
            findings += _trivy_compliance(status["detailReport"])
        if status.get("summaryReport") is not None and int(status.get("summary").get("failCount", 0)) > 0:
            controls = data.get("spec").get("compliance").get("controls")
            findings += _trivy_cluster_compliance(controls, status["summaryReport"])
    return findings


def _identity(labels: Any) -> tuple[str, str, str, str, str]:
    namespace = labels.get("trivy-operator.resource.namespace", "")
    kind = labels.get("trivy-operator.resource.kind", "")
    name = labels.get("trivy-operator.resource.name", "")
    container = labels.get("trivy-operator.container.name", "")
    service = f"{namespace}/{kind}/{name}"
    if container:
        service = f"{service}/{container}"
    return namespace, kind, name, container, service


def _resource_lines(namespace: str, kind: str, name: str, container: str) -> str:
    lines = (("container.name", container), ("resource.kind", kind), ("resource.name", name))
    return "".join(f"\n**{label}:** " + value for label, value in (*lines, ("resource.namespace", namespace)))


def _trivy_vulnerabilities(labels: Any, vulnerabilities: Any) -> list[ParsedFinding]:
    namespace, kind, name, container, service = _identity(labels)
    findings = []
    for vulnerability in vulnerabilities:
        vuln_id = vulnerability.get("vulnerabilityID", "0")
        severity = TRIVY_SEVERITIES[vulnerability.get("severity")]
        mitigation = vulnerability.get("fixedVersion")
        package_name = vulnerability.get("resource")
        package_version = vulnerability.get("installedVersion")
        target_class = vulnerability.get("class") or None
        file_path = None
        if target_class in {"os-pkgs", "lang-pkgs"}:
            file_path = vulnerability.get("packagePath") or vulnerability.get("target") or None
        description = f"{vulnerability.get('title')}\n**Fixed version:** {mitigation}\n"
        description += _resource_lines(namespace, kind, name, container)
        findings.append(_finding(
            f"{vuln_id} {package_name} {package_version}", severity, description,
            references=vulnerability.get("primaryLink"), mitigation=mitigation, component_name=package_name,
            component_version=package_version, static_finding=True, service=service, file_path=file_path,
            vulnerability_ids=[_uniform_vulnid(vuln_id)] if vuln_id else []))  # fmt: skip
    return findings


def _trivy_checks(labels: Any, checks: Any) -> list[ParsedFinding]:
    """Every check becomes a finding: the handler does not look at `success`.

    A missing, null or empty checkID is "0": title "0 - ...", no references, no vulnerability id (checks_handler.py
    lines 26-31 and 63, since 4332b0b8 / PR #14359; before it, `check_id != 0` compared with an int and was
    always true, and a null checkID was an AttributeError).
    """
    namespace, kind, name, container, service = _identity(labels)
    findings = []
    for check in checks:
        severity = TRIVY_SEVERITIES[check.get("severity")]
        check_id = check.get("checkID") or "0"
        references = "https://avd.aquasec.com/misconfig/kubernetes/" + check_id.lower() if check_id != "0" else ""
        description = check.get("description", "") + _resource_lines(namespace, kind, name, container)
        mitigation = check.get("remediation", "") or None
        messages = check.get("messages", [])
        if messages:
            text = "\n".join(messages)
            mitigation = mitigation + "\n\n" + text if mitigation else text
        ids = [_uniform_vulnid(check_id)] if check_id != "0" else []
        findings.append(_finding(
            f"{check_id} - {check.get('title')}", severity, description, mitigation=mitigation, references=references,
            static_finding=True, service=service, vulnerability_ids=ids))  # fmt: skip
    return findings


def _trivy_secrets(labels: Any, secrets: Any) -> list[ParsedFinding]:
    """The ruleID ends the description and is no vulnerability id: secrets_handler.py line 48 (and no
    `unsaved_vulnerability_ids`), since b6f1e724 (PR #11188). A null ruleID is a TypeError there (`"..." + None`)."""
    namespace, kind, name, container, service = _identity(labels)
    findings = []
    for secret in secrets:
        severity = TRIVY_SEVERITIES[secret.get("severity")]
        rule_id = secret.get("ruleID", "0")
        target = secret.get("target", "")
        description = (
            f"{secret.get('title')}\n**Category:** {secret.get('category')}\n**Match:** {secret.get('match', '')}\n"
        )
        description += _resource_lines(namespace, kind, name, container) + "\n**ruleID:** " + rule_id
        findings.append(_finding(
            f"Secret detected in {target} - {secret.get('title')}", severity, description,
            references=secret.get("ruleID", ""), file_path=target, static_finding=True, service=service))  # fmt: skip
    return findings


def _trivy_compliance(report: Any) -> list[ParsedFinding]:
    """Failed checks of `status.detailReport`. The check's severity wins, the result's stands in for an empty one,
    and the checkID is made uniform (compliance_handler.py lines 34 and 56, 4332b0b8 / PR #14359 and b6f1e724)."""
    findings = []
    for result in report.get("results"):
        for check in result.get("checks"):
            description = "**detailReport description:** " + report.get("description") + "\n"
            if check.get("success") is not False:
                continue
            check_severity = check.get("severity", "")
            severity = TRIVY_SEVERITIES[check_severity or result.get("severity", "")]
            messages = "".join(message + "\n" for message in check.get("messages", []))
            check_id = check.get("checkID", "")
            target = check.get("target", "")
            for label, value in (
                ("result description", result.get("description", "")),
                ("result id", result.get("id", "")),
                ("result name", result.get("name", "")),
                ("checkcategory", check.get("category", "")),
                ("checkcheckID", check_id),
                ("checkdescription", check.get("description", "")),
                ("checkmessages", messages),
                ("checktarget", target),
                ("checktitle", check.get("title", "")),
            ):
                description += f"**{label}:** " + value + "\n"
            findings.append(_finding(
                f"{result.get('id', '')} {check_id} {target}", severity, description,
                mitigation=check.get("remediation", ""), dynamic_finding=True,
                vulnerability_ids=[_uniform_vulnid(check_id)] if check_id else []))  # fmt: skip
    return findings


def _trivy_cluster_compliance(controls: Any, summary: Any) -> list[ParsedFinding]:
    """One finding per control of `status.summaryReport.controlCheck` with totalFail > 0."""
    findings = []
    for result in summary.get("controlCheck"):
        if int(result.get("totalFail", 0)) <= 0:
            continue
        description = ""
        result_id = result.get("id", "")
        ids = []
        for control in controls:
            if control.get("id") == result_id:
                ids += [check.get("id") for check in control.get("checks", [])]
                description += "**description:** " + control.get("description") + "\n"
        severity = TRIVY_SEVERITIES[result.get("severity", "")]
        total = str(result.get("totalFail", ""))
        description += "**id:** " + result_id + "\n**name:** " + result.get("name", "") + "\n"
        description += "**totalfail:** " + total + "\n"
        title = "TrivyClusterCompliance " + result_id + " totalFail: " + total
        findings.append(_finding(title, severity, description, dynamic_finding=True, vulnerability_ids=ids))
    return findings


def _uniform_vulnid(vulnid: Any) -> Any:
    """`UniformTrivyVulnID.return_uniformed_vulnid`: KSV001 and AVD-KSV-0001 both become AVD-KSV-0001."""
    if vulnid is None or "cve" in vulnid.lower():
        return vulnid
    pattern = re.compile("([a-zA-Z-_]+)([0-9]+)")
    if "khv" in vulnid.lower():
        number = str(pattern.match(vulnid).groups()[1]).zfill(3)  # type: ignore[union-attr]
        return str(pattern.match(vulnid.lower()).groups()[0]).upper() + number  # type: ignore[union-attr]
    if "ksv" in vulnid.lower() or "kcv" in vulnid.lower():
        number = str(pattern.match(vulnid).groups()[1]).zfill(4)  # type: ignore[union-attr]
        squashed = vulnid.lower().replace("_", "").replace("-", "")
        category = str(pattern.match(squashed).groups()[0].replace("avd", ""))  # type: ignore[union-attr]
        return "AVD-" + category.upper() + "-" + number
    return vulnid


# --- Anchore Grype -------------------------------------------------------------------------------------------------


def _grype(content: bytes) -> list[ParsedFinding]:
    """`AnchoreGrypeParser.get_findings`: one finding per `<id>|<name>|<version>`, repeats merged.

    The key is not the title `<id> in <name>:<version>` (anchore_grype/parser.py line 182, since dcc9a25d /
    PR #14592): a name or version holding ":" can make two titles equal for two findings.
    """
    data = json.loads(content)
    dupes: dict[str, ParsedFinding] = {}
    for item in data.get("matches", []):
        vulnerability = item["vulnerability"]
        vuln_id = vulnerability["id"]
        raw_severity = vulnerability.get("severity", "Info")
        severity = "Info" if raw_severity in {"Unknown", "Negligible"} else raw_severity.title()
        related = item.get("relatedVulnerabilities")
        rel = related[0] if related else {}
        if not _first_cvss3(vulnerability.get("cvss")) and rel.get("cvss"):
            _first_cvss3(rel.get("cvss"))
        ids = [vuln_id] if vuln_id else []
        ids += [entry.get("id") for entry in related or [] if entry.get("id")]
        matches = item["matchDetails"]
        artifact = item["artifact"]
        name, version, purl = artifact.get("name"), artifact.get("version"), artifact.get("purl")
        locations = artifact.get("locations")
        file_path = locations[0].get("path") if locations and locations[0].get("path") else None
        title = f"{vuln_id} in {name}:{version}"
        key = f"{vuln_id}|{name}|{version}"
        description = ""
        if vulnerability.get("namespace"):
            description += f"**Vulnerability Namespace:** {vulnerability.get('namespace')}"
        if vulnerability.get("description"):
            description += f"\n**Vulnerability Description:** {vulnerability.get('description')}"
        if rel.get("description") and rel.get("description") != vulnerability.get("description"):
            description += f"\n**Related Vulnerability Description:** {rel.get('description')}"
        if matches:
            if isinstance(matches, dict):
                description += f"\n**Matcher:** {matches['matcher']}"
            elif len(matches) == 1:
                description += f"\n**Matcher:** {matches[0]['matcher']}"
            else:
                description += "\n**Matchers:**" + "".join(f"\n- {match['matcher']}" for match in matches)
        if purl:
            description += f"\n**Package URL:** {purl}"
        fixes = vulnerability["fix"].get("versions") if "fix" in vulnerability else None
        mitigation = None
        if fixes:
            mitigation = "Upgrade to version:" + (
                f" {fixes[0]}" if len(fixes) == 1 else "".join(f"\n- {v}" for v in fixes)
            )
        if key not in dupes:
            dupes[key] = _finding(
                title.replace("\x00", ""), severity, description.replace("\x00", ""), mitigation=mitigation,
                references=_grype_references(vulnerability, rel), component_name=name,
                component_version=version.replace("\x00", ""), vuln_id_from_tool=vuln_id, static_finding=True,
                file_path=file_path, vulnerability_ids=ids)  # fmt: skip
    return list(dupes.values())


def _first_cvss3(cvss: Any) -> str | None:
    """`get_cvss`: the first CVSS v3 vector; every entry before it must have a `vector` (approximates `cvss`)."""
    for entry in cvss or []:
        if entry["vector"].startswith("CVSS:3"):
            return str(entry["vector"])
    return None


def _grype_references(vulnerability: Any, rel: Any) -> str:
    source, urls = vulnerability.get("dataSource"), vulnerability.get("urls")
    text = f"**Vulnerability Datasource:** {source}\n" if source else ""
    for label, links in (("Vulnerability", urls), ("Related Vulnerability", rel.get("urls"))):
        if links and len(links) == 1:
            text += f"**{label} URL:** {links[0]}\n" if links[0] != source else ""
        elif links:
            text += f"**{label} URLs:**\n" + "".join(f"- {url}\n" for url in links if url != source)
        if label == "Vulnerability" and rel.get("dataSource"):
            text += f"**Related Vulnerability Datasource:** {rel.get('dataSource')}\n"
    return text[:-1] if text.endswith("\n") else text


# --- Kubescape JSON Importer ---------------------------------------------------------------------------------------


def _kubescape(content: bytes) -> list[ParsedFinding]:
    """`KubescapeParser.get_findings`: a finding per non-passed rule of each failed control of each resource."""
    try:
        data = json.loads(content)
    except ValueError:
        data = {}
    findings = []
    for resource in data["resources"]:
        resource_id = resource["resourceID"]
        parts = resource_id.split("/")
        kind, name = (parts[-2], parts[-1]) if len(parts) >= 2 else (None, None)
        results = [each for each in data["results"] if each.get("resourceID") == resource_id]
        for control in results[0].get("controls", []):
            for rule in control["rules"]:
                if rule["status"] == "passed":
                    continue
                if "status" in control and "status" in control["status"] and control["status"]["status"] != "failed":
                    continue
                control_name = control["name"]
                title = f"{control_name} - {kind} {name}" if kind and name and control_name else None
                title = title or f"{control_name} - {resource_id}"
                control_id = control["controlID"]
                summary = data.get("summaryDetails", {}).get("controls", {}).get(control_id)
                severity = "Info" if summary is None else _kubescape_severity(summary.get("scoreFactor", 0))
                mitigation = "" if summary is None else summary.get("mitigation", "")
                description = f"**Summary:** The ressource '{resource_id}' has failed the control '{control_name}'.\n"
                if summary is not None and "description" in summary:
                    description += "**Description:** " + summary["description"] + "\n"
                if summary is not None and "category" in summary and "subCategory" in summary["category"]:
                    category = summary["category"]
                    description += f"**Category:** {category['name']} > {category['subCategory']['name']}\n"
                elif summary is not None and "category" in summary and "name" in summary["category"]:
                    description += "**Category:** " + summary["category"]["name"] + "\n"
                json.dumps(control["rules"])  # steps_to_reproduce; no resource["object"] since 9c035039 (PR #11542)
                findings.append(_finding(
                    textwrap.shorten(title, 150), severity, description, mitigation=mitigation,
                    references=f"https://hub.armosec.io/docs/{control_id.lower()}", component_name=resource_id,
                    static_finding=True, vulnerability_ids=[control_id] if control_id is not None else []))  # fmt: skip
    return findings


def _kubescape_severity(score: Any) -> str | None:
    for limit, severity in ((4, "Low"), (7, "Medium"), (9, "High"), (10, "Critical")):
        if score <= limit:
            return severity
    return None
