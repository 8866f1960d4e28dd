"""kubescape WorkloadConfigurationScans as the report DefectDojo's "Kubescape JSON Importer" reads.

`dojo/tools/kubescape/parser.py` reads the kubescape CLI's `--format json` report, not the operator's CRs:
`resources[]` (resourceID, object), `results[]` (resourceID, controls[] with controlID, name, status.status,
rules[] whose `status` is a string) and `summaryDetails.controls[controlID]` (scoreFactor, mitigation,
description, category). Fed a CR, it would compare the rule's status object with "passed", never equal, and
report passed rules of failed controls. Its quirks this conversion answers:

- one finding per non-passed rule of a failed control, all with one title: a failed control's non-passed rules
  are folded into one rule, so one failed control is one finding (the rules stay in the folded rule's `rules`);
- a failed control with no non-passed rule would yield nothing: it gets one failed rule named after it;
- severity comes from scoreFactor (≤4 Low, ≤7 Medium, ≤9 High, ≤10 Critical, above that None and an HTTP 500),
  which disagrees with kubescape's own grades (its High 7.0 would be Medium): the scoreFactor sent is the middle
  of DefectDojo's band for kubescape's grade (Critical 10, High 8, Medium 5, Low 1), else the CR's clamped to 0-10;
- `results[0]` of every resource is read: each resource has exactly one result, merged by resourceID;
- the title names kind and name only (`<control> - Deployment nginx`); the namespace is in `resourceID`
  (`apps/v1/<namespace>/Deployment/nginx`, kubescape's own format), which is the finding's `component_name` and
  part of its hash_code, so equal workload names in two namespaces stay two findings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from exporter import catalog
from exporter.dojo import KUBESCAPE_PREFIX, Workload, workload_of

SCAN_TYPE = str(catalog.KUBESCAPE_JSON.scan_type)
SCORE_OF_GRADE = {"critical": 10.0, "high": 8.0, "medium": 5.0, "low": 1.0}
GROUP_LABEL = KUBESCAPE_PREFIX + "workload-api-group"
VERSION_LABEL = KUBESCAPE_PREFIX + "workload-api-version"
_GROUPS = {"Deployment": "apps", "ReplicaSet": "apps", "StatefulSet": "apps", "DaemonSet": "apps"}
_GROUPS |= {"CronJob": "batch", "Job": "batch"}


def kubescape_document(scans: Iterable[Mapping[str, Any]]) -> bytes:
    """The CLI-shaped report of the scans' failed controls (an empty report for no scans: no findings)."""
    summary: dict[str, dict[str, Any]] = {}
    resources: dict[str, dict[str, Any]] = {}
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for scan in scans:
        workload, group, version = _identity(scan)
        resource_id = kubescape_resource_id(workload, group, version)
        failed = [control for control in _controls(scan) if _status(control.get("status")) == "failed"]
        if not failed:
            continue
        api_version = f"{group}/{version}" if group else version
        resources.setdefault(resource_id, {"resourceID": resource_id, "object": _object(workload, api_version)})
        controls = results.setdefault(resource_id, {})
        for control in failed:
            control_id = _text(control.get("controlID"))
            controls.setdefault(control_id, _result_control(control_id, control))
            summary.setdefault(control_id, _summary(control_id, control))
    document = {
        "summaryDetails": {"controls": summary},
        "resources": list(resources.values()),
        "results": [{"resourceID": rid, "controls": list(controls.values())} for rid, controls in results.items()],
    }
    return orjson.dumps(document)


def kubescape_resource_id(workload: Workload, group: str, version: str) -> str:
    """kubescape's resourceID, `<group>/<version>/<namespace>/<kind>/<name>` (group empty for the core API)."""
    return f"{group}/{version}/{workload.namespace}/{workload.kind}/{workload.name}"


def control_score(control: Mapping[str, Any]) -> float:
    """The scoreFactor to send: DefectDojo's band for kubescape's grade, else the CR's value within 0-10."""
    severity = control.get("severity")
    grade = severity.get("severity") if isinstance(severity, Mapping) else severity
    if isinstance(grade, str) and grade.strip().lower() in SCORE_OF_GRADE:
        return SCORE_OF_GRADE[grade.strip().lower()]
    raw = severity.get("scoreFactor") if isinstance(severity, Mapping) else control.get("scoreFactor")
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return 0.0
    try:
        score = float(raw)
    except ValueError:
        return 0.0
    return 0.0 if math.isnan(score) else min(max(score, 0.0), 10.0)


