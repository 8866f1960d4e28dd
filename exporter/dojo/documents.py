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


def _without_volatile(match: dict[str, Any]) -> dict[str, Any]:
    vulnerability = {k: v for k, v in (match.get("vulnerability") or {}).items() if k not in _VOLATILE}
    related = [
        {k: v for k, v in entry.items() if k not in _VOLATILE} if isinstance(entry, dict) else entry
        for entry in match.get("relatedVulnerabilities") or []
    ]
    return {**match, "vulnerability": vulnerability, "relatedVulnerabilities": related}


_VOLATILE = frozenset({"epss", "risk"})
