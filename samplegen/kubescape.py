"""Builders of kubescape storage objects (`spdx.softwarecomposition.kubescape.io/v1beta1`).

Shapes follow kubescape/storage `pkg/apis/softwarecomposition/v1beta1` (types.go, scan_types.go,
grype_types.go, syfttypes.go); metadata keys follow kubescape/k8s-interface
`instanceidhandler/v1/helpers/keys.go` and how kubescape/kubevuln `repositories/apiserver.go` sets them.
The VulnerabilityManifest payload is a Grype JSON document, what DefectDojo's "Anchore Grype" parser reads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from urllib.parse import quote

from samplegen.catalog import CONTROLS, CVSS_VECTORS, ECOSYSTEMS, OS_RELEASES, Advisory
from samplegen.common import (
    JSON,
    KUBESCAPE_API_VERSION,
    KUBESCAPE_NAMESPACE,
    Meta,
    digest,
    object_meta,
    offset,
    sha256_ref,
    timestamp,
)
from samplegen.model import Image, Package, Workload, dns_slug
from samplegen.trivy import advisory_links, description

KEY = "kubescape.io/"
GRYPE_VERSION = "v0.74.0"
SYFT_VERSION = "v1.4.1"
GRYPE_DB = sha256_ref("grype-db", "2025-03-14")
_GRYPE_SEVERITY = {
    "CRITICAL": "Critical",
    "HIGH": "High",
    "MEDIUM": "Medium",
    "LOW": "Low",
    "UNKNOWN": "Unknown",
}


def _object(kind: str, meta: Meta, spec: JSON, with_status: bool = True) -> JSON:
    obj: JSON = {
        "apiVersion": KUBESCAPE_API_VERSION,
        "kind": kind,
        "metadata": object_meta(meta, KUBESCAPE_API_VERSION, kind),
        "spec": spec,
    }
    if with_status:
        obj["status"] = {}
    return obj


def workload_labels(workload: Workload, container: str | None, kind_case: str = "camel") -> dict[str, str]:
    """The `kubescape.io/workload-*` labels that tie an object to its workload.

    kubevuln writes the kind in lower case on vulnerability summaries; the configuration scans keep the Kind.
    """
    kind = workload.kind.lower() if kind_case == "lower" else workload.kind
    out = {
        KEY + "workload-api-group": workload.api_group,
        KEY + "workload-api-version": "v1",
        KEY + "workload-kind": kind,
        KEY + "workload-name": workload.name,
        KEY + "workload-namespace": workload.namespace,
    }
    if container is not None:
        out[KEY + "workload-container-name"] = container
    return out


def image_labels(image: Image) -> dict[str, str]:
    """Labels kubevuln derives from the image id (sanitised, at most 63 characters)."""
    return {
        KEY + "image-id": dns_slug(image.image_id.replace(":", "-").replace("@", "-"))[:63].strip("-."),
        KEY + "image-name": dns_slug(f"{image.registry}-{image.repository}")[:63],
    }


def grype_severity(adv: Advisory) -> str:
    """Grype's severity: distro feeds call unfixed minor issues Negligible."""
    if adv.severity == "LOW" and not adv.fixed and adv.ecosystem in ("debian", "ubuntu"):
        return "Negligible"
    return _GRYPE_SEVERITY[adv.severity]


def _cvss(adv: Advisory, source: str) -> list[JSON]:
    if adv.score is None:
        return []
    vector, exploitability, impact = CVSS_VECTORS[adv.score]
    return [
        {
            "source": source,
            "type": "Primary",
            "version": "3.1",
            "vector": f"CVSS:3.1/{vector}",
            "metrics": {"baseScore": adv.score, "exploitabilityScore": exploitability, "impactScore": impact},
            "vendorMetadata": {},
        }
    ]


def _data_source(adv: Advisory) -> str:
    if adv.ecosystem == "debian":
        return f"https://security-tracker.debian.org/tracker/{adv.id}"
    if adv.ecosystem == "ubuntu":
        return f"https://ubuntu.com/security/{adv.id}"
    if adv.ecosystem == "alpine":
        return f"https://security.alpinelinux.org/vuln/{adv.id}"
    return f"https://nvd.nist.gov/vuln/detail/{adv.id}"


