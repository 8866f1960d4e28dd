"""Regenerate the bundled sample cluster: `python -m samplegen.build_bundle`, from the repository root.

Everything is derived from `samplegen.cluster` with a fixed seed, so re-running rewrites `exporter/samples/cluster/`
byte-for-byte; a test checks the committed files still match. Files mix the formats `--from-files` must read:
multi-document YAML, `kubectl get -o json` lists and a single JSON object.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from samplegen import compose, trivy
from samplegen import kubescape as ks
from samplegen.catalog import CHECKS, INFRA_CHECKS, RBAC_CHECKS, SECRET_SETS, Advisory, Check
from samplegen.cluster import (
    IMAGES,
    INFRA,
    K8S_COMPONENTS,
    NAMESPACE_AUDITS,
    NSA_CONTROLS,
    NSA_SPEC,
    PSS_CONTROLS,
    PSS_SPEC,
    RELEVANCY,
    ROLES,
    SECRETS_BY_IMAGE,
    VULN_COUNTS,
    WORKLOADS,
    Assessed,
)
from samplegen.common import JSON, Meta, object_meta, offset, with_managed_fields
from samplegen.model import Image, Workload

# The checkout's copy, not `sample_cluster_dir()`: that is wherever the package happens to be installed.
CLUSTER_DIR = Path(__file__).resolve().parents[1] / "exporter" / "samples" / "cluster"
NAMESPACES = ("shop", "payments", "monitoring", "kube-system")


def _image_key(image: Image) -> str:
    return next(key for key, candidate in IMAGES.items() if candidate == image)


def _advisories(image: Image) -> list[Advisory]:
    return image.pick(VULN_COUNTS[_image_key(image)])


def _assessed_report(kind: str, assessed: Assessed, catalog: dict[str, Check], with_timestamp: bool) -> JSON:
    target = trivy.Target(assessed.kind, assessed.name, assessed.namespace)
    checks = [
        trivy.check_entry(
            catalog[check_id],
            check_id not in assessed.failing,
            [trivy.check_message(catalog[check_id], target)],
        )
        for check_id in assessed.checks
    ]
    return trivy.checks_report(kind, target, checks, with_timestamp)


def trivy_workload_reports(workload: Workload) -> list[JSON]:
    """Every trivy report of one workload: config audit, then per container vulnerabilities, secrets, SBOM."""
    objects = [compose.config_audit_report(workload)]
    target = trivy.workload_target(workload)
    for index, container in enumerate(workload.containers):
        advisories = _advisories(container.image)
        objects.append(compose.vulnerability_report(workload, index, advisories))
        rules = SECRET_SETS.get(SECRETS_BY_IMAGE.get(_image_key(container.image), ""), ())
        objects.append(compose.exposed_secret_report(workload, index, rules))
        packages = container.image.packages(advisories)
        objects.append(trivy.sbom_report(target, container.name, container.image, packages))
    return objects


def kubescape_namespace_objects(workload: Workload) -> list[JSON]:
    """Kubescape objects kept in the workload's namespace: manifest summaries and configuration scans."""
    objects = []
    for container in workload.containers:
        advisories = _advisories(container.image)
        all_matches = [ks.grype_match(adv, container.image) for adv in advisories]
        relevant_name = workload.instance_slug(container.name) if workload.name in RELEVANCY else ""
        relevant = _relevant(advisories) if relevant_name else []
        objects.append(
            ks.vulnerability_manifest_summary(
                workload,
                container.name,
                container.image.slug,
                relevant_name,
                ks.severity_counts(all_matches),
                ks.severity_counts(ks.grype_match(adv, container.image) for adv in relevant),
            )
        )
    scan, summary = compose.workload_configuration_scans(workload)
    return [*objects, scan, summary]


def _relevant(advisories: list[Advisory]) -> list[Advisory]:
    """The advisories of packages a container was seen loading: every third one, a stable subset."""
    return advisories[::3]


