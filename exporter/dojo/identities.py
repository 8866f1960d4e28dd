"""The findings DefectDojo will make of a document, one identity per hash_code, known without asking DefectDojo.

Why: a reimport with `close_old_findings` closes every finding of the test its document no longer holds. To know
how many that is before sending (the mass-close valve), the sync compares the identities of the last document
DefectDojo accepted for a test with those of the new one.

DefectDojo matches a reimported finding to the test's existing ones by hash_code (the deduplication algorithm of
all three scan types), computed by `Finding.compute_hash_code` from the scan type's `HASHCODE_FIELDS_PER_SCANNER`
plus `service`, case-folded. The exporter sends one service per test, so within a test the hash_code is decided
by the scanner fields, and each parser composes those from a few input fields of the document. An identity is
those input fields, joined and case-folded as the hash is; a finding's other fields (links, remediation,
messages) do not enter it, as they do not enter the hash. Stored as a short digest to keep the state small.

Per scan type (fields of the hash, then the inputs that make them):
- Trivy Operator Scan: title, severity, vulnerability_ids, description. Vulnerabilities: vulnerabilityID,
  resource, installedVersion, severity, title, fixedVersion and the CR's resource labels; checks: checkID, title,
  severity, description and the labels; secrets: target, title, ruleID, category, match, severity and the labels;
  compliance: `status.detailReport` failed checks and `status.summaryReport` controls that failed.
- Anchore Grype: title (`<id> in <name>:<version>`), severity, component name and version; matches of the same
  vulnerability, package and version are one finding (the parser keeps the first).
- Kubescape JSON Importer: title (`<control> - <kind> <name>`, shortened to 150) and component name (the
  resource id), per non-passed rule of each failed control.
"""

from __future__ import annotations

import hashlib
import textwrap
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from exporter import catalog

DIGEST_CHARS = 16
"""Hex characters kept of each identity's SHA-256: 64 bits, no collision in any test a cluster can hold."""

_SEPARATOR = "\x1f"
_TRIVY_PLURALS = tuple(
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
)


def finding_identities(scan_type: str, document: bytes) -> frozenset[str]:
    """The short digests of the findings DefectDojo makes of `document`: one per distinct hash_code.

    Raises ValueError for a scan type without a parser here or a document that is not JSON.
    """
    readers: dict[str, Callable[[Any], Iterator[tuple[Any, ...]]]] = {
        str(catalog.TRIVY_OPERATOR_SCAN.scan_type): _trivy_operator,
        str(catalog.ANCHORE_GRYPE.scan_type): _grype,
        str(catalog.KUBESCAPE_JSON.scan_type): _kubescape,
    }
    if scan_type not in readers:
        raise ValueError(f"no finding identities for scan type {scan_type!r}")
    data = orjson.loads(document)
    return frozenset(_digest(fields) for fields in readers[scan_type](data))


def _digest(fields: tuple[Any, ...]) -> str:
    """The hash's own normalisation: every field as text (None is "None"), case-folded."""
    identity = _SEPARATOR.join(str(field) for field in fields).casefold()
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:DIGEST_CHARS]


# --- Trivy Operator Scan ---------------------------------------------------------------------------------------


def _trivy_operator(data: Any) -> Iterator[tuple[Any, ...]]:
    """A JSON array of CRs, a dict keyed by CRD plural, or one CR: the parser's three shapes."""
    if isinstance(data, list):
        crs: list[Any] = data
    elif isinstance(data, Mapping) and any(plural in data for plural in _TRIVY_PLURALS):
        crs = [cr for plural in _TRIVY_PLURALS for cr in _list(data.get(plural))]
    else:
        crs = [data]
    for cr in crs:
        yield from _trivy_cr(cr)


def _trivy_cr(cr: Any) -> Iterator[tuple[Any, ...]]:
    """A CR without `metadata.labels` yields nothing to the parser; each part of it is read by its own handler."""
    metadata = cr.get("metadata") if isinstance(cr, Mapping) else None
    if not isinstance(metadata, Mapping) or metadata.get("labels") is None:
        return
    resource = _resource(metadata["labels"])
    report = _mapping(cr.get("report"))
    for vulnerability in _maps(report.get("vulnerabilities")):
        yield ("vulnerability", vulnerability.get("vulnerabilityID", "0"), vulnerability.get("resource"),
               vulnerability.get("installedVersion"), vulnerability.get("severity"), vulnerability.get("title"),
               vulnerability.get("fixedVersion"), *resource)  # fmt: skip
    for check in _maps(report.get("checks")):
        yield ("check", check.get("checkID") or "0", check.get("title"), check.get("severity"),
               check.get("description", ""), *resource)  # fmt: skip
    for secret in _maps(report.get("secrets")):
        yield ("secret", secret.get("target", ""), secret.get("title"), secret.get("ruleID", "0"),
               secret.get("category"), secret.get("match", ""), secret.get("severity"), *resource)  # fmt: skip
    status = _mapping(cr.get("status"))
    yield from _detail_report(_mapping(status.get("detailReport")))
    yield from _summary_report(cr, status)


