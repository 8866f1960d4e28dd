"""Builders of trivy-operator report objects (`aquasecurity.github.io/v1alpha1`).

Shapes follow the CRDs' openAPIV3Schema (required fields always present) and what DefectDojo's
`dojo/tools/trivy_operator` parser reads: the `trivy-operator.resource.*` and `trivy-operator.container.name`
labels, severities it can map, and string-valued `description`/`messages` it concatenates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from samplegen.catalog import (
    CVSS_VECTORS,
    ECOSYSTEMS,
    IMPACT_SENTENCES,
    Advisory,
    Check,
    SecretRule,
)
from samplegen.common import (
    JSON,
    TRIVY_API_VERSION,
    Meta,
    OwnerRef,
    digest,
    object_meta,
    offset,
    rng,
    spec_hash,
    stable_uid,
    timestamp,
)
from samplegen.model import Image, Package, Workload, api_version_of

SCANNER: JSON = {"name": "Trivy", "vendor": "Aqua Security", "version": "0.50.1"}
CATEGORY = "Kubernetes Security Check"
TTL_ANNOTATION = "trivy-operator.aquasecurity.github.io/report-ttl"
_MAX_NAME = 63


@dataclass(frozen=True)
class Target:
    """The Kubernetes object a trivy report is about, as its labels and owner reference name it."""

    kind: str
    name: str
    namespace: str | None

    @property
    def owner(self) -> OwnerRef:
        return OwnerRef(
            api_version_of(self.kind), self.kind, self.name, stable_uid(self.kind, self.namespace, self.name)
        )


def workload_target(workload: Workload) -> Target:
    return Target(workload.owner_kind, workload.owner_name, workload.namespace)


def report_name(target: Target, container: str | None = None) -> str:
    """trivy-operator's name: `<kind>-<name>[-<container>]`, or a hash when that would be too long."""
    parts = [target.kind.lower(), target.name, *([container] if container else [])]
    name = "-".join(parts)
    if len(name) <= _MAX_NAME:
        return name
    return f"{target.kind.lower()}-{spec_hash(*parts[1:])}"


def labels(target: Target, container: str | None = None, plugin_hash: bool = False) -> dict[str, str]:
    """The labels trivy-operator puts on a report; DefectDojo builds its `service` from them."""
    out = {
        "app.kubernetes.io/managed-by": "trivy-operator",
        "resource-spec-hash": spec_hash("spec", target.kind, target.namespace, target.name),
        "trivy-operator.resource.kind": target.kind,
        "trivy-operator.resource.name": target.name,
        "trivy-operator.resource.namespace": target.namespace or "",
    }
    if container is not None:
        out["trivy-operator.container.name"] = container
    if plugin_hash:
        out["plugin-config-hash"] = spec_hash("plugin", "trivy")
    return out


def _object(kind: str, meta: Meta, report: JSON) -> JSON:
    return {
        "apiVersion": TRIVY_API_VERSION,
        "kind": kind,
        "metadata": object_meta(meta, TRIVY_API_VERSION, kind),
        "report": report,
    }


def _meta(target: Target, kind: str, container: str | None = None, plugin_hash: bool = False) -> Meta:
    name = report_name(target, container)
    return Meta(
        name=name,
        namespace=target.namespace,
        labels=labels(target, container, plugin_hash),
        annotations={TTL_ANNOTATION: "24h0m0s"},
        owner=target.owner,
        created=offset(kind, target.namespace, name),
    )


def _artifact(image: Image) -> JSON:
    return {
        "digest": image.digest,
        "mimeType": "application/vnd.oci.image.manifest.v1+json",
        "repository": image.repository,
        "tag": image.tag,
    }


def _update_time(meta: Meta) -> str:
    return timestamp(meta.created + 90)


def description(adv: Advisory) -> str:
    """A description in the style of the NVD text Trivy copies (our own wording)."""
    pick = rng("description", adv.id, adv.package)
    subject = adv.title.split(": ", 1)[-1]
    component = adv.source or adv.package
    text = f"A flaw was found in {component}: {subject}. "
    text += " ".join(pick.sample(IMPACT_SENTENCES, 2))
    fixed = adv.fixed_versions
    if fixed:
        text += f" The issue is fixed in version {fixed[0]} and later."
    return text