def _epss(adv: Advisory) -> list[JSON]:
    if not adv.id.startswith("CVE-"):
        return []
    value = int(digest("epss", adv.id)[:6], 16) / 0xFFFFFF
    score = round(value**6, 5)
    return [{"cve": adv.id, "epss": score, "percentile": round(0.4 + 0.6 * value, 5), "date": "2025-03-13"}]


def _version_constraint(adv: Advisory) -> str:
    fmt = ECOSYSTEMS[adv.ecosystem].version_format
    fixed = adv.fixed_versions
    return f"< {fixed[-1]} ({fmt})" if fixed else f"none ({fmt})"


def _artifact(adv: Advisory, image: Image, variant: int) -> JSON:
    eco = ECOSYSTEMS[adv.ecosystem]
    name = adv.package.split(":")[-1]
    path = image.package_path(adv, variant)
    location = _db_path(image) if eco.trivy_class == "os-pkgs" else "/" + path
    vendor = (adv.source or name).split("/")[-1]
    return {
        "id": digest("artifact", image.ref, adv.package, adv.installed, variant)[:16],
        "name": name,
        "version": adv.installed,
        "type": eco.grype_type,
        "locations": [{"path": location, "layerID": sha256_ref("layer", image.ref, 2)}],
        "language": eco.grype_language,
        "licenses": [],
        "cpes": [f"cpe:2.3:a:{vendor}:{name}:{quote(adv.installed, safe='.-_~')}:*:*:*:*:*:*:*"],
        "purl": image.purl(adv.ecosystem, adv.package, adv.installed),
        "upstreams": [{"name": adv.source}] if adv.source and adv.source != adv.package else [],
    }


def grype_match(adv: Advisory, image: Image, variant: int = 0) -> JSON:
    """One entry of a Grype document's `matches`."""
    eco = ECOSYSTEMS[adv.ecosystem]
    is_os = eco.trivy_class == "os-pkgs"
    namespace = eco.grype_namespace if is_os or adv.ecosystem != "gobinary" else "github:language:go"
    fix_state = "fixed" if adv.fixed else ("wont-fix" if grype_severity(adv) == "Negligible" else "not-fixed")
    vulnerability: JSON = {
        "id": adv.id,
        "dataSource": _data_source(adv),
        "namespace": namespace,
        "severity": grype_severity(adv),
        "urls": advisory_links(adv)[:2],
        "cvss": _cvss(adv, "nvd@nist.gov") if not is_os else [],
        "epss": _epss(adv),
        "fix": {"versions": adv.fixed_versions, "state": fix_state},
        "advisories": [],
        "risk": round((adv.score or 0.0) * 1.7, 2),
    }
    if not is_os:
        vulnerability["description"] = description(adv)
    related = {
        "id": adv.id,
        "dataSource": f"https://nvd.nist.gov/vuln/detail/{adv.id}",
        "namespace": "nvd:cpe",
        "severity": _GRYPE_SEVERITY[adv.severity] if adv.score is not None else "Unknown",
        "urls": [f"https://nvd.nist.gov/vuln/detail/{adv.id}"],
        "description": description(adv),
        "cvss": _cvss(adv, "nvd@nist.gov"),
    }
    search_package = {"name": adv.source or adv.package, "version": adv.installed}
    searched_by: JSON = {"namespace": namespace, "package": search_package}
    if is_os:
        searched_by["distro"] = {"type": image.os_family, "version": image.os_name.split(".")[0]}
    match_type = "exact-indirect-match" if is_os and adv.source != adv.package else "exact-direct-match"
    return {
        "vulnerability": vulnerability,
        "relatedVulnerabilities": [related] if adv.id.startswith("CVE-") else [],
        "matchDetails": [
            {
                "type": match_type,
                "matcher": eco.matcher,
                "searchedBy": searched_by,
                "found": {"vulnerabilityID": adv.id, "versionConstraint": _version_constraint(adv)},
            }
        ],
        "artifact": _artifact(adv, image, variant),
    }


