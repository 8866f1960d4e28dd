"""One test's document per scan type, from the converters: the only place that knows which converter serves which
scan type, how several Grype documents become one, and what "no findings" looks like to each parser."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from exporter import catalog
from exporter.dojo import convert

TRIVY = catalog.TRIVY_OPERATOR_SCAN.scan_type
GRYPE = catalog.ANCHORE_GRYPE.scan_type
KUBESCAPE = catalog.KUBESCAPE_JSON.scan_type


def document_for(
    scan_type: str, objects: Sequence[Mapping[str, Any]], *, fixed_version_in_references: bool = False
) -> bytes:
    """The bytes one reimport sends for these objects (`fixed_version_in_references`: dojo.trivy_fixed_version)."""
    if scan_type == TRIVY:
        return convert.trivy_operator_document(objects, fixed_version_in_references=fixed_version_in_references)
    if scan_type == GRYPE:
        return merge_grype([document for obj in objects if (document := convert.grype_document(obj)) is not None])
    if scan_type == KUBESCAPE:
        return convert.kubescape_document(objects)
    raise ValueError(f"no converter for scan type {scan_type!r}")


def empty_document(scan_type: str) -> bytes:
    """What each parser reads as a scan with no findings: reimported, it closes the test's open findings."""
    return document_for(scan_type, [])


def merge_grype(documents: Sequence[bytes]) -> bytes:
    """Several images' Grype documents as one: the parser reads `matches`, each carrying its own artifact.

    The first document's descriptor is kept so the result still reads as Grype's output.
    """
    merged: dict[str, Any] = {"matches": []}
    for raw in documents:
        document = orjson.loads(raw)
        if "descriptor" in document and "descriptor" not in merged:
            merged["descriptor"] = document["descriptor"]
        merged["matches"].extend(document.get("matches") or [])
    return orjson.dumps(merged)


def finding_content(scan_type: str, document: bytes) -> bytes:
    """The part of a document DefectDojo turns into findings, for the fingerprint that decides whether a test is
    sent again; the whole document is what is sent.

    Left out: Grype's `descriptor` (the vulnerability database's build time changes daily) and `source`, and its
    EPSS and risk figures, which move daily too; a trivy CR's own name, which carries the ReplicaSet of the day
    while its findings are named after the Deployment. Without this, a Kubescape test would be re-sent whenever
    the vulnerability database updates.
    """
    if scan_type == GRYPE:
        matches = orjson.loads(document).get("matches") or []
        return orjson.dumps([_without_volatile(match) for match in matches], option=orjson.OPT_SORT_KEYS)
    if scan_type == TRIVY:
        reports = orjson.loads(document)
        for report in reports:
            report.get("metadata", {}).pop("name", None)
        return orjson.dumps(reports, option=orjson.OPT_SORT_KEYS)
    return document


def split_findings(scan_type: str, document: bytes) -> list[bytes]:
    """The document as documents of one finding's entry each, in order, for a workload too large for one upload.

    Each keeps what its parser needs beside the entry (a Trivy CR's labels and the rest of its report, a compliance
    report's spec and summary, Grype's descriptor and the match's artifact, Kubescape's resource and its control's
    summary), so each is a document its parser reads as that one finding; `join_documents` puts any of them back
    together. An entry the parser makes nothing of (a passed compliance check) still comes out; the caller asks
    `identities.finding_identities` which ones count.
    """
    data = orjson.loads(document)
    if scan_type == TRIVY:
        return [orjson.dumps([fragment]) for report in data for fragment in _trivy_fragments(report)]
    if scan_type == GRYPE:
        rest = {key: value for key, value in data.items() if key != "matches"}
        return [orjson.dumps({**rest, "matches": [match]}) for match in data.get("matches") or []]
    if scan_type == KUBESCAPE:
        return list(_kubescape_fragments(data))
    raise ValueError(f"no converter for scan type {scan_type!r}")


def join_documents(scan_type: str, documents: Sequence[bytes]) -> bytes:
    """Several documents of one scan type as one: what a part of a split test sends."""
    if scan_type == TRIVY:
        return orjson.dumps(_join_trivy([report for document in documents for report in orjson.loads(document)]))
    if scan_type == GRYPE:
        return merge_grype(documents)
    if scan_type == KUBESCAPE:
        return _join_kubescape([orjson.loads(document) for document in documents])
    raise ValueError(f"no converter for scan type {scan_type!r}")


_TRIVY_ENTRIES = ("vulnerabilities", "checks", "secrets")


