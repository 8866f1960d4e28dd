"""trivy-operator custom resources as the document DefectDojo's "Trivy Operator Scan" parser reads.

The parser (`dojo/tools/trivy_operator/parser.py` and its handlers) reads a JSON array of CRs and, per CR, needs
`metadata.labels` (without them the CR yields nothing, which is also why a `kind: List` yields nothing), takes
`report.vulnerabilities`, `report.checks`, `report.secrets` and, for compliance reports, `status.detailReport` or
`status.summaryReport` with `spec.compliance.controls`. What it does not forgive is fixed here, not upstream:

- a severity outside CRITICAL/HIGH/MEDIUM/LOW/UNKNOWN is a KeyError, an HTTP 500 that loses the whole import;
- the checks handler turns every check into a finding, passed ones included: passed checks are dropped here;
- the compliance handler takes an empty check severity as a key (another KeyError) and concatenates strings that
  may be null; the cluster-compliance handler needs `status.summary.failCount` > 0 to read anything;
- it names ReplicaSets: the identity is rewritten to the owning Deployment in the labels (hence `service` and
  description), in check messages and in compliance targets and messages (hence compliance titles), so a rollout
  with the same packages yields the same findings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from exporter import catalog
from exporter.dojo import TRIVY_KIND_LABEL, TRIVY_NAME_LABEL, rollout_deployment, workload_of

SCAN_TYPE = str(catalog.TRIVY_OPERATOR_SCAN.scan_type)
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")

# Anything else becomes UNKNOWN, which DefectDojo shows as Info: NONE, NEGLIGIBLE (Grype's word, which DefectDojo's
# own Grype parser also maps to Info), INFO, empty or missing. Other tools' words for the middle grades keep their
# grade.
SEVERITY_ALIASES = {"MODERATE": "MEDIUM", "IMPORTANT": "HIGH", "SEVERE": "HIGH"}

_SUMMARY_STRINGS = ("id", "name")
# The entry fields each handler builds a finding's hashed fields (title, severity, ids, description) from.
_HASHED_ENTRY_FIELDS = {
    "vulnerabilities": ("vulnerabilityID", "resource", "installedVersion", "severity", "title", "fixedVersion"),
    "checks": ("checkID", "title", "severity", "description"),
    "secrets": ("target", "title", "severity", "category", "match", "ruleID"),
}
_SUMMARY_FIELDS = ("id", "name", "severity", "totalFail")
_POD_NAME = re.compile(r"(?P<replicaset>.+-[a-z0-9]{8,10})-[a-z0-9]{5}")
_OWNED_KIND = re.compile(r"\b(ReplicaSet|replicaset|Pod|pod)\b")
_CHECK_STRINGS = ("checkID", "title", "description", "remediation", "category")
_COMPLIANCE_CHECK_STRINGS = ("category", "checkID", "description", "remediation", "target", "title")
_COMPLIANCE_RESULT_STRINGS = ("description", "id", "name")


def trivy_severity(value: Any) -> str:
    """One of the five severities the parser knows, for whatever a report holds (case, aliases, nothing)."""
    text = value.strip().upper() if isinstance(value, str) else ""
    if text in SEVERITIES:
        return text
    return SEVERITY_ALIASES.get(text, "UNKNOWN")


def trivy_operator_document(
    objects: Iterable[Mapping[str, Any]], *, fixed_version_in_references: bool = False
) -> bytes:
    """A JSON array of the CRs, each reduced to what the parser reads and made safe for it; never a List.

    Items of a `kind: List` given as one object are taken one by one. Raises ValueError for an object that is not
    imported as a Trivy Operator Scan (an SBOM, a kubescape object), since sending it would silently import nothing.
    `fixed_version_in_references`: see `move_fixed_version`.
    """
    reports = distinct_findings([convert_report(obj) for obj in _flatten(objects)])
    return orjson.dumps([move_fixed_version(report) for report in reports] if fixed_version_in_references else reports)


def move_fixed_version(report: dict[str, Any]) -> dict[str, Any]:
    """A vulnerability's fixed version moved from where the parser hashes it to where it does not.

    The parser writes `fixedVersion` into the finding's description, which is part of its hash_code: when a fix is
    published upstream, the finding is closed and a new one opened, and its triage is lost. Moved into
    `primaryLink`, it reaches the finding's references, which do not count; the description then says no fixed
    version and DefectDojo's `fix_available` is false, which is the price (`dojo.trivy_fixed_version`).
    """
    for vulnerability in (report.get("report") or {}).get("vulnerabilities") or []:
        fixed = _text(vulnerability.get("fixedVersion"))
        if fixed:
            link = _text(vulnerability.get("primaryLink"))
            vulnerability["primaryLink"] = (
                f"{link}\n\n**Fixed version:** {fixed}" if link else f"**Fixed version:** {fixed}"
            )
            vulnerability["fixedVersion"] = ""
    return report


def distinct_findings(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The converted CRs with every entry that would repeat another finding's hash_code left out.

    DefectDojo's reimport matches incoming findings to a test's findings by hash_code (for this scan type: title,
    severity, vulnerability ids and description, `HASHCODE_FIELDS_PER_SCANNER`); two findings of one test with one
    hash_code collapse into one at the next reimport and the other is closed although nothing changed (DefectDojo
    issue #9290). The parser builds those fields from the entry and its CR's `trivy-operator.*` labels, so two
    entries equal in all of them are one finding twice: the same package version found at two paths of one
    container, the same compliance check listed twice for one target. A summary control's finding takes its
    description and vulnerability ids from the spec as well (`_spec_key`). The first is kept.
    """
    seen: set[tuple[Any, ...]] = set()

    def first(key: tuple[Any, ...]) -> bool:
        if key in seen:
            return False
        seen.add(key)
        return True

    for report in reports:
        identity = tuple(sorted(report["metadata"].get("labels", {}).items()))
        body = report.get("report")
        if isinstance(body, dict):
            for field, fields in _HASHED_ENTRY_FIELDS.items():
                if field in body:
                    body[field] = [e for e in body[field] if first((field, identity, *(_key(e, k) for k in fields)))]
        detail = report.get("status", {}).get("detailReport")
        if isinstance(detail, dict):
            for result in detail["results"]:
                head = tuple(_key(result, k) for k in ("id", "name", "description", "severity"))
                head += (detail["description"],)
                result["checks"] = [c for c in result["checks"] if first(("detail", *head, *_compliance_key(c)))]
        summary = report.get("status", {}).get("summaryReport")
        if isinstance(summary, dict):
            controls = report.get("spec", {}).get("compliance", {}).get("controls", [])
            summary["controlCheck"] = [
                c
                for c in summary["controlCheck"]
                if first(("summary", *(_key(c, k) for k in _SUMMARY_FIELDS), _spec_key(controls, c.get("id"))))
            ]
    return reports