def _image_source(image: Image) -> JSON:
    layers = [
        {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": sha256_ref("layer", image.ref, index),
            "size": 1_000_000 + int(digest("layer-size", image.ref, index)[:6], 16) * 4,
        }
        for index in range(4)
    ]
    return {
        "userInput": image.ref,
        "imageID": sha256_ref("config", image.ref),
        "manifestDigest": image.digest,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "tags": [image.ref],
        "imageSize": sum(layer["size"] for layer in layers),
        "layers": layers,
        "repoDigests": [image.image_id],
        "architecture": "amd64",
        "os": "linux",
    }


def grype_document(image: Image, matches: list[JSON]) -> JSON:
    """A Grype `-o json` document (what kubevuln stores as `spec.payload`)."""
    distro = {"name": image.os_family, "version": image.os_name.split(".")[0], "idLike": []}
    if image.os_family == "ubuntu":
        distro = {"name": "ubuntu", "version": image.os_name, "idLike": ["debian"]}
    return {
        "matches": matches,
        "source": {"type": "image", "target": _image_source(image)},
        "distro": distro if image.os_family else {"name": "", "version": "", "idLike": None},
        "descriptor": {
            "name": "grype",
            "version": GRYPE_VERSION,
            "db": {
                "built": "2025-03-13T01:31:44Z",
                "schemaVersion": 5,
                "location": "/home/nonroot/.cache/grype/db/5",
                "checksum": GRYPE_DB,
                "error": None,
            },
        },
    }


def _manifest_meta_spec(created: int, relevant: bool) -> JSON:
    return {
        "withRelevancy": relevant,
        "tool": {"name": "grype", "version": GRYPE_VERSION, "databaseVersion": GRYPE_DB},
        "report": {"createdAt": timestamp(created)},
    }


def image_vulnerability_manifest(image: Image, matches: list[JSON]) -> JSON:
    """An image-level VulnerabilityManifest: every match, no workload labels (in the kubescape namespace)."""
    created = offset("VulnerabilityManifest", image.ref)
    meta = Meta(
        name=image.slug,
        namespace=KUBESCAPE_NAMESPACE,
        labels={KEY + "context": "non-filtered", **image_labels(image)},
        annotations={
            KEY + "image-id": image.image_id,
            KEY + "image-tag": image.ref,
            KEY + "resource-size": str(len(matches)),
            KEY + "status": "ready",
            KEY + "tool-version": GRYPE_VERSION,
        },
        created=created,
    )
    spec = {"metadata": _manifest_meta_spec(created, False), "payload": grype_document(image, matches)}
    return _object("VulnerabilityManifest", meta, spec)


def workload_vulnerability_manifest(workload: Workload, container: str, image: Image, matches: list[JSON]) -> JSON:
    """A relevancy-filtered VulnerabilityManifest of one container: carries the workload identity."""
    name = workload.instance_slug(container)
    created = offset("VulnerabilityManifest", workload.namespace, name)
    meta = Meta(
        name=name,
        namespace=KUBESCAPE_NAMESPACE,
        labels={KEY + "context": "filtered", **workload_labels(workload, container)},
        annotations={
            KEY + "image-id": image.image_id,
            KEY + "image-tag": image.ref,
            KEY + "instance-id": workload.instance_id(container),
            KEY + "status": "completed",
            KEY + "wlid": workload.wlid,
            KEY + "workload-container-name": container,
        },
        created=created,
    )
    spec = {"metadata": _manifest_meta_spec(created, True), "payload": grype_document(image, matches)}
    return _object("VulnerabilityManifest", meta, spec)


SEVERITY_KEYS = ("critical", "high", "medium", "low", "negligible", "unknown")


def severity_counts(matches: Iterable[JSON]) -> Counter[str]:
    return Counter(match["vulnerability"]["severity"].lower() for match in matches)