def _join_trivy(reports: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trivy CRs as few: parts of one CR (`_trivy_fragments`, the same but for their entries) become one CR again,
    its entries in order, so that a part holding many findings of one workload is as small as that workload's own
    document; the parser reads each entry with its CR's labels either way."""
    joined: dict[bytes, dict[str, Any]] = {}
    for report in reports:
        body = _dict(report.get("report"))
        lists = {field: body[field] for field in _TRIVY_ENTRIES if isinstance(body.get(field), list)}
        rest = {**report, "report": {**body, **{field: [] for field in lists}}}
        same = joined.setdefault(orjson.dumps(rest, option=orjson.OPT_SORT_KEYS), rest)
        for field, entries in lists.items():
            same["report"][field] = [*same["report"][field], *entries]
    return list(joined.values())


def _trivy_fragments(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One CR per entry of `report.vulnerabilities`, `.checks`, `.secrets`, per check of a compliance detail report
    and per control of a summary report; every other list of findings emptied, the other compliance report left out."""
    body = _dict(report.get("report"))
    emptied: dict[str, list[Any]] = {field: [] for field in _TRIVY_ENTRIES if field in body}
    fragments = [
        {**report, "report": {**body, **emptied, field: [entry]}}
        for field in _TRIVY_ENTRIES
        for entry in body.get(field) or []
    ]
    status = _dict(report.get("status"))
    alone = {key: value for key, value in status.items() if key not in ("detailReport", "summaryReport")}
    detail = status.get("detailReport")
    if isinstance(detail, dict):
        for result in detail.get("results") or []:
            for check in result.get("checks") or []:
                one = {**detail, "results": [{**result, "checks": [check]}]}
                fragments.append(_compliance_fragment(report, result, {**alone, "detailReport": one}))
    summary = status.get("summaryReport")
    if isinstance(summary, dict):
        for control in summary.get("controlCheck") or []:
            one = {**summary, "controlCheck": [control]}
            fragments.append(_compliance_fragment(report, control, {**alone, "summaryReport": one}))
    return fragments


def _compliance_fragment(report: dict[str, Any], control: Any, status: dict[str, Any]) -> dict[str, Any]:
    """A compliance CR with one control's check: of the spec's controls only those of its id, which is all the
    parser reads of them (a summary's description and checks); the others would make every part larger."""
    spec = _dict(report.get("spec"))
    compliance = _dict(spec.get("compliance"))
    same = [c for c in compliance.get("controls") or [] if _dict(c).get("id") == _dict(control).get("id")]
    return {**report, "spec": {**spec, "compliance": {**compliance, "controls": same}}, "status": status}


def _kubescape_fragments(data: dict[str, Any]) -> list[bytes]:
    """One report per failed control of each resource, with that resource and the control's summary."""
    summaries = _dict(_dict(data.get("summaryDetails")).get("controls"))
    resources = {resource["resourceID"]: resource for resource in data.get("resources") or []}
    fragments = []
    for result in data.get("results") or []:
        resource_id = result.get("resourceID")
        for control in result.get("controls") or []:
            control_id = control.get("controlID")
            summary = {control_id: summaries[control_id]} if control_id in summaries else {}
            fragments.append(orjson.dumps({
                "summaryDetails": {"controls": summary},
                "resources": [resources[resource_id]] if resource_id in resources else [],
                "results": [{"resourceID": resource_id, "controls": [control]}],
            }))  # fmt: skip
    return fragments


def _join_kubescape(reports: Sequence[dict[str, Any]]) -> bytes:
    """Kubescape reports as one: the parser reads only the first result of each resource, so results of one
    resource are merged into one; resources and control summaries are listed once."""
    summaries: dict[str, Any] = {}
    resources: dict[str, Any] = {}
    results: dict[str, list[Any]] = {}
    for report in reports:
        summaries.update(_dict(_dict(report.get("summaryDetails")).get("controls")))
        for resource in report.get("resources") or []:
            resources.setdefault(resource["resourceID"], resource)
        for result in report.get("results") or []:
            results.setdefault(result["resourceID"], []).extend(result.get("controls") or [])
    return orjson.dumps({
        "summaryDetails": {"controls": summaries},
        "resources": list(resources.values()),
        "results": [{"resourceID": rid, "controls": controls} for rid, controls in results.items()],
    })  # fmt: skip


def _without_volatile(match: dict[str, Any]) -> dict[str, Any]:
    vulnerability = {k: v for k, v in (match.get("vulnerability") or {}).items() if k not in _VOLATILE}
    related = [
        {k: v for k, v in entry.items() if k not in _VOLATILE} if isinstance(entry, dict) else entry
        for entry in match.get("relatedVulnerabilities") or []
    ]
    return {**match, "vulnerability": vulnerability, "relatedVulnerabilities": related}


_VOLATILE = frozenset({"epss", "risk"})


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