def _identity(scan: Mapping[str, Any]) -> tuple[Workload, str, str]:
    """The scanned workload (a ReplicaSet read as its Deployment) and its API group and version."""
    workload = workload_of(scan)
    metadata = scan.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    labels = labels if isinstance(labels, Mapping) else {}
    group = _text(labels.get(GROUP_LABEL)) if GROUP_LABEL in labels else _GROUPS.get(workload.kind, "")
    version = _text(labels.get(VERSION_LABEL)) or "v1"
    if workload.kind == "Deployment":
        group = "apps"
    return workload, group, version


def _controls(scan: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """`spec.controls`, a map by control ID in the CR (a list in older objects), each knowing its ID."""
    spec = scan.get("spec")
    controls = spec.get("controls") if isinstance(spec, Mapping) else None
    if isinstance(controls, Mapping):
        pairs = [(str(key), value) for key, value in controls.items()]
    elif isinstance(controls, list):  # an ID-less control keeps its own finding, by its name or its place
        pairs = [(_listed_id(value, index), value) for index, value in enumerate(controls, start=1)]
    else:
        return []
    return [
        {**value, "controlID": _text(value.get("controlID")) or key}
        for key, value in pairs
        if isinstance(value, Mapping)
    ]


def _listed_id(control: Any, index: int) -> str:
    """The ID a listed control without one goes by: its name, else its place; two share no finding."""
    name = _text(control.get("name")) if isinstance(control, Mapping) else ""
    return name or f"control-{index}"


def _status(status: Any) -> str:
    """A status as the CLI writes it (a string), from the CR's `{"status": ...}` object or a string."""
    value = status.get("status") if isinstance(status, Mapping) else status
    return value.strip().lower() if isinstance(value, str) else ""


def _result_control(control_id: str, control: Mapping[str, Any]) -> dict[str, Any]:
    failing: list[dict[str, Any]] = []
    passed: list[dict[str, Any]] = []
    for rule in _list(control.get("rules")):
        if not isinstance(rule, Mapping):
            continue
        status = _status(rule.get("status"))
        entry = {**rule, "name": _text(rule.get("name")), "status": status or "failed"}
        (passed if status == "passed" else failing).append(entry)
    name = _text(control.get("name")) or control_id
    folded: dict[str, Any] = {
        "name": ", ".join(rule["name"] for rule in failing) or name,
        "status": "failed",
        "paths": [path for rule in failing for path in _list(rule.get("paths")) if isinstance(path, Mapping)],
    }
    if failing:
        folded["rules"] = failing
    return {
        "controlID": control_id,
        "name": name,
        "status": {"status": "failed"},
        "rules": [folded, *passed],
    }


def _summary(control_id: str, control: Mapping[str, Any]) -> dict[str, Any]:
    """The control's `summaryDetails` entry; description, mitigation and category only where they are strings."""
    summary: dict[str, Any] = {
        "controlID": control_id,
        "name": _text(control.get("name")) or control_id,
        "scoreFactor": control_score(control),
    }
    if isinstance(control.get("description"), str):
        summary["description"] = control["description"]
    mitigation = control.get("mitigation", control.get("remediation"))
    if isinstance(mitigation, str):
        summary["mitigation"] = mitigation
    category = control.get("category")
    if isinstance(category, Mapping) and isinstance(category.get("name"), str):
        summary["category"] = {"name": category["name"]}
        sub = category.get("subCategory")
        if isinstance(sub, Mapping) and isinstance(sub.get("name"), str):
            summary["category"]["subCategory"] = {"name": sub["name"]}
    return summary


def _object(workload: Workload, api_version: str) -> dict[str, Any]:
    """What the CLI puts in `object` (the scanned manifest); the CR does not carry it, so its identity only."""
    metadata: dict[str, Any] = {"name": workload.name}
    if workload.namespace:
        metadata["namespace"] = workload.namespace
    return {"apiVersion": api_version, "kind": workload.kind, "metadata": metadata}


def _list(value: Any) -> list[Any]:
    """A list field as a list; anything else (a number, a string, an object) holds no entries."""
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))