def vulnerability_manifest_summary(
    workload: Workload,
    container: str,
    all_name: str,
    relevant_name: str,
    all_counts: Counter[str],
    relevant_counts: Counter[str],
) -> JSON:
    """A VulnerabilityManifestSummary, named `<kind>-<name>-<container>` in the workload's namespace."""
    name = f"{workload.kind.lower()}-{workload.name}-{container}"
    relevant = bool(relevant_name)
    meta = Meta(
        name=name,
        namespace=workload.namespace,
        labels={
            KEY + "context": "filtered" if relevant else "non-filtered",
            **workload_labels(workload, container, kind_case="lower"),
        },
        annotations={KEY + "wlid": workload.wlid, KEY + "workload-container-name": container},
        created=offset("VulnerabilityManifestSummary", workload.namespace, name),
    )
    ref = {"kind": "vulnerabilitymanifests", "name": all_name, "namespace": workload.namespace}
    spec = {
        "severities": {
            key: {"all": all_counts[key], "relevant": relevant_counts[key] if relevant else 0} for key in SEVERITY_KEYS
        },
        "vulnerabilitiesRef": {
            "all": ref,
            "relevant": {**ref, "name": relevant_name} if relevant else {"kind": "", "name": "", "namespace": ""},
        },
    }
    return _object("VulnerabilityManifestSummary", meta, spec)


def vulnerability_summary(namespace: str, summaries: list[JSON]) -> JSON:
    """The cluster-scoped VulnerabilitySummary of one namespace, adding up its manifest summaries."""
    totals = {key: {"all": 0, "relevant": 0} for key in SEVERITY_KEYS}
    for summary in summaries:
        for key in SEVERITY_KEYS:
            for scope in ("all", "relevant"):
                totals[key][scope] += summary["spec"]["severities"][key][scope]
    meta = Meta(
        name=namespace,
        namespace=None,
        labels={KEY + "workload-namespace": namespace},
        created=offset("VulnerabilitySummary", namespace),
    )
    refs = [
        {"kind": "vulnerabilitymanifestsummaries", "name": s["metadata"]["name"], "namespace": namespace}
        for s in summaries
    ]
    return _object("VulnerabilitySummary", meta, {"severities": totals, "vulnerabilitiesRef": refs})


def _pod_spec_prefix(kind: str) -> str:
    return {"CronJob": "spec.jobTemplate.spec.template.spec", "Pod": "spec"}.get(kind, "spec.template.spec")


def scanned_control(control_id: str, workload: Workload) -> JSON:
    """One value of `spec.controls` of a WorkloadConfigurationScan."""
    control = CONTROLS[control_id]
    failed = control_id in workload.failing_controls
    status = "failed" if failed else "passed"
    paths: list[JSON] = []
    if failed and control.fix_path:
        full_path = f"{_pod_spec_prefix(workload.kind)}.{control.fix_path}"
        if control.fix_value:
            paths.append({"failedPath": "", "fixPath": full_path, "fixPathValue": control.fix_value, "fixCommand": ""})
        else:
            paths.append({"failedPath": full_path, "fixPath": "", "fixPathValue": "", "fixCommand": ""})
    return {
        "controlID": control.id,
        "name": control.name,
        "severity": {"severity": control.severity, "scoreFactor": control.score_factor},
        "status": {"status": status, "subStatus": "", "info": ""},
        "rules": [
            {
                "name": control.rule,
                "status": {"status": status, "subStatus": ""},
                "controlConfigurations": {},
                "paths": paths,
                "appliedIgnoreRules": [],
                "relatedResourcesIDs": [],
            }
        ],
    }


def _scan_name(workload: Workload) -> str:
    prefix = f"{workload.api_group}-v1" if workload.api_group else "v1"
    return f"{prefix}-{workload.kind.lower()}-{workload.namespace}-{workload.name}"


def _scan_meta(kind: str, workload: Workload) -> Meta:
    name = _scan_name(workload)
    return Meta(
        name=name,
        namespace=workload.namespace,
        labels=workload_labels(workload, None),
        annotations={KEY + "wlid": workload.wlid},
        created=offset(kind, workload.namespace, name),
    )