def advisory_links(adv: Advisory) -> list[str]:
    """Reference links as Trivy lists them for the advisory's ecosystem."""
    if adv.id.startswith("TEMP-"):
        return [f"https://security-tracker.debian.org/tracker/{adv.id}"]
    links = [
        f"https://access.redhat.com/security/cve/{adv.id}",
        f"https://nvd.nist.gov/vuln/detail/{adv.id}",
        f"https://www.cve.org/CVERecord?id={adv.id}",
    ]
    if adv.ecosystem == "debian":
        links.append(f"https://security-tracker.debian.org/tracker/{adv.id}")
    elif adv.ecosystem == "ubuntu":
        links.append(f"https://ubuntu.com/security/{adv.id}")
    elif adv.ecosystem == "alpine":
        links.append(f"https://security.alpinelinux.org/vuln/{adv.id}")
    else:
        links.append(f"https://github.com/advisories?query={adv.id}")
    return links


def primary_link(adv: Advisory) -> str:
    if adv.id.startswith("TEMP-"):
        return f"https://security-tracker.debian.org/tracker/{adv.id}"
    return f"https://avd.aquasec.com/nvd/{adv.id.lower()}"


def published_time(adv: Advisory) -> str:
    return f"{adv.published}T15:15:00Z" if adv.published else ""


def modified_time(adv: Advisory) -> str:
    if not adv.published:
        return ""
    days = 20 + int(digest("modified", adv.id)[:4], 16) % 400
    return (date.fromisoformat(adv.published) + timedelta(days=days)).isoformat() + "T11:42:09Z"


def vulnerability(adv: Advisory, image: Image, variant: int = 0) -> JSON:
    """One entry of `report.vulnerabilities`."""
    eco = ECOSYSTEMS[adv.ecosystem]
    entry: JSON = {"class": eco.trivy_class}
    if adv.score is not None:
        vector = "CVSS:3.1/" + CVSS_VECTORS[adv.score][0]
        entry["cvss"] = {"nvd": {"V3Score": adv.score, "V3Vector": vector}}
        if eco.trivy_class == "os-pkgs":
            entry["cvss"]["redhat"] = {"V3Score": adv.score, "V3Vector": vector}
    entry["cvsssource"] = "nvd" if eco.trivy_class == "os-pkgs" else "ghsa"
    entry["description"] = description(adv)
    entry["fixedVersion"] = adv.fixed
    entry["installedVersion"] = adv.installed
    entry["lastModifiedDate"] = modified_time(adv)
    entry["links"] = advisory_links(adv)
    entry["packagePURL"] = image.purl(adv.ecosystem, adv.package, adv.installed)
    path = image.package_path(adv, variant)
    if path and eco.trivy_class == "lang-pkgs" and adv.ecosystem != "gobinary":
        entry["packagePath"] = path
    entry["packageType"] = eco.trivy_type
    entry["primaryLink"] = primary_link(adv)
    entry["publishedDate"] = published_time(adv)
    entry["resource"] = adv.package
    if adv.score is not None:
        entry["score"] = adv.score
    entry["severity"] = adv.severity
    entry["target"] = image.trivy_target(adv, variant)
    entry["title"] = adv.title
    entry["vulnerabilityID"] = adv.id
    return entry


def vulnerability_summary(vulnerabilities: Iterable[JSON]) -> JSON:
    counts = Counter(entry["severity"] for entry in vulnerabilities)
    return {
        "criticalCount": counts["CRITICAL"],
        "highCount": counts["HIGH"],
        "lowCount": counts["LOW"],
        "mediumCount": counts["MEDIUM"],
        "noneCount": 0,
        "unknownCount": counts["UNKNOWN"],
    }


def vulnerability_report(target: Target, container: str | None, image: Image, vulnerabilities: list[JSON]) -> JSON:
    """A VulnerabilityReport (or, with a cluster-scoped target, the body of a ClusterVulnerabilityReport)."""
    kind = "VulnerabilityReport" if target.namespace else "ClusterVulnerabilityReport"
    meta = _meta(target, kind, container)
    os_block: JSON = {"eosl": False, "family": image.os_family, "name": image.os_name} if image.os_family else {}
    report = {
        "artifact": _artifact(image),
        "os": os_block,
        "registry": {"server": image.registry},
        "scanner": SCANNER,
        "summary": vulnerability_summary(vulnerabilities),
        "updateTimestamp": _update_time(meta),
        "vulnerabilities": vulnerabilities,
    }
    return _object(kind, meta, report)


def check_entry(check: Check, success: bool, messages: list[str]) -> JSON:
    """One entry of `report.checks`; passed checks carry no messages."""
    entry: JSON = {
        "category": CATEGORY,
        "checkID": check.id,
        "description": check.description,
    }
    if not success:
        entry["messages"] = messages
    entry["remediation"] = check.remediation
    entry["severity"] = check.severity
    entry["success"] = success
    entry["title"] = check.title
    return entry


