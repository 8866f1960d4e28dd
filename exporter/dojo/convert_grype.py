"""kubescape VulnerabilityManifests as the document DefectDojo's "Anchore Grype" parser reads.

A manifest's `spec.payload` is Grype's own `-o json` output, which is what `dojo/tools/anchore_grype/parser.py`
reads: `matches[]`, each with `vulnerability` (id, severity, urls, fix.versions, cvss, epss), `relatedVulnerabilities`,
`matchDetails` and `artifact` (name, version, purl, locations). The parser indexes several of these without a
default (`item["vulnerability"]["id"]`, `item["matchDetails"]`, `item["artifact"]`, `cvss[i]["vector"]`) and calls
`artifact["version"].replace(...)`, so a payload missing any of them is an HTTP 500 for the whole import; such
gaps are filled here. The parser merges matches by `id|name|version`, so one document per image keeps the same
package of two images two findings (exporter/dojo/spool.py); each match's description names its image and the
workloads running it. Its severity is `value.title()` with Unknown and Negligible as Info, and DefectDojo's importer
then rejects anything but Critical/High/Medium/Low/Info (400): severities are normalised to Grype's six words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from exporter import catalog
from exporter.dojo import WORKLOADS_ANNOTATION, Workload, workload_of

SCAN_TYPE = str(catalog.ANCHORE_GRYPE.scan_type)
SEVERITIES = ("Critical", "High", "Medium", "Low", "Negligible", "Unknown")

# Other words for Grype's grades keep their grade; NONE, INFO, empty, missing and anything unknown become Unknown,
# which DefectDojo shows as Info.
SEVERITY_ALIASES = {"moderate": "Medium", "important": "High", "severe": "High"}

MAX_DOCUMENT_BYTES = 100 * 1024 * 1024
"""DefectDojo's default upload limit (`DD_SCAN_FILE_MAX_SIZE`, 100 MB); a larger document is refused whole."""


def grype_severity(value: Any) -> str:
    """One of Grype's six severities, for whatever a match holds (case, aliases, nothing)."""
    text = value.strip().lower() if isinstance(value, str) else ""
    for severity in SEVERITIES:
        if severity.lower() == text:
            return severity
    return SEVERITY_ALIASES.get(text, "Unknown")


def grype_document(manifest: Mapping[str, Any], *, max_bytes: int = MAX_DOCUMENT_BYTES) -> bytes | None:
    """The manifest's Grype payload, safe for the parser; None when it holds no match or exceeds `max_bytes`.

    None rather than an empty document because a manifest without payload is most often one whose payload the
    storage list left out: importing it as "no findings" would close open findings that are still there.
    """
    spec = manifest.get("spec")
    payload = spec.get("payload") if isinstance(spec, Mapping) else None
    if not isinstance(payload, Mapping):
        return None
    matches = [_match(item) for item in _list(payload.get("matches")) if isinstance(item, Mapping)]
    if not matches:
        return None
    if where := _where_it_runs(manifest):
        for match in matches:
            text = _text(match["vulnerability"].get("description"))
            match["vulnerability"]["description"] = f"{text}\n\n{where}" if text else where
    document = orjson.dumps({**payload, "matches": matches})
    return document if len(document) <= max_bytes else None


def _where_it_runs(manifest: Mapping[str, Any]) -> str:
    """`**Image:** … **Workloads:** …` for a manifest the planner placed in one namespace's image test: the finding's
    description names what to fix, where (the description does not count for the finding's hash_code)."""
    annotations = _mapping(_mapping(manifest.get("metadata")).get("annotations"))
    workloads = annotations.get(WORKLOADS_ANNOTATION)
    if not isinstance(workloads, str):
        return ""
    return f"**Image:** {workload_of(manifest).name}\n**Workloads:** {workloads or '-'}"


def image_manifest_workloads(summaries: Iterable[Mapping[str, Any]]) -> dict[str, tuple[Workload, ...]]:
    """Image-level manifest name → the workloads running it, from VulnerabilityManifestSummaries.

    An image-level VulnerabilityManifest has no workload labels; each workload's summary names the manifest it
    was scanned into in `spec.vulnerabilitiesRef.all.name` (and `.relevant.name` when filtered by relevancy).
    """
    found: dict[str, list[Workload]] = {}
    for summary in summaries:
        spec = summary.get("spec")
        refs = spec.get("vulnerabilitiesRef") if isinstance(spec, Mapping) else None
        if not isinstance(refs, Mapping):
            continue
        workload = workload_of(summary)
        for key in ("all", "relevant"):
            ref = refs.get(key)
            name = ref.get("name") if isinstance(ref, Mapping) else None
            if isinstance(name, str) and name and workload not in found.setdefault(name, []):
                found[name].append(workload)
    return {name: tuple(workloads) for name, workloads in found.items()}


def _match(item: Mapping[str, Any]) -> dict[str, Any]:
    vulnerability = dict(_mapping(item.get("vulnerability")))
    vulnerability["id"] = _text(vulnerability.get("id"))
    vulnerability["severity"] = grype_severity(vulnerability.get("severity"))
    _clean_scores(vulnerability)
    if "fix" in vulnerability and not isinstance(vulnerability["fix"], Mapping):
        del vulnerability["fix"]
    related = []
    for entry in _list(item.get("relatedVulnerabilities")):
        if isinstance(entry, Mapping):
            copy = dict(entry)
            _clean_scores(copy)
            related.append(copy)
    artifact = dict(_mapping(item.get("artifact")))
    artifact["name"] = _text(artifact.get("name"))
    artifact["version"] = _text(artifact.get("version"))
    if "locations" in artifact:
        artifact["locations"] = [where for where in _list(artifact["locations"]) if isinstance(where, Mapping)]
    out = {**item, "vulnerability": vulnerability, "matchDetails": _match_details(item.get("matchDetails"))}
    out["artifact"] = artifact
    if "relatedVulnerabilities" in item:
        out["relatedVulnerabilities"] = related
    return out


def _clean_scores(vulnerability: dict[str, Any]) -> None:
    """Keep the CVSS entries that have a vector: the parser reads `vector` of each without a default."""
    if "cvss" in vulnerability:
        vulnerability["cvss"] = [
            entry
            for entry in _list(vulnerability["cvss"])
            if isinstance(entry, Mapping) and isinstance(entry.get("vector"), str)
        ]


def _match_details(details: Any) -> Any:
    """A list (or Grype's older single object) whose entries each name their matcher."""
    if isinstance(details, Mapping):
        return {**details, "matcher": _text(details.get("matcher"))}
    return [{**entry, "matcher": _text(entry.get("matcher"))} for entry in _list(details) if isinstance(entry, Mapping)]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))