def workload_configuration_scan(workload: Workload, control_ids: Iterable[str]) -> JSON:
    controls = {control_id: scanned_control(control_id, workload) for control_id in control_ids}
    spec = {"controls": controls, "relatedObjects": []}
    return _object("WorkloadConfigurationScan", _scan_meta("WorkloadConfigurationScan", workload), spec, False)


def _severity_totals(controls: Iterable[JSON]) -> JSON:
    counts = Counter(c["severity"]["severity"].lower() for c in controls if c["status"]["status"] == "failed")
    return {key: counts[key] for key in ("critical", "high", "medium", "low", "unknown")}


def workload_configuration_scan_summary(scan: JSON, workload: Workload) -> JSON:
    controls = scan["spec"]["controls"]
    spec = {
        "severities": _severity_totals(controls.values()),
        "controls": {
            control_id: {"controlID": c["controlID"], "severity": c["severity"], "status": c["status"]}
            for control_id, c in controls.items()
        },
    }
    meta = _scan_meta("WorkloadConfigurationScanSummary", workload)
    return _object("WorkloadConfigurationScanSummary", meta, spec, False)


def configuration_scan_summary(namespace: str, scans: list[JSON]) -> JSON:
    """The cluster-scoped ConfigurationScanSummary of one namespace."""
    totals = {key: 0 for key in ("critical", "high", "medium", "low", "unknown")}
    for scan in scans:
        for key, value in _severity_totals(scan["spec"]["controls"].values()).items():
            totals[key] += value
    meta = Meta(
        name=namespace,
        namespace=None,
        labels={KEY + "workload-namespace": namespace},
        created=offset("ConfigurationScanSummary", namespace),
    )
    refs = [
        {"namespace": namespace, "kind": "WorkloadConfigurationScanSummary", "name": scan["metadata"]["name"]}
        for scan in scans
    ]
    return _object("ConfigurationScanSummary", meta, {"severities": totals, "summaryRef": refs}, False)


_CATALOGERS = {
    "debian": ("deb", "dpkg-db-cataloger", "dpkg-db-entry"),
    "ubuntu": ("deb", "dpkg-db-cataloger", "dpkg-db-entry"),
    "alpine": ("apk", "apk-db-cataloger", "apk-db-entry"),
    "gobinary": ("go-module", "go-module-binary-cataloger", "go-module-buildinfo-entry"),
    "jar": ("java-archive", "java-archive-cataloger", "java-archive"),
    "python-pkg": ("python", "python-installed-package-cataloger", "python-package"),
    "node-pkg": ("npm", "javascript-package-cataloger", "javascript-npm-package"),
    "kubernetes": ("go-module", "go-module-binary-cataloger", "go-module-buildinfo-entry"),
}


def _syft_artifact(image: Image, package: Package, file_ids: dict[str, str]) -> JSON:
    package_type, cataloger, metadata_type = _CATALOGERS[package.ecosystem]
    path = "/" + package.path if package.path else _db_path(image)
    file_ids.setdefault(path, digest("file", image.ref, path)[:16])
    location = {
        "path": path,
        "layerID": sha256_ref("layer", image.ref, 1),
        "accessPath": path,
        "annotations": {"evidence": "primary"},
    }
    name = package.name.split(":")[-1]
    licenses = (
        [
            {
                "value": package.license,
                "spdxExpression": package.license,
                "type": "declared",
                "urls": [],
                "locations": [location],
            }
        ]
        if package.license
        else []
    )
    metadata: JSON = {"package": name, "version": package.version}
    if package_type in ("deb", "apk"):
        metadata.update({"source": package.source, "architecture": "amd64", "installedSize": len(name) * 97})
    return {
        "id": digest("syft", image.ref, package.ecosystem, package.name, package.version)[:16],
        "name": name,
        "version": package.version,
        "type": package_type,
        "foundBy": cataloger,
        "locations": [location],
        "licenses": licenses,
        "language": ECOSYSTEMS[package.ecosystem].grype_language,
        "cpes": [
            {
                "cpe": f"cpe:2.3:a:{name}:{name}:{quote(package.version, safe='.-_~')}:*:*:*:*:*:*:*",
                "source": "syft-generated",
            }
        ],
        "purl": image.purl(package.ecosystem, package.name, package.version),
        "metadataType": metadata_type,
        "metadata": metadata,
    }


