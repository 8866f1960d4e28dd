"""The one table of report kinds the exporter knows.

Every other part iterates this table: the getter lists these kinds, the RBAC in `cronjob/` grants exactly these
resources, and the DefectDojo part reads each kind's treatment from here. Adding a report kind is one row.

Coordinates are checked against the upstream sources: trivy-operator's Helm chart CRDs (`deploy/helm/crds/`,
v0.32) and kubescape/storage (`pkg/apis/softwarecomposition/v1beta1`, `pkg/registry/`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Scanner(StrEnum):
    """The operator that writes a report kind."""

    TRIVY = "trivy-operator"
    KUBESCAPE = "kubescape"


class Family(StrEnum):
    """What a report kind is about; DefectDojo tests are cut along families."""

    VULNERABILITY = "vulnerability"
    CONFIG_AUDIT = "config-audit"
    EXPOSED_SECRET = "exposed-secret"
    RBAC = "rbac-assessment"
    INFRA = "infra-assessment"
    COMPLIANCE = "compliance"
    SBOM = "sbom"
    SUMMARY = "summary"


@dataclass(frozen=True)
class DojoTreatment:
    """How a kind reaches DefectDojo: a scan type, or the reason it is archived only."""

    scan_type: str | None
    reason: str = ""

    @property
    def imported(self) -> bool:
        return self.scan_type is not None


TRIVY_OPERATOR_SCAN = DojoTreatment("Trivy Operator Scan")
ANCHORE_GRYPE = DojoTreatment("Anchore Grype")
KUBESCAPE_JSON = DojoTreatment("Kubescape JSON Importer")
ARCHIVE_SBOM = DojoTreatment(None, "an SBOM lists packages, not findings: archived only")
ARCHIVE_SUMMARY = DojoTreatment(None, "a summary repeats counts of findings imported from the full report")


@dataclass(frozen=True)
class ReportKind:
    """One report kind: where the API serves it and what happens to it downstream.

    `list_omits_payload` marks kinds served by kubescape's aggregated storage, whose list responses leave out
    `spec` (the report itself): the getter fetches each such object with a GET, since trusting the list would
    archive empty reports and make a vulnerable cluster look clean.

    `scoped_by` names the kind whose objects say which namespaces an object of this kind is about, when its own
    namespace does not: kubescape scans an image once, into its own namespace, and each workload's
    VulnerabilityManifestSummary points at that scan. Without that kind, such objects cannot be put in a scope.

    `paged` is False for kinds a server computes on each request rather than stores: kubescape's
    VulnerabilitySummary and ConfigurationScanSummary, one object per namespace built from the namespace's
    per-workload summaries. kubescape/storage before v0.0.289 applies a list's `limit` to those per-workload
    summaries and drops the continue token, so a paged list of them ends early and says nothing
    (docs/kubescape-storage.md). Unpaged, every storage version returns them all; there is one per namespace.
    """

    scanner: Scanner
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    family: Family
    dojo: DojoTreatment
    payload_key: str
    list_omits_payload: bool = False
    scoped_by: str | None = None
    paged: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def resource(self) -> str:
        """`plural.group`, the name kubectl and RBAC error messages use."""
        return f"{self.plural}.{self.group}"


TRIVY_GROUP = "aquasecurity.github.io"
TRIVY_VERSION = "v1alpha1"
KUBESCAPE_GROUP = "spdx.softwarecomposition.kubescape.io"
KUBESCAPE_VERSION = "v1beta1"


def _trivy(
    plural: str, kind: str, namespaced: bool, family: Family, dojo: DojoTreatment, payload_key: str = "report"
) -> ReportKind:
    return ReportKind(
        Scanner.TRIVY,
        TRIVY_GROUP,
        TRIVY_VERSION,
        plural,
        kind,
        namespaced,
        family,
        dojo,
        payload_key=payload_key,
    )


def _kubescape(
    plural: str, kind: str, namespaced: bool, family: Family, dojo: DojoTreatment, scoped_by: str | None = None
) -> ReportKind:
    """A kind of kubescape's storage; its cluster-scoped kinds are the computed per-namespace summaries (unpaged)."""
    return ReportKind(
        Scanner.KUBESCAPE,
        KUBESCAPE_GROUP,
        KUBESCAPE_VERSION,
        plural,
        kind,
        namespaced,
        family,
        dojo,
        payload_key="spec",
        list_omits_payload=True,
        scoped_by=scoped_by,
        paged=namespaced,
    )


