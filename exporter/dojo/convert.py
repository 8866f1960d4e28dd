"""Pure converters from report CRs (as stored in a run directory) to the exact bytes DefectDojo's parsers read.

One converter per scan type, each in its own module with the upstream parser's quirks it answers:

- `trivy_operator_document` (convert_trivy): trivy-operator CRs → "Trivy Operator Scan", a JSON array of CRs;
- `grype_document` (convert_grype): one kubescape VulnerabilityManifest → "Anchore Grype", its Grype payload;
- `kubescape_document` (convert_kubescape): WorkloadConfigurationScans → "Kubescape JSON Importer", the CLI's
  `--format json` shape.

`workload_of` names what a report is about, a Deployment rather than the ReplicaSet of the day, so DefectDojo keeps
one finding per workload across rollouts. The converters are pure: same objects in, same bytes out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.catalog import ANCHORE_GRYPE, ReportKind
from exporter.dojo import IMAGE_KIND, Workload, canonical_kind, owning_workload, rollout_deployment, workload_of
from exporter.dojo.convert_grype import MAX_DOCUMENT_BYTES, grype_document, grype_severity, image_manifest_workloads
from exporter.dojo.convert_kubescape import control_score, kubescape_document, kubescape_resource_id
from exporter.dojo.convert_trivy import convert_report, trivy_operator_document, trivy_severity

__all__ = [
    "IMAGE_KIND",
    "MAX_DOCUMENT_BYTES",
    "Workload",
    "canonical_kind",
    "control_score",
    "convert_report",
    "grype_document",
    "grype_severity",
    "has_report",
    "image_manifest_workloads",
    "kubescape_document",
    "kubescape_resource_id",
    "owning_workload",
    "rollout_deployment",
    "trivy_operator_document",
    "trivy_severity",
    "workload_of",
]


def has_report(kind: ReportKind, obj: Mapping[str, Any]) -> bool:
    """Whether an object holds the part its converter reads findings from: a Kubescape VulnerabilityManifest its
    Grype payload (`spec.payload`; the storage's lists leave it out, and too large a scan is stored without it),
    a ClusterComplianceReport its `status`, any other report its payload. Sent without it, an object would read
    as "no findings" and close what is still open."""
    if kind.kind == "ClusterComplianceReport":
        return isinstance(obj.get("status"), Mapping)
    payload = obj.get(kind.payload_key)
    if kind.dojo == ANCHORE_GRYPE:
        return isinstance(payload, Mapping) and isinstance(payload.get("payload"), Mapping)
    return isinstance(payload, Mapping)