def _resource(labels: Any) -> tuple[Any, ...]:
    """The workload the parser writes into every description (`**resource.kind:** ...`)."""
    labels = _mapping(labels)
    return tuple(
        labels.get(f"trivy-operator.{name}", "")
        for name in ("resource.namespace", "resource.kind", "resource.name", "container.name")
    )


def _detail_report(report: Mapping[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Failed checks of a compliance report; the check's severity, or the result's for an empty one."""
    for result in _maps(report.get("results")):
        for check in _maps(result.get("checks")):
            if check.get("success") is not False:
                continue
            messages = "".join(f"{message}\n" for message in _list(check.get("messages")))
            severity = check.get("severity", "") or result.get("severity", "")
            yield ("compliance", report.get("description"), result.get("id", ""), result.get("name", ""),
                   result.get("description", ""), severity, check.get("checkID", ""),
                   check.get("target", ""), check.get("title", ""), check.get("category", ""),
                   check.get("description", ""), messages)  # fmt: skip


def _summary_report(cr: Mapping[str, Any], status: Mapping[str, Any]) -> Iterator[tuple[Any, ...]]:
    """Failing controls of a cluster compliance report, read only when `status.summary.failCount` > 0."""
    summary = status.get("summaryReport")
    if not isinstance(summary, Mapping) or _int(_mapping(status.get("summary")).get("failCount", 0)) <= 0:
        return
    controls = _maps(_mapping(_mapping(cr.get("spec")).get("compliance")).get("controls"))
    for entry in _maps(summary.get("controlCheck")):
        if _int(entry.get("totalFail", 0)) <= 0:
            continue
        matching = [control for control in controls if control.get("id") == entry.get("id", "")]
        checks = sorted({str(check.get("id")) for control in matching for check in _maps(control.get("checks"))})
        descriptions = tuple(control.get("description") for control in matching)
        yield ("control", entry.get("id", ""), entry.get("name", ""), entry.get("totalFail", ""),
               entry.get("severity", ""), "".join(checks), *descriptions)  # fmt: skip


# --- Anchore Grype ---------------------------------------------------------------------------------------------


def _grype(data: Any) -> Iterator[tuple[Any, ...]]:
    """One finding per vulnerability, package and version: a repeat (the same package in two images) is the first
    match's, severity included."""
    seen: set[str] = set()
    for match in _maps(_mapping(data).get("matches")):
        vulnerability = _mapping(match.get("vulnerability"))
        artifact = _mapping(match.get("artifact"))
        name, version = artifact.get("name"), artifact.get("version")
        title = f"{vulnerability.get('id')} in {name}:{version}"
        repeat = f"{vulnerability.get('id')}|{name}|{version}"
        if repeat in seen:
            continue
        seen.add(repeat)
        raw = vulnerability.get("severity", "Info")
        severity = "Info" if raw in ("Unknown", "Negligible") else str(raw).title()
        yield title.replace("\x00", ""), severity, name, str(version).replace("\x00", "")


# --- Kubescape JSON Importer -----------------------------------------------------------------------------------


def _kubescape(data: Any) -> Iterator[tuple[Any, ...]]:
    """Per resource, the failed controls of its first result, one finding per non-passed rule (one title)."""
    data = _mapping(data)
    results = _maps(data.get("results"))
    for resource in _maps(data.get("resources")):
        resource_id = resource.get("resourceID")
        found = [result for result in results if result.get("resourceID") == resource_id]
        for control in _maps(found[0].get("controls")) if found else []:
            if _control_passed(control) or all(rule.get("status") == "passed" for rule in _maps(control.get("rules"))):
                continue
            yield _kubescape_title(control.get("name"), str(resource_id)), resource_id


def _control_passed(control: Mapping[str, Any]) -> bool:
    status = control.get("status")
    return isinstance(status, Mapping) and "status" in status and status["status"] != "failed"


def _kubescape_title(control_name: Any, resource_id: str) -> str:
    parts = resource_id.split("/")
    kind, name = (parts[-2], parts[-1]) if len(parts) >= 2 else (None, None)
    title = f"{control_name} - {kind} {name}" if kind and name and control_name else None
    return textwrap.shorten(title or f"{control_name} - {resource_id}", 150)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _maps(value: Any) -> list[Mapping[str, Any]]:
    return [entry for entry in _list(value) if isinstance(entry, Mapping)]


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