def _db_path(image: Image) -> str:
    return "/lib/apk/db/installed" if image.os_family == "alpine" else "/var/lib/dpkg/status"


def syft_document(image: Image, packages: list[Package]) -> JSON:
    """A Syft JSON document (kubescape's `spec.syft`)."""
    file_ids: dict[str, str] = {}
    artifacts = [_syft_artifact(image, package, file_ids) for package in packages]
    relationships = [
        {"parent": artifact["id"], "child": file_ids[artifact["locations"][0]["path"]], "type": "evident-by"}
        for artifact in artifacts
    ]
    files = [
        {"id": file_id, "location": {"path": path, "layerID": sha256_ref("layer", image.ref, 1)}}
        for path, file_id in sorted(file_ids.items())
    ]
    return {
        "artifacts": artifacts,
        "artifactRelationships": relationships,
        "files": files,
        "source": {
            "id": digest("source", image.ref),
            "name": f"{image.registry}/{image.repository}",
            "version": image.digest,
            "type": "image",
            "metadata": _image_source(image),
        },
        "distro": OS_RELEASES.get(image.os_family, {}),
        "descriptor": {"name": "syft", "version": SYFT_VERSION},
        "schema": {
            "version": "16.0.4",
            "url": "https://raw.githubusercontent.com/anchore/syft/main/schema/json/schema-16.0.4.json",
        },
    }


def sbom_syft(image: Image, packages: list[Package]) -> JSON:
    """The image-level SBOMSyft (in the kubescape namespace)."""
    created = offset("SBOMSyft", image.ref)
    meta = Meta(
        name=image.slug,
        namespace=KUBESCAPE_NAMESPACE,
        labels=image_labels(image),
        annotations={
            KEY + "image-id": image.image_id,
            KEY + "image-tag": image.ref,
            KEY + "resource-size": str(len(packages)),
            KEY + "status": "ready",
            KEY + "tool-version": SYFT_VERSION,
        },
        created=created,
    )
    spec = {
        "metadata": {
            "tool": {"name": "syft", "version": SYFT_VERSION},
            "report": {"createdAt": timestamp(created)},
        },
        "syft": syft_document(image, packages),
    }
    return _object("SBOMSyft", meta, spec)


def sbom_syft_filtered(workload: Workload, container: str, image: Image, packages: list[Package]) -> JSON:
    """An SBOMSyftFiltered: the packages a container was seen using, with its workload identity."""
    name = workload.instance_slug(container)
    created = offset("SBOMSyftFiltered", workload.namespace, name)
    meta = Meta(
        name=name,
        namespace=KUBESCAPE_NAMESPACE,
        labels=workload_labels(workload, container),
        annotations={
            KEY + "image-id": image.image_id,
            KEY + "image-tag": image.ref,
            KEY + "instance-id": workload.instance_id(container),
            KEY + "status": "completed",
            KEY + "wlid": workload.wlid,
            KEY + "workload-container-name": container,
        },
        created=created,
    )
    spec = {
        "metadata": {
            "tool": {"name": "syft", "version": SYFT_VERSION},
            "report": {"createdAt": timestamp(created)},
        },
        "syft": syft_document(image, packages),
    }
    return _object("SBOMSyftFiltered", meta, spec)


def scanned_control_ids(workload: Workload) -> list[str]:
    """The controls kubescape evaluated for the workload: its failures plus the common ones it passed."""
    common = (
        "C-0009",
        "C-0013",
        "C-0016",
        "C-0017",
        "C-0018",
        "C-0034",
        "C-0055",
        "C-0057",
        "C-0260",
        "C-0270",
    )
    return sorted(set(common) | set(workload.failing_controls))
