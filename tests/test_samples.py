"""The embedded sample cluster and the synthetic generator: shapes the exporter and DefectDojo rely on."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.samples import sample_cluster_dir
from samplegen import synthetic
from samplegen.build_bundle import render_bundle
from tests.upstream_crds import trivy_crd_paths

REPO = Path(__file__).resolve().parents[1]

TRIVY = "aquasecurity.github.io/v1alpha1"
KUBESCAPE = "spdx.softwarecomposition.kubescape.io/v1beta1"
NAMESPACED = {
    TRIVY: {
        "VulnerabilityReport",
        "ConfigAuditReport",
        "ExposedSecretReport",
        "RbacAssessmentReport",
        "InfraAssessmentReport",
        "SbomReport",
    },
    KUBESCAPE: {
        "VulnerabilityManifest",
        "VulnerabilityManifestSummary",
        "WorkloadConfigurationScan",
        "WorkloadConfigurationScanSummary",
        "SBOMSyft",
        "SBOMSyftFiltered",
    },
}
CLUSTER = {
    TRIVY: {
        "ClusterVulnerabilityReport",
        "ClusterConfigAuditReport",
        "ClusterRbacAssessmentReport",
        "ClusterInfraAssessmentReport",
        "ClusterComplianceReport",
        "ClusterSbomReport",
    },
    KUBESCAPE: {"VulnerabilitySummary", "ConfigurationScanSummary"},
}
CATALOG = {(api, kind) for table in (NAMESPACED, CLUSTER) for api, kinds in table.items() for kind in kinds}
# What DefectDojo's trivy_operator handlers can map (TRIVY_SEVERITIES); anything else raises KeyError there.
DOJO_TRIVY_SEVERITIES = {"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"}
GRYPE_SEVERITIES = {"Critical", "High", "Medium", "Low", "Negligible", "Unknown"}
PER_CONTAINER = {"VulnerabilityReport", "ExposedSecretReport", "SbomReport"}
RESOURCE_LABELS = (
    "trivy-operator.resource.kind",
    "trivy-operator.resource.name",
    "trivy-operator.resource.namespace",
)
# `workload-api-group` is empty for core kinds (Pod), so only its presence is required.
WORKLOAD_LABELS = tuple(f"kubescape.io/workload-{key}" for key in ("api-version", "kind", "name", "namespace"))
JSONObj = dict[str, Any]
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _documents(path: Path) -> Iterator[Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        yield json.loads(text)
    else:
        yield from yaml.load_all(text, Loader=_LOADER)


def _load(directory: Path) -> list[tuple[str, JSONObj]]:
    objects: list[tuple[str, JSONObj]] = []
    for path in sorted(directory.iterdir()):
        for document in _documents(path):
            items = document["items"] if document.get("kind") == "List" else [document]
            objects.extend((path.name, item) for item in items)
    return objects


@pytest.fixture(scope="module")
def bundle() -> list[tuple[str, JSONObj]]:
    return _load(sample_cluster_dir())


@pytest.fixture(scope="module")
def reports(bundle: list[tuple[str, JSONObj]]) -> list[JSONObj]:
    return [obj for _, obj in bundle if (obj["apiVersion"], obj["kind"]) in CATALOG]


def _of_kind(reports: list[JSONObj], *kinds: str) -> list[JSONObj]:
    return [obj for obj in reports if obj["kind"] in kinds]


def _trivy(reports: list[JSONObj]) -> list[JSONObj]:
    return [obj for obj in reports if obj["apiVersion"] == TRIVY]


def test_sample_dir_is_the_packaged_cluster_directory() -> None:
    directory = sample_cluster_dir()
    assert directory.is_dir()
    assert directory.name == "cluster"
    assert {path.suffix for path in directory.iterdir()} == {".yaml", ".json"}


def test_files_mix_every_format_the_reader_accepts(bundle: list[tuple[str, JSONObj]]) -> None:
    formats = set()
    for path in sample_cluster_dir().iterdir():
        assert "&id0" not in path.read_text(encoding="utf-8"), f"{path.name}: kubectl writes no YAML anchors"
        documents = list(_documents(path))
        if path.suffix == ".yaml" and len(documents) > 1:
            formats.add("multi-document yaml")
        elif documents[0].get("kind") == "List":
            assert documents[0]["apiVersion"] == "v1"
            assert all("apiVersion" in item and "kind" in item for item in documents[0]["items"])
            formats.add("kubectl list")
        elif path.suffix == ".json":
            formats.add("single json object")
    assert formats == {"multi-document yaml", "kubectl list", "single json object"}


def test_every_object_has_api_version_kind_and_name(bundle: list[tuple[str, JSONObj]]) -> None:
    for file, obj in bundle:
        assert obj.get("apiVersion"), file
        assert obj.get("kind"), file
        assert obj.get("metadata", {}).get("name"), (file, obj.get("kind"))


def test_namespaced_kinds_have_a_namespace_and_cluster_kinds_none(reports: list[JSONObj]) -> None:
    for obj in reports:
        key = (obj["kind"], obj["metadata"]["name"])
        if obj["kind"] in NAMESPACED[obj["apiVersion"]]:
            assert obj["metadata"].get("namespace"), key
        else:
            assert "namespace" not in obj["metadata"], key


def test_every_catalog_kind_is_present_and_names_are_unique(reports: list[JSONObj]) -> None:
    assert {(obj["apiVersion"], obj["kind"]) for obj in reports} == CATALOG
    keys = Counter((obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]) for obj in reports)
    assert [key for key, count in keys.items() if count > 1] == []


def test_exactly_one_object_outside_the_catalog(bundle: list[tuple[str, JSONObj]]) -> None:
    outside = [obj for _, obj in bundle if (obj["apiVersion"], obj["kind"]) not in CATALOG]
    assert [(obj["apiVersion"], obj["kind"]) for obj in outside] == [("v1", "ConfigMap")]


def test_the_exporter_reader_takes_the_reports_and_counts_the_configmap() -> None:
    from exporter import filesource

    scan = filesource.FileScan()
    found = list(filesource.iter_report_objects(sample_cluster_dir(), scan))
    assert scan.unreadable == []
    assert scan.ignored == {"v1/ConfigMap": 1}
    assert len(found) > 100


def test_namespaces_and_the_frontend_replicaset(reports: list[JSONObj]) -> None:
    namespaces = {obj["metadata"].get("namespace") for obj in reports} - {None}
    assert {"shop", "payments", "monitoring", "kube-system", "kubescape"} <= namespaces
    frontend = [
        obj
        for obj in _of_kind(reports, "VulnerabilityReport")
        if obj["metadata"]["labels"]["trivy-operator.resource.name"] == "frontend-7c9d8f6b5d"
    ]
    assert [obj["metadata"]["name"] for obj in frontend] == ["replicaset-frontend-7c9d8f6b5d-frontend"]
    assert frontend[0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"


def test_metadata_looks_like_the_api_server_wrote_it(reports: list[JSONObj]) -> None:
    uid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    stamp = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
    for obj in reports:
        meta = obj["metadata"]
        assert uid.match(meta["uid"]), meta["name"]
        assert meta["resourceVersion"].isdigit()
        assert stamp.match(meta["creationTimestamp"])
    uids = [obj["metadata"]["uid"] for obj in reports]
    assert len(set(uids)) == len(uids)
    with_fields = [obj for obj in reports if "managedFields" in obj["metadata"]]
    assert 2 <= len(with_fields) <= 5
    assert all(entry["fieldsType"] == "FieldsV1" for obj in with_fields for entry in obj["metadata"]["managedFields"])


def test_trivy_reports_carry_the_labels_defectdojo_builds_its_service_from(reports: list[JSONObj]) -> None:
    for obj in _trivy(reports):
        labels = obj["metadata"].get("labels")
        assert labels, obj["metadata"]["name"]  # the parser returns no findings for an object without labels
        if obj["kind"] == "ClusterComplianceReport":
            continue
        for key in RESOURCE_LABELS[:2]:
            assert labels.get(key), (obj["metadata"]["name"], key)
        assert labels[RESOURCE_LABELS[2]] == obj["metadata"].get("namespace", "")
        if obj["kind"] in PER_CONTAINER:
            assert labels.get("trivy-operator.container.name"), obj["metadata"]["name"]
        owner = obj["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"]) == (labels[RESOURCE_LABELS[0]], labels[RESOURCE_LABELS[1]])


def _trivy_severities(obj: JSONObj) -> Iterator[str]:
    report = obj.get("report", {})
    for key in ("vulnerabilities", "checks", "secrets"):
        for entry in report.get(key, []):
            yield entry["severity"]
    status = obj.get("status", {})
    for result in status.get("detailReport", {}).get("results", []):
        yield result["severity"]
        yield from (check["severity"] for check in result["checks"])
    yield from (check["severity"] for check in status.get("summaryReport", {}).get("controlCheck", []))
    yield from (control["severity"] for control in obj.get("spec", {}).get("compliance", {}).get("controls", []))


def test_trivy_reports_use_only_severities_defectdojo_knows(reports: list[JSONObj]) -> None:
    seen = Counter(severity for obj in _trivy(reports) for severity in _trivy_severities(obj))
    assert set(seen) == DOJO_TRIVY_SEVERITIES


def test_vulnerability_entries_have_what_the_trivy_parser_reads(reports: list[JSONObj]) -> None:
    entries = [
        entry
        for obj in _of_kind(reports, "VulnerabilityReport", "ClusterVulnerabilityReport")
        for entry in obj["report"]["vulnerabilities"]
    ]
    assert len(entries) > 200
    for entry in entries:
        for key in ("vulnerabilityID", "resource", "installedVersion", "title", "primaryLink"):
            assert isinstance(entry[key], str) and entry[key], (entry["vulnerabilityID"], key)
        assert isinstance(entry["fixedVersion"], str)
        assert isinstance(entry["links"], list) and entry["links"]
        assert isinstance(entry.get("score", 0.0), float)
        assert entry["class"] in ("os-pkgs", "lang-pkgs")
    assert any(entry["fixedVersion"] for entry in entries)
    assert any(not entry["fixedVersion"] for entry in entries)
    assert any("packagePath" in entry for entry in entries)


def test_vulnerability_summaries_count_the_entries(reports: list[JSONObj]) -> None:
    for obj in _of_kind(reports, "VulnerabilityReport", "ClusterVulnerabilityReport"):
        counts = Counter(entry["severity"] for entry in obj["report"]["vulnerabilities"])
        summary = obj["report"]["summary"]
        assert summary["criticalCount"] == counts["CRITICAL"]
        assert summary["highCount"] == counts["HIGH"]
        assert summary["unknownCount"] == counts["UNKNOWN"]


def test_checks_have_what_the_trivy_parser_reads_failed_and_passed(reports: list[JSONObj]) -> None:
    kinds = (
        "ConfigAuditReport",
        "ClusterConfigAuditReport",
        "RbacAssessmentReport",
        "ClusterRbacAssessmentReport",
        "InfraAssessmentReport",
        "ClusterInfraAssessmentReport",
    )
    outcomes: Counter[tuple[str, bool]] = Counter()
    for obj in _of_kind(reports, *kinds):
        for check in obj["report"]["checks"]:
            for key in ("checkID", "title", "description", "category", "remediation"):
                assert isinstance(check[key], str) and check[key], (obj["metadata"]["name"], key)
            assert isinstance(check["success"], bool)
            messages = check.get("messages", [])
            assert all(isinstance(message, str) for message in messages)
            assert bool(messages) != check["success"]
            outcomes[(obj["kind"], check["success"])] += 1
        failed = Counter(check["severity"] for check in obj["report"]["checks"] if not check["success"])
        assert obj["report"]["summary"]["highCount"] == failed["HIGH"]
    assert all(outcomes[(kind, True)] and outcomes[(kind, False)] for kind in kinds)
    assert sum(outcomes[(kind, True)] for kind in kinds) > 100


def test_exposed_secrets_are_masked_and_complete(reports: list[JSONObj]) -> None:
    secrets = [s for obj in _of_kind(reports, "ExposedSecretReport") for s in obj["report"]["secrets"]]
    for secret in secrets:
        for key in ("ruleID", "title", "severity", "match", "target", "category"):
            assert isinstance(secret[key], str) and secret[key], key
        assert "*" in secret["match"]
    assert "AWS_SECRET_ACCESS_KEY=****************" in {secret["match"] for secret in secrets}
    assert any(not obj["report"]["secrets"] for obj in _of_kind(reports, "ExposedSecretReport"))


def test_compliance_reports_fill_what_the_compliance_handlers_read(reports: list[JSONObj]) -> None:
    compliance = {obj["metadata"]["name"]: obj for obj in _of_kind(reports, "ClusterComplianceReport")}
    assert set(compliance) == {"k8s-nsa-1.0", "k8s-pss-baseline-0.1"}
    nsa = compliance["k8s-nsa-1.0"]["status"]
    assert isinstance(nsa["detailReport"]["description"], str)
    failed = [check for result in nsa["detailReport"]["results"] for check in result["checks"]]
    assert failed and all(check["success"] is False and check["severity"] for check in failed)
    pss = compliance["k8s-pss-baseline-0.1"]
    assert pss["status"]["summary"]["failCount"] > 0
    descriptions = {c["id"]: c["description"] for c in pss["spec"]["compliance"]["controls"]}
    for control in pss["status"]["summaryReport"]["controlCheck"]:
        if control["totalFail"] > 0:
            assert isinstance(descriptions[control["id"]], str)


def test_vulnerability_manifest_payloads_are_grype_documents(reports: list[JSONObj]) -> None:
    manifests = _of_kind(reports, "VulnerabilityManifest")
    assert manifests
    for obj in manifests:
        payload = obj["spec"]["payload"]
        assert payload["matches"], obj["metadata"]["name"]
        assert payload["descriptor"]["name"] == "grype"
        for match in payload["matches"]:
            vulnerability, artifact = match["vulnerability"], match["artifact"]
            assert vulnerability["id"]
            assert vulnerability["severity"] in GRYPE_SEVERITIES
            assert artifact["name"] and artifact["version"]
            assert artifact["purl"].startswith("pkg:")
            assert all(location["path"] for location in artifact["locations"])
            assert isinstance(match["matchDetails"], list) and match["matchDetails"][0]["matcher"]
            related = [cvss for rel in match["relatedVulnerabilities"] for cvss in rel["cvss"]]
            assert all(cvss["vector"].startswith("CVSS:3.1/") for cvss in vulnerability["cvss"] + related)


def test_kubescape_objects_carry_the_workload_identity(reports: list[JSONObj]) -> None:
    for obj in _of_kind(reports, "VulnerabilityManifestSummary", "WorkloadConfigurationScan"):
        labels = obj["metadata"]["labels"]
        assert all(labels.get(key) for key in WORKLOAD_LABELS), obj["metadata"]["name"]
        assert "kubescape.io/workload-api-group" in labels
        assert labels["kubescape.io/workload-namespace"] == obj["metadata"]["namespace"]
        assert obj["metadata"]["annotations"]["kubescape.io/wlid"].startswith("wlid://cluster-")
    for obj in _of_kind(reports, "VulnerabilityManifest", "SBOMSyft", "SBOMSyftFiltered"):
        annotations = obj["metadata"]["annotations"]
        assert obj["metadata"]["namespace"] == "kubescape"
        assert annotations["kubescape.io/image-id"] and annotations["kubescape.io/image-tag"]
        if "kubescape.io/wlid" in annotations:
            assert all(obj["metadata"]["labels"].get(key) for key in WORKLOAD_LABELS)
            assert annotations["kubescape.io/workload-container-name"]
    names = {obj["metadata"]["name"] for obj in _of_kind(reports, "VulnerabilityManifest")}
    for summary in _of_kind(reports, "VulnerabilityManifestSummary"):
        assert summary["spec"]["vulnerabilitiesRef"]["all"]["name"] in names


def test_workload_configuration_scans_have_failed_and_passed_controls(reports: list[JSONObj]) -> None:
    statuses: Counter[str] = Counter()
    for obj in _of_kind(reports, "WorkloadConfigurationScan"):
        for control_id, control in obj["spec"]["controls"].items():
            assert control["controlID"] == control_id
            assert control["severity"]["scoreFactor"] > 0
            assert all(rule["status"]["status"] in ("passed", "failed") for rule in control["rules"])
            statuses[control["status"]["status"]] += 1
    assert statuses["failed"] > 10 and statuses["passed"] > 10


def test_sboms_are_small_but_valid(reports: list[JSONObj]) -> None:
    for obj in _of_kind(reports, "SbomReport", "ClusterSbomReport"):
        bom = obj["report"]["components"]
        assert bom["bomFormat"] == "CycloneDX" and bom["specVersion"]
        assert obj["report"]["summary"]["componentsCount"] == len(bom["components"])
    for obj in _of_kind(reports, "SBOMSyft", "SBOMSyftFiltered"):
        syft = obj["spec"]["syft"]
        assert syft["artifacts"] and syft["descriptor"]["name"] == "syft"
        ids = {artifact["id"] for artifact in syft["artifacts"]}
        assert all(rel["parent"] in ids for rel in syft["artifactRelationships"])


def _crd_schemas() -> dict[str, JSONObj]:
    schemas = {}
    for path in trivy_crd_paths():
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        schemas[crd["spec"]["names"]["kind"]] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schemas


_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
}


def _violations(value: Any, schema: JSONObj, path: str) -> Iterator[str]:
    """The ways `value` breaks an openAPIV3Schema: types, required keys, enums, patterns, nested schemas."""
    expected = schema.get("type")
    if expected and (not isinstance(value, _TYPES[expected]) or (expected != "boolean" and isinstance(value, bool))):
        yield f"{path}: {type(value).__name__} is not {expected}"
        return
    if "enum" in schema and value not in schema["enum"]:
        yield f"{path}: {value!r} not in {schema['enum']}"
    if "pattern" in schema and not re.search(schema["pattern"], value):
        yield f"{path}: {value!r} does not match the pattern"
    if isinstance(value, dict):
        yield from (f"{path}.{key}: required" for key in schema.get("required", []) if key not in value)
        for key, item in value.items():
            if key in schema.get("properties", {}):
                yield from _violations(item, schema["properties"][key], f"{path}.{key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                yield from _violations(item, schema["additionalProperties"], f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from _violations(item, schema["items"], f"{path}[{index}]")


def test_trivy_reports_validate_against_the_crds(reports: list[JSONObj]) -> None:
    schemas = _crd_schemas()
    checked: Counter[str] = Counter()
    for obj in _trivy(reports):
        problems = list(_violations(obj, schemas[obj["kind"]], obj["kind"]))
        assert problems == [], obj["metadata"]["name"]
        checked[obj["kind"]] += 1
    assert set(checked) == CLUSTER[TRIVY] | NAMESPACED[TRIVY]


def test_the_validator_catches_a_broken_report(reports: list[JSONObj]) -> None:
    report = json.loads(json.dumps(_of_kind(reports, "VulnerabilityReport")[0]))
    del report["report"]["vulnerabilities"][0]["fixedVersion"]
    report["report"]["vulnerabilities"][1]["severity"] = "NONE"
    problems = list(_violations(report, _crd_schemas()["VulnerabilityReport"], "v"))
    assert len(problems) == 2


def test_the_generator_is_deterministic_and_the_committed_bundle_is_fresh() -> None:
    first = render_bundle()
    assert render_bundle() == first
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in sample_cluster_dir().iterdir()}
    assert on_disk == first, "run `python -m samplegen.build_bundle` and commit exporter/samples/cluster"


def test_bundle_and_report_sizes_are_realistic(reports: list[JSONObj]) -> None:
    total = sum(path.stat().st_size for path in sample_cluster_dir().iterdir())
    assert 1_000_000 <= total <= 3_000_000
    sizes = sorted(len(json.dumps(obj)) for obj in _of_kind(reports, "VulnerabilityReport"))
    assert sizes[0] >= 10_000
    assert sizes[-1] <= 60_000
    assert 20_000 <= sizes[len(sizes) // 2] <= 40_000


@pytest.mark.parametrize("target", [6_000, 10_000, 30_000, 60_000, 250_000])
@pytest.mark.parametrize(("namespace", "index"), [("team-00", 0), ("payments", 7), ("ns-x", 123)])
def test_synthetic_vulnerability_reports_hit_their_size(namespace: str, index: int, target: int) -> None:
    report = synthetic.vulnerability_report(namespace, index, target_bytes=target)
    assert 0.8 * target <= len(json.dumps(report)) <= 1.2 * target
    assert report["kind"] == "VulnerabilityReport" and report["metadata"]["namespace"] == namespace


@settings(max_examples=25, deadline=None)
@given(
    namespace=st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True),
    index=st.integers(min_value=0, max_value=10_000),
    target=st.integers(min_value=8_000, max_value=120_000),
)
def test_synthetic_sizes_hold_for_any_arguments(namespace: str, index: int, target: int) -> None:
    report = synthetic.vulnerability_report(namespace, index, target_bytes=target)
    assert 0.8 * target <= len(json.dumps(report)) <= 1.2 * target
    manifest = synthetic.vulnerability_manifest(namespace, index, target_bytes=target)
    assert 0.8 * target <= len(json.dumps(manifest)) <= 1.2 * target


def test_synthetic_makers_are_deterministic_in_their_arguments() -> None:
    makers = (
        synthetic.vulnerability_report,
        synthetic.config_audit_report,
        synthetic.exposed_secret_report,
        synthetic.vulnerability_manifest,
        synthetic.workload_configuration_scan,
    )
    for make in makers:
        assert make("team-01", 4) == make("team-01", 4)
        assert make("team-01", 4) != make("team-01", 5)
        assert make("team-01", 4) != make("team-02", 4)


def test_synthetic_cluster_is_a_valid_mix_dominated_by_vulnerability_reports() -> None:
    objects = list(synthetic.synthetic_cluster(200, namespaces=7))
    assert len(objects) == 200
    assert list(synthetic.synthetic_cluster(200, namespaces=7)) == objects
    kinds = Counter(obj["kind"] for obj in objects)
    assert set(kinds) == {
        "VulnerabilityReport",
        "ConfigAuditReport",
        "ExposedSecretReport",
        "VulnerabilityManifest",
        "WorkloadConfigurationScan",
    }
    assert kinds["VulnerabilityReport"] > len(objects) / 2
    keys = {(obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]) for obj in objects}
    assert len(keys) == len(objects)
    trivy_namespaces = {obj["metadata"]["namespace"] for obj in objects if obj["apiVersion"] == TRIVY}
    assert len(trivy_namespaces) == 7
    for obj in objects:
        if obj["apiVersion"] == TRIVY:
            assert set(_trivy_severities(obj)) <= DOJO_TRIVY_SEVERITIES
            assert all(obj["metadata"]["labels"].get(key) for key in RESOURCE_LABELS)
        else:
            assert all(obj["metadata"]["labels"].get(key) for key in WORKLOAD_LABELS)