CATALOG: tuple[ReportKind, ...] = (
    _trivy("vulnerabilityreports", "VulnerabilityReport", True, Family.VULNERABILITY, TRIVY_OPERATOR_SCAN),
    _trivy(
        "clustervulnerabilityreports",
        "ClusterVulnerabilityReport",
        False,
        Family.VULNERABILITY,
        TRIVY_OPERATOR_SCAN,
    ),
    _trivy("configauditreports", "ConfigAuditReport", True, Family.CONFIG_AUDIT, TRIVY_OPERATOR_SCAN),
    _trivy(
        "clusterconfigauditreports",
        "ClusterConfigAuditReport",
        False,
        Family.CONFIG_AUDIT,
        TRIVY_OPERATOR_SCAN,
    ),
    _trivy("exposedsecretreports", "ExposedSecretReport", True, Family.EXPOSED_SECRET, TRIVY_OPERATOR_SCAN),
    _trivy("rbacassessmentreports", "RbacAssessmentReport", True, Family.RBAC, TRIVY_OPERATOR_SCAN),
    _trivy("clusterrbacassessmentreports", "ClusterRbacAssessmentReport", False, Family.RBAC, TRIVY_OPERATOR_SCAN),
    _trivy("infraassessmentreports", "InfraAssessmentReport", True, Family.INFRA, TRIVY_OPERATOR_SCAN),
    _trivy(
        "clusterinfraassessmentreports",
        "ClusterInfraAssessmentReport",
        False,
        Family.INFRA,
        TRIVY_OPERATOR_SCAN,
    ),
    # A compliance report's results are in `status`; its `spec` holds the benchmark's definition.
    _trivy(
        "clustercompliancereports", "ClusterComplianceReport", False, Family.COMPLIANCE, TRIVY_OPERATOR_SCAN, "status"
    ),
    _trivy("sbomreports", "SbomReport", True, Family.SBOM, ARCHIVE_SBOM),
    _trivy("clustersbomreports", "ClusterSbomReport", False, Family.SBOM, ARCHIVE_SBOM),
    _kubescape(
        "vulnerabilitymanifests",
        "VulnerabilityManifest",
        True,
        Family.VULNERABILITY,
        ANCHORE_GRYPE,
        scoped_by="vulnerabilitymanifestsummaries",
    ),
    _kubescape(
        "vulnerabilitymanifestsummaries",
        "VulnerabilityManifestSummary",
        True,
        Family.SUMMARY,
        ARCHIVE_SUMMARY,
    ),
    _kubescape("vulnerabilitysummaries", "VulnerabilitySummary", False, Family.SUMMARY, ARCHIVE_SUMMARY),
    _kubescape("workloadconfigurationscans", "WorkloadConfigurationScan", True, Family.CONFIG_AUDIT, KUBESCAPE_JSON),
    _kubescape(
        "workloadconfigurationscansummaries",
        "WorkloadConfigurationScanSummary",
        True,
        Family.SUMMARY,
        ARCHIVE_SUMMARY,
    ),
    _kubescape("configurationscansummaries", "ConfigurationScanSummary", False, Family.SUMMARY, ARCHIVE_SUMMARY),
    _kubescape("sbomsyfts", "SBOMSyft", True, Family.SBOM, ARCHIVE_SBOM),
    _kubescape("sbomsyftfiltereds", "SBOMSyftFiltered", True, Family.SBOM, ARCHIVE_SBOM),
)


class UnknownKindError(ValueError):
    """A kind filter names something that is not in the catalog."""


def by_api_kind(api_version: str, kind: str) -> ReportKind | None:
    """The catalog entry for an object's `apiVersion` and `kind`, or None for anything else."""
    return _BY_API_KIND.get((api_version, kind))


def by_group_kind(group: str, kind: str) -> ReportKind | None:
    """The catalog entry for a group and kind whatever the version (files may hold an older version)."""
    return _BY_GROUP_KIND.get((group, kind))


def resolve(name: str) -> ReportKind:
    """The kind a user names: plural, Kind, or `plural.group`, case-insensitive."""
    wanted = name.strip().lower()
    for entry in CATALOG:
        if wanted in (entry.plural, entry.kind.lower(), entry.resource):
            return entry
    known = ", ".join(entry.plural for entry in CATALOG)
    raise UnknownKindError(f"unknown report kind {name!r}; known kinds: {known}")


def select(include: Iterable[str] = (), exclude: Iterable[str] = ()) -> tuple[ReportKind, ...]:
    """The catalog kinds a run covers: all, or the included ones, minus the excluded ones, in catalog order."""
    included = {resolve(name) for name in include}
    excluded = {resolve(name) for name in exclude}
    return tuple(entry for entry in CATALOG if (not included or entry in included) and entry not in excluded)


def groups(kinds: Iterable[ReportKind]) -> dict[tuple[str, str], list[ReportKind]]:
    """Kinds grouped by (group, version), the unit of API discovery."""
    grouped: dict[tuple[str, str], list[ReportKind]] = {}
    for entry in kinds:
        grouped.setdefault((entry.group, entry.version), []).append(entry)
    return grouped


_BY_API_KIND = {(entry.api_version, entry.kind): entry for entry in CATALOG}
_BY_GROUP_KIND = {(entry.group, entry.kind): entry for entry in CATALOG}