def kubescape_storage_objects() -> tuple[list[JSON], list[JSON]]:
    """Objects kubevuln keeps in the kubescape namespace: (vulnerability manifests, SBOMs)."""
    manifests: list[JSON] = []
    sboms: list[JSON] = []
    seen: set[str] = set()
    for workload in WORKLOADS:
        for index, container in enumerate(workload.containers):
            image = container.image
            advisories = _advisories(image)
            if image.ref not in seen:
                seen.add(image.ref)
                manifests.append(compose.image_vulnerability_manifest(image, advisories))
                sboms.append(ks.sbom_syft(image, image.packages(advisories)))
            if workload.name in RELEVANCY:
                relevant = _relevant(advisories)
                manifests.append(compose.workload_vulnerability_manifest(workload, index, relevant))
                packages = [p for p in image.packages(relevant) if p.ecosystem != image.os_family][:12]
                sboms.append(ks.sbom_syft_filtered(workload, container.name, image, packages))
    return manifests, sboms


def config_map() -> JSON:
    """An object outside the report catalog: `--from-files` must skip and count it."""
    meta = Meta(
        name="frontend-config",
        namespace="shop",
        labels={"app.kubernetes.io/name": "frontend", "app.kubernetes.io/part-of": "shop"},
        created=offset("ConfigMap", "frontend-config"),
    )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(meta, "v1", "ConfigMap"),
        "data": {"API_BASE_URL": "https://api.shop.example.com", "FEATURE_FLAGS": "checkout-v2,wishlist"},
    }


def _failures() -> list[trivy.Failure]:
    """Every failed check in the cluster, as compliance reports aggregate them."""
    failures = []
    for workload in WORKLOADS:
        target = trivy.workload_target(workload)
        for check_id in workload.failing_checks:
            check = CHECKS[check_id]
            messages = tuple(trivy.check_message(check, target, c.name) for c in workload.containers)
            failures.append(trivy.Failure(check, f"{target.namespace}/{target.kind}/{target.name}", messages))
    for assessed in (*NAMESPACE_AUDITS, *INFRA):
        catalog = CHECKS if assessed.kind == "Namespace" else INFRA_CHECKS
        target = trivy.Target(assessed.kind, assessed.name, assessed.namespace)
        prefix = f"{assessed.namespace}/" if assessed.namespace else ""
        for check_id in assessed.failing:
            check = catalog[check_id]
            message = (trivy.check_message(check, target),)
            failures.append(trivy.Failure(check, f"{prefix}{assessed.kind}/{assessed.name}", message))
    return failures


def namespace_objects(namespace: str) -> list[JSON]:
    """Every object stored in `namespace`, trivy reports first."""
    workloads = [w for w in WORKLOADS if w.namespace == namespace]
    objects: list[JSON] = []
    for workload in workloads:
        objects.extend(trivy_workload_reports(workload))
    objects.extend(
        _assessed_report("RbacAssessmentReport", role, RBAC_CHECKS, False)
        for role in ROLES
        if role.namespace == namespace
    )
    objects.extend(
        _assessed_report("InfraAssessmentReport", pod, INFRA_CHECKS, False)
        for pod in INFRA
        if pod.namespace == namespace
    )
    for workload in workloads:
        objects.extend(kubescape_namespace_objects(workload))
    return objects