def _spec_key(controls: list[dict[str, Any]], control_id: Any) -> str:
    """What a summary control's finding takes from the spec: the description and check ids of each spec control of
    its id (the parser hashes both), so that two compliance reports' controls equal in the summary alone stay two."""
    matching = [
        (c.get("description"), [check.get("id") for check in c["checks"]])
        for c in controls
        if c.get("id") == control_id
    ]
    return orjson.dumps(matching).decode()


def convert_report(obj: Mapping[str, Any]) -> dict[str, Any]:
    """One CR as the parser should see it: labels (on the owning Deployment), report or compliance status."""
    kind = _catalog_kind(obj)
    metadata = _mapping(obj.get("metadata"))
    labels = {str(key): _text(value) for key, value in _mapping(metadata.get("labels")).items()}
    rename = _rollout_labels(obj, labels)
    out_meta: dict[str, Any] = {"name": _text(metadata.get("name"))}
    if metadata.get("namespace"):
        out_meta["namespace"] = _text(metadata.get("namespace"))
    out_meta["labels"] = labels
    converted: dict[str, Any] = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": out_meta}
    if kind.kind == "ClusterComplianceReport":
        converted.update(_compliance(obj))
    elif isinstance(obj.get("report"), Mapping):
        converted["report"] = _report(obj["report"], rename)
    return converted