def check_summary(checks: Iterable[JSON]) -> JSON:
    """Counts of failed checks by severity, the only ones trivy-operator counts."""
    counts = Counter(entry["severity"] for entry in checks if not entry["success"])
    return {
        "criticalCount": counts["CRITICAL"],
        "highCount": counts["HIGH"],
        "lowCount": counts["LOW"],
        "mediumCount": counts["MEDIUM"],
    }


def check_message(check: Check, target: Target, container: str = "") -> str:
    return check.message.format(
        container=container,
        kind=target.kind,
        kind_lower=target.kind.lower(),
        name=target.name,
        namespace=target.namespace or "",
    )


def checks_report(kind: str, target: Target, checks: list[JSON], with_timestamp: bool = True) -> JSON:
    """A ConfigAudit/RbacAssessment/InfraAssessment report (namespaced or cluster-scoped by `kind`)."""
    meta = _meta(target, kind, plugin_hash=True)
    report: JSON = {"checks": checks, "scanner": SCANNER, "summary": check_summary(checks)}
    if with_timestamp:
        report["updateTimestamp"] = _update_time(meta)
    return _object(kind, meta, report)


def secret_entry(rule: SecretRule) -> JSON:
    return {
        "category": rule.category,
        "match": rule.match,
        "ruleID": rule.rule_id,
        "severity": rule.severity,
        "target": rule.target,
        "title": rule.title,
    }


def exposed_secret_report(target: Target, container: str, image: Image, secrets: list[JSON]) -> JSON:
    meta = _meta(target, "ExposedSecretReport", container)
    counts = Counter(entry["severity"] for entry in secrets)
    report = {
        "artifact": _artifact(image),
        "registry": {"server": image.registry},
        "scanner": SCANNER,
        "secrets": secrets,
        "summary": {
            "criticalCount": counts["CRITICAL"],
            "highCount": counts["HIGH"],
            "lowCount": counts["LOW"],
            "mediumCount": counts["MEDIUM"],
        },
        "updateTimestamp": _update_time(meta),
    }
    return _object("ExposedSecretReport", meta, report)


def _component(image: Image, package: Package) -> JSON:
    purl = image.purl(package.ecosystem, package.name, package.version)
    properties = [{"name": "aquasecurity:trivy:PkgType", "value": ECOSYSTEMS[package.ecosystem].trivy_type}]
    if package.path:
        properties.append({"name": "aquasecurity:trivy:FilePath", "value": package.path})
    if package.source and package.source != package.name:
        properties.append({"name": "aquasecurity:trivy:SrcName", "value": package.source})
    component: JSON = {
        "bom-ref": purl,
        "name": package.name.split(":")[-1],
        "properties": properties,
        "purl": purl,
        "type": "library",
        "version": package.version,
    }
    if ":" in package.name and package.ecosystem == "jar":
        component["group"] = package.name.split(":")[0]
    if package.license:
        component["licenses"] = [{"license": {"name": package.license}}]
    return component


def sbom_report(target: Target, container: str | None, image: Image, packages: list[Package]) -> JSON:
    """An SbomReport (CycloneDX 1.5 in `report.components`), or a ClusterSbomReport for a cluster target."""
    kind = "SbomReport" if target.namespace else "ClusterSbomReport"
    meta = _meta(target, kind, container)
    components = [_component(image, package) for package in packages]
    root_ref = f"pkg:oci/{image.repository.split('/')[-1]}@{image.digest.replace(':', '%3A')}"
    os_ref = f"urn:uuid:{stable_uid('os-component', image.ref)}"
    dependencies: list[JSON] = [{"dependsOn": [os_ref] if image.os_family else [], "ref": root_ref}]
    if image.os_family:
        os_children = [
            c["bom-ref"] for c, p in zip(components, packages, strict=True) if p.ecosystem == image.os_family
        ]
        dependencies.append({"dependsOn": os_children, "ref": os_ref})
        components.append(
            {
                "bom-ref": os_ref,
                "name": image.os_family,
                "properties": [{"name": "aquasecurity:trivy:Type", "value": image.os_family}],
                "type": "operating-system",
                "version": image.os_name,
            }
        )
    document = {
        "bomFormat": "CycloneDX",
        "components": components,
        "dependencies": dependencies,
        "metadata": {
            "component": {
                "bom-ref": root_ref,
                "name": image.ref,
                "properties": [
                    {"name": "aquasecurity:trivy:DiffID", "value": image.digest},
                    {"name": "aquasecurity:trivy:RepoDigest", "value": image.image_id},
                    {"name": "aquasecurity:trivy:SchemaVersion", "value": "2"},
                ],
                "purl": root_ref,
                "type": "container",
            },
            "timestamp": _update_time(meta),
            "tools": {
                "components": [
                    {
                        "group": "aquasecurity",
                        "name": "trivy",
                        "type": "application",
                        "version": SCANNER["version"],
                    }
                ]
            },
        },
        "serialNumber": f"urn:uuid:{stable_uid('sbom', kind, image.ref)}",
        "specVersion": "1.5",
        "version": 1,
    }
    report = {
        "artifact": _artifact(image),
        "components": document,
        "registry": {"server": image.registry},
        "scanner": SCANNER,
        "summary": {"componentsCount": len(components), "dependenciesCount": len(dependencies)},
        "updateTimestamp": _update_time(meta),
    }
    return _object(kind, meta, report)