def cluster_objects(namespace_files: dict[str, list[JSON]]) -> list[JSON]:
    """Cluster-scoped objects (except the NSA compliance report, which gets a file of its own)."""
    k8s_advisories = list(K8S_COMPONENTS.pool)
    node = trivy.Target("Node", "cp-1", None)
    objects = [
        *(_assessed_report("ClusterConfigAuditReport", ns, CHECKS, True) for ns in NAMESPACE_AUDITS),
        *(_assessed_report("ClusterRbacAssessmentReport", r, RBAC_CHECKS, False) for r in ROLES if not r.namespace),
        *(_assessed_report("ClusterInfraAssessmentReport", n, INFRA_CHECKS, False) for n in INFRA if not n.namespace),
        trivy.vulnerability_report(
            node, None, K8S_COMPONENTS, [trivy.vulnerability(adv, K8S_COMPONENTS) for adv in k8s_advisories]
        ),
        trivy.sbom_report(node, None, K8S_COMPONENTS, K8S_COMPONENTS.packages(k8s_advisories)),
        trivy.compliance_report("k8s-pss-baseline-0.1", PSS_SPEC, PSS_CONTROLS, "summary", _failures()),
    ]
    for namespace, namespaced in namespace_files.items():
        summaries = [o for o in namespaced if o["kind"] == "VulnerabilityManifestSummary"]
        scans = [o for o in namespaced if o["kind"] == "WorkloadConfigurationScanSummary"]
        objects.append(ks.vulnerability_summary(namespace, summaries))
        objects.append(ks.configuration_scan_summary(namespace, scans))
    return objects


def _add_managed_fields(objects: list[JSON], kind: str) -> None:
    """Give the first `kind` object of `objects` the `metadata.managedFields` a server-side write leaves."""
    index = next(i for i, obj in enumerate(objects) if obj["kind"] == kind)
    objects[index] = with_managed_fields(objects[index], "trivy-operator", "report")


class _PlainDumper(yaml.SafeDumper):
    """A YAML dumper that writes repeated values out, as kubectl does, instead of `&id001` anchors."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _yaml(objects: list[JSON]) -> str:
    return yaml.dump_all(
        objects, Dumper=_PlainDumper, sort_keys=False, explicit_start=True, allow_unicode=True, width=120
    )


def _json(document: JSON) -> str:
    return json.dumps(document, indent=4, ensure_ascii=False) + "\n"


def _kube_list(objects: list[JSON]) -> str:
    return _json({"apiVersion": "v1", "items": objects, "kind": "List", "metadata": {"resourceVersion": ""}})


def render_bundle() -> dict[str, str]:
    """File name -> content of every file of the bundled sample cluster."""
    per_namespace = {namespace: namespace_objects(namespace) for namespace in NAMESPACES}
    per_namespace["shop"].append(config_map())
    manifests, sboms = kubescape_storage_objects()
    cluster = cluster_objects({ns: objs for ns, objs in per_namespace.items()})
    nsa = trivy.compliance_report("k8s-nsa-1.0", NSA_SPEC, NSA_CONTROLS, "all", _failures())
    _add_managed_fields(per_namespace["shop"], "VulnerabilityReport")
    _add_managed_fields(per_namespace["payments"], "ConfigAuditReport")
    _add_managed_fields(cluster, "ClusterRbacAssessmentReport")
    return {
        "shop.yaml": _yaml(per_namespace["shop"]),
        "payments.json": _kube_list(per_namespace["payments"]),
        "monitoring.yaml": _yaml(per_namespace["monitoring"]),
        "kube-system.json": _kube_list(per_namespace["kube-system"]),
        "kubescape-vulnerabilitymanifests.yaml": _yaml(manifests),
        "kubescape-sboms.yaml": _yaml(sboms),
        "cluster-scoped.yaml": _yaml(cluster),
        "clustercompliancereport-k8s-nsa.json": _json(nsa),
    }


def write_bundle(directory: Path = CLUSTER_DIR) -> list[Path]:
    """Write the bundle into `directory`, removing report files it no longer produces."""
    directory.mkdir(parents=True, exist_ok=True)
    files = render_bundle()
    for stale in directory.iterdir():
        if stale.suffix in (".yaml", ".yml", ".json") and stale.name not in files:
            stale.unlink()
    written = []
    for name, content in files.items():
        path = directory / name
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


def main() -> int:
    for path in write_bundle():
        print(f"{path.stat().st_size:>9}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