def _catalog_kind(obj: Mapping[str, Any]) -> catalog.ReportKind:
    group = str(obj.get("apiVersion") or "").split("/", 1)[0]
    kind = catalog.by_group_kind(group, str(obj.get("kind") or ""))
    if kind is None or kind.dojo.scan_type != SCAN_TYPE:
        raise ValueError(f"{obj.get('apiVersion')}/{obj.get('kind')} is not imported as a {SCAN_TYPE}")
    return kind


def _flatten(objects: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for obj in objects:
        items = obj.get("items")
        if str(obj.get("kind") or "").endswith("List") and isinstance(items, list):
            yield from (item for item in items if isinstance(item, Mapping))
        else:
            yield obj


def _rollout_labels(obj: Mapping[str, Any], labels: dict[str, str]) -> tuple[str, str] | None:
    """Point the labels at the owning Deployment; the (ReplicaSet, Deployment) names when they were rewritten."""
    if labels.get(TRIVY_KIND_LABEL) != "ReplicaSet":
        return None
    workload = workload_of(obj)
    if workload.kind != "Deployment":
        return None
    replicaset = labels.get(TRIVY_NAME_LABEL, "")
    labels[TRIVY_KIND_LABEL] = workload.kind
    labels[TRIVY_NAME_LABEL] = workload.name
    return replicaset, workload.name


def _report(report: Mapping[str, Any], rename: tuple[str, str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    vulnerabilities = report.get("vulnerabilities")
    if isinstance(vulnerabilities, list):
        out["vulnerabilities"] = [
            {**entry, "severity": trivy_severity(entry.get("severity"))}
            for entry in vulnerabilities
            if isinstance(entry, Mapping)
        ]
    checks = report.get("checks")
    if isinstance(checks, list):
        out["checks"] = [
            _check(entry, rename) for entry in checks if isinstance(entry, Mapping) and entry.get("success") is not True
        ]
    secrets = report.get("secrets")
    if isinstance(secrets, list):
        out["secrets"] = [_secret(entry) for entry in secrets if isinstance(entry, Mapping)]
    return out


def _check(check: Mapping[str, Any], rename: tuple[str, str] | None) -> dict[str, Any]:
    """A failed check: the handler concatenates its strings and lower-cases its ID, so none may be null."""
    out = _with_strings(check, _CHECK_STRINGS)
    for key in ("title", "description"):
        if key in out:
            out[key] = _rollout_text(out[key], rename)
    out["severity"] = trivy_severity(check.get("severity"))
    out["success"] = False
    out["messages"] = [_rollout_text(_text(message), rename) for message in _list(check.get("messages"))]
    return out


def _secret(secret: Mapping[str, Any]) -> dict[str, Any]:
    out = _with_strings(secret, ("category", "match", "target", "title", "ruleID"))
    out["severity"] = trivy_severity(secret.get("severity"))
    return out


def _compliance(obj: Mapping[str, Any]) -> dict[str, Any]:
    """`spec.compliance` and `status` made safe for both compliance handlers; passed checks dropped."""
    spec = _mapping(obj.get("spec"))
    compliance = _mapping(spec.get("compliance"))
    controls = [_compliance_control(control) for control in _list(compliance.get("controls")) if _is_map(control)]
    status = _mapping(obj.get("status"))
    out_status: dict[str, Any] = {}
    detail = status.get("detailReport")
    if isinstance(detail, Mapping):
        out_status["detailReport"] = _detail_report(detail)
    summary_report = status.get("summaryReport")
    if isinstance(summary_report, Mapping):
        checks = [_control_check(entry) for entry in _list(summary_report.get("controlCheck")) if _is_map(entry)]
        out_status["summaryReport"] = {**summary_report, "controlCheck": checks}
        summary = dict(_mapping(status.get("summary")))
        failing = sum(1 for entry in checks if entry["totalFail"] > 0)
        summary["failCount"] = max(_int(summary.get("failCount")), failing)
        out_status["summary"] = summary
    return {"spec": {**spec, "compliance": {**compliance, "controls": controls}}, "status": out_status}


def _compliance_control(control: Mapping[str, Any]) -> dict[str, Any]:
    out = _with_strings(control, ("id", "name"), always=("description",))
    out["checks"] = [check for check in _list(control.get("checks")) if _is_map(check)]
    if "severity" in control:
        out["severity"] = trivy_severity(control.get("severity"))
    return out


def _control_check(entry: Mapping[str, Any]) -> dict[str, Any]:
    out = _with_strings(entry, _SUMMARY_STRINGS)
    out["severity"] = trivy_severity(entry.get("severity"))
    out["totalFail"] = _int(entry.get("totalFail"))
    return out


def _detail_report(detail: Mapping[str, Any]) -> dict[str, Any]:
    results = []
    for result in _list(detail.get("results")):
        if not _is_map(result):
            continue
        out = _with_strings(result, _COMPLIANCE_RESULT_STRINGS)
        out["severity"] = trivy_severity(result.get("severity"))
        out["checks"] = [
            _compliance_check(check, out["severity"])
            for check in _list(result.get("checks"))
            if _is_map(check) and check.get("success") is not True
        ]
        results.append(out)
    return {**detail, "description": _text(detail.get("description")), "results": results}


def _compliance_check(check: Mapping[str, Any], result_severity: str) -> dict[str, Any]:
    """A failed compliance check; its severity is never empty (the handler would look "" up and fail)."""
    out = _with_strings(check, _COMPLIANCE_CHECK_STRINGS)
    out["severity"] = trivy_severity(check.get("severity")) if check.get("severity") else result_severity
    out["success"] = False
    rename = None
    if "target" in out:
        out["target"], rename = _rollout_target(out["target"])
    for key in ("description", "title", "remediation"):
        if key in out:
            out[key] = _rollout_text(out[key], rename)
    out["messages"] = [_rollout_text(_text(message), rename) for message in _list(check.get("messages"))]
    return out


def _key(entry: Mapping[str, Any], field: str) -> str:
    return orjson.dumps(entry.get(field)).decode()


def _compliance_key(check: Mapping[str, Any]) -> tuple[str, ...]:
    fields = ("category", "checkID", "description", "messages", "target", "title", "severity")
    return tuple(_key(check, field) for field in fields)


def _rollout_target(target: str) -> tuple[str, tuple[str, str] | None]:
    """`shop/ReplicaSet/nginx-6d4cf56db6` (or its Pod `nginx-6d4cf56db6-x2k9p`) as `shop/Deployment/nginx`, and the
    name it replaced: a Pod's name changes with every restart, its ReplicaSet's with every rollout."""
    parts = target.split("/")
    if len(parts) >= 2 and parts[-2] in ("ReplicaSet", "Pod"):
        name = parts[-1]
        replicaset = name if parts[-2] == "ReplicaSet" else _pod_replicaset(name)
        deployment = rollout_deployment(replicaset) if replicaset else None
        if deployment:
            return "/".join([*parts[:-2], "Deployment", deployment]), (name, deployment)
    return target, None


def _pod_replicaset(pod: str) -> str:
    """The ReplicaSet a Pod's generated name comes from (`<replicaset>-<5 characters>`), or ""."""
    match = _POD_NAME.fullmatch(pod)
    return match.group("replicaset") if match else ""


def _rollout_text(text: str, rename: tuple[str, str] | None) -> str:
    """A message about a ReplicaSet or Pod told of its Deployment: `ReplicaSet 'nginx-6d4cf56db6'` →
    `Deployment 'nginx'`."""
    if rename is None or not rename[0] or rename[0] not in text:
        return text
    text = text.replace(rename[0], rename[1])
    return _OWNED_KIND.sub(lambda found: "deployment" if found.group(0).islower() else "Deployment", text)


def _with_strings(entry: Mapping[str, Any], keys: Iterable[str], *, always: Iterable[str] = ()) -> dict[str, Any]:
    """A copy whose `keys` are strings where present and `always` strings in any case (null → "").

    Keys left absent keep the parser's own defaults (a missing checkID is "0" to it, not "").
    """
    out = dict(entry)
    for key in keys:
        if key in entry:
            out[key] = _text(entry[key])
    for key in always:
        out[key] = _text(entry.get(key))
    return out


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_map(value: Any) -> bool:
    return isinstance(value, Mapping)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