@dataclass(frozen=True)
class ComplianceControl:
    """A control of a compliance spec and the check ids (Trivy's `KSV012` form) it is evaluated with."""

    id: str
    name: str
    description: str
    severity: str
    checks: tuple[str, ...]
    commands: tuple[str, ...] = ()


@dataclass(frozen=True)
class Failure:
    """One failed check on one target, as a compliance report aggregates them."""

    check: Check
    target: str
    messages: tuple[str, ...]


def avd_id(check_id: str) -> str:
    """`KSV012` -> `AVD-KSV-0012`, the id compliance specs use."""
    prefix, number = check_id[:3], check_id[3:]
    return f"AVD-{prefix}-{int(number):04d}"


def compliance_report(
    name: str,
    spec: JSON,
    controls: tuple[ComplianceControl, ...],
    report_type: str,
    failures: list[Failure],
) -> JSON:
    """A ClusterComplianceReport: report type "all" fills `status.detailReport`, "summary" `summaryReport`."""
    by_check: dict[str, list[Failure]] = {}
    for failure in failures:
        by_check.setdefault(failure.check.id, []).append(failure)
    spec_controls: list[JSON] = []
    control_failures: list[tuple[ComplianceControl, list[Failure]]] = []
    for control in controls:
        entry: JSON = {"description": control.description, "id": control.id, "name": control.name}
        if control.checks:
            entry["checks"] = [{"id": avd_id(check)} for check in control.checks]
        if control.commands:
            entry["commands"] = [{"id": command} for command in control.commands]
            entry["defaultStatus"] = "FAIL"
        entry["severity"] = control.severity
        spec_controls.append(entry)
        control_failures.append((control, [f for check in control.checks for f in by_check.get(check, [])]))
    failing = sum(1 for control, found in control_failures if found or control.commands)
    meta = Meta(
        name=name,
        namespace=None,
        labels={
            "app.kubernetes.io/instance": "trivy-operator",
            "app.kubernetes.io/managed-by": "Helm",
            "app.kubernetes.io/name": "trivy-operator",
            "app.kubernetes.io/version": "0.22.0",
        },
        annotations={
            "meta.helm.sh/release-name": "trivy-operator",
            "meta.helm.sh/release-namespace": "trivy-system",
        },
        created=offset("ClusterComplianceReport", name),
        generation=1,
    )
    status: JSON = {"summary": {"failCount": failing, "passCount": len(controls) - failing}}
    if report_type == "all":
        status["detailReport"] = {
            "description": spec["description"],
            "id": spec["id"],
            "relatedVersion": [f"{spec['platform']}-{spec['version']}"],
            "results": [_detail_result(control, found) for control, found in control_failures],
            "title": spec["title"],
            "version": spec["version"],
        }
    else:
        status["summaryReport"] = {
            "controlCheck": [
                {
                    "id": control.id,
                    "name": control.name,
                    "severity": control.severity,
                    "totalFail": len(found),
                }
                for control, found in control_failures
            ],
            "id": spec["id"],
            "title": spec["title"],
        }
    status["updateTimestamp"] = timestamp(meta.created + 120)
    return {
        "apiVersion": TRIVY_API_VERSION,
        "kind": "ClusterComplianceReport",
        "metadata": object_meta(meta, TRIVY_API_VERSION, "ClusterComplianceReport"),
        "spec": {
            "compliance": {**spec, "controls": spec_controls},
            "cron": "0 */6 * * *",
            "reportType": report_type,
        },
        "status": status,
    }


def _detail_result(control: ComplianceControl, found: list[Failure]) -> JSON:
    checks = [
        {
            "category": CATEGORY,
            "checkID": avd_id(failure.check.id),
            "description": failure.check.description,
            "messages": list(failure.messages),
            "remediation": failure.check.remediation,
            "severity": failure.check.severity,
            "success": False,
            "target": failure.target,
            "title": failure.check.title,
        }
        for failure in found
    ]
    return {
        "checks": checks,
        "description": control.description,
        "id": control.id,
        "name": control.name,
        "severity": control.severity,
        "status": "FAIL" if found or control.commands else "PASS",
    }
