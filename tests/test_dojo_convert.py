"""The converters against the DefectDojo parser port: every finding a CR holds arrives, with its identity.

Expected findings are computed from the source CRs here, independently of the converters (counts and key fields:
id, severity, component, version, service), then compared with what `tests.dojo_parsers.parse` makes of the
converted document. A converter that loses, duplicates or misnames a finding fails these tests.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter import catalog
from exporter.dojo import convert
from exporter.filesource import FileScan, iter_report_objects
from exporter.samples import sample_cluster_dir
from samplegen import synthetic
from tests.dojo_parsers import (
    ANCHORE_GRYPE,
    KUBESCAPE,
    TRIVY_OPERATOR,
    ParserError,
    _uniform_vulnid,
    hash_code,
    parse,
)

Key = tuple[Any, ...]
TRIVY_GRADES = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low", "moderate": "Medium"}
GRYPE_GRADES = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low", "moderate": "Medium"}
KUBESCAPE_GRADES = {"critical": "Critical", "high": "High", "medium": "Medium", "low": "Low"}

# The Deployment each ReplicaSet of the sample and the synthetic cluster belongs to, read off the names by hand
# (`<deployment>-<pod-template-hash>`), not computed by the code under test.
DEPLOYMENT_OF_REPLICASET = {
    "frontend-7c9d8f6b5d": "frontend", "cart-dh5w5sdftf": "cart", "coredns-5d78c9869d": "coredns",
    "grafana-8m7prh5tfk": "grafana", "payments-api-6d4f9c8b7f": "payments-api",
    "api-0000-b6898sbj5c": "api-0000", "api-0000-r7m2lwfw5w": "api-0000", "api-0000-wrsrfblk9v": "api-0000",
    "api-0000-x8nlnc6wnr": "api-0000", "api-0010-4w57h9n7ls": "api-0010", "api-0010-5b6s2x5mn9": "api-0010",
    "api-0010-5tp446vr26": "api-0010", "api-0010-8k6bfxqbp5": "api-0010", "api-0020-4dxh4vwx5p": "api-0020",
    "api-0020-ccb9gg266h": "api-0020", "api-0020-rvwljqvd25": "api-0020", "api-0020-vcpxt484m9": "api-0020",
    "ingest-0005-62cr55cbnm": "ingest-0005", "ingest-0005-mbh8lgptg2": "ingest-0005",
    "ingest-0005-vzctvx6lt5": "ingest-0005", "ingest-0005-zmd992q44h": "ingest-0005",
    "ingest-0015-6frb7vmtv7": "ingest-0015", "ingest-0015-bz2hff6spp": "ingest-0015",
    "ingest-0015-pmwg44r4kx": "ingest-0015", "ingest-0015-tpwhlc966z": "ingest-0015",
    "ingest-0025-8d8kd7z8wk": "ingest-0025", "ingest-0025-8jv5cpgfkp": "ingest-0025",
    "ingest-0025-8nc8r7mlgs": "ingest-0025", "ingest-0025-mv7jn7mm46": "ingest-0025",
    "notifier-0009-4wfzdhgrdb": "notifier-0009", "notifier-0019-dg69sz5f58": "notifier-0019",
    "notifier-0029-dcshkh5vmq": "notifier-0029", "search-0004-nwdjf2b52d": "search-0004",
    "search-0014-b55h7s2jgw": "search-0014", "search-0024-jmlpffdlvj": "search-0024",
}  # fmt: skip
GENERATED_HASH = "-6d4cf56db6"
"""The pod-template-hash the property tests append to a Deployment's name (names without `-` otherwise)."""

# A kubescape workload-kind label -> the kind as the API spells it (some objects carry it in lower case).
API_KIND = {
    "Deployment": "Deployment", "deployment": "Deployment", "StatefulSet": "StatefulSet", "statefulset": "StatefulSet",
    "DaemonSet": "DaemonSet", "daemonset": "DaemonSet", "CronJob": "CronJob", "cronjob": "CronJob", "Pod": "Pod",
    "pod": "Pod",
}  # fmt: skip


def _grade(table: Mapping[str, str], value: Any) -> str:
    return table.get(value.strip().lower(), "Info") if isinstance(value, str) else "Info"


def _workload_service(obj: Mapping[str, Any]) -> str:
    """The service a trivy finding must carry: the labels' identity, a ReplicaSet read as its Deployment (a name
    neither in the table nor generated with the hash stays a ReplicaSet)."""
    labels = obj["metadata"]["labels"]
    kind, name = labels["trivy-operator.resource.kind"], labels["trivy-operator.resource.name"]
    if kind == "ReplicaSet" and name in DEPLOYMENT_OF_REPLICASET:
        kind, name = "Deployment", DEPLOYMENT_OF_REPLICASET[name]
    elif kind == "ReplicaSet" and name.endswith(GENERATED_HASH):
        kind, name = "Deployment", name.removesuffix(GENERATED_HASH)
    service = f"{labels.get('trivy-operator.resource.namespace', '')}/{kind}/{name}"
    container = labels.get("trivy-operator.container.name")
    return f"{service}/{container}" if container else service


def expected_trivy(objects: Iterable[Mapping[str, Any]]) -> Counter[Key]:
    """(id, severity, component, version, service) of every finding the CRs hold: vulnerabilities, failed checks,
    secrets and compliance failures; an entry equal to another in every field DefectDojo hashes is that finding
    again, not another one (DefectDojo would merge them, then close one at the next reimport)."""
    distinct: dict[tuple[Any, ...], Key] = {}
    for obj in objects:
        report = obj.get("report") or {}
        if report:
            service = _workload_service(obj)
        for vuln in report.get("vulnerabilities") or []:
            severity = _grade(TRIVY_GRADES, vuln.get("severity"))
            hashed = (service, "v", vuln["vulnerabilityID"], severity, vuln["resource"], vuln["installedVersion"],
                      vuln.get("title"), vuln.get("fixedVersion"))  # fmt: skip
            distinct[hashed] = (vuln["vulnerabilityID"], severity, vuln["resource"], vuln["installedVersion"], service)
        for check in report.get("checks") or []:
            if check.get("success") is not True:
                severity = _grade(TRIVY_GRADES, check.get("severity"))
                hashed = (service, "c", check["checkID"], severity, check.get("title"), check.get("description"))
                distinct[hashed] = (_uniform_vulnid(check["checkID"]), severity, None, None, service)
        for secret in report.get("secrets") or []:
            severity = _grade(TRIVY_GRADES, secret.get("severity"))
            hashed = (service, "s", secret["ruleID"], severity, secret.get("target"), secret.get("title"),
                      secret.get("match"), secret.get("category"))  # fmt: skip
            distinct[hashed] = (None, severity, None, None, service)  # the ruleID is in the description only
        status = obj.get("status") or {}
        for result in (status.get("detailReport") or {}).get("results") or []:
            for check in result.get("checks") or []:
                if check.get("success") is not True:
                    severity = _grade(TRIVY_GRADES, check.get("severity") or result.get("severity"))
                    hashed = ("d", result.get("id"), orjson.dumps(check, option=orjson.OPT_SORT_KEYS), severity)
                    distinct[hashed] = (_uniform_vulnid(check["checkID"]), severity, None, None, None)
        controls = {c["id"]: c for c in ((obj.get("spec") or {}).get("compliance") or {}).get("controls") or []}
        for entry in (status.get("summaryReport") or {}).get("controlCheck") or []:
            if entry.get("totalFail", 0) > 0:
                first = ([check["id"] for check in controls.get(entry["id"], {}).get("checks", [])] or [None])[0]
                severity = _grade(TRIVY_GRADES, entry.get("severity"))
                distinct[("t", entry["id"], entry.get("name"), severity, entry.get("totalFail"))] = (
                    first, severity, None, None, None
                )  # fmt: skip
    return Counter(distinct.values())


def parsed_keys(findings: Iterable[Any]) -> Counter[Key]:
    return Counter(
        ((f.vulnerability_ids or (None,))[0], f.severity, f.component_name, f.component_version, f.service)
        for f in findings
    )


def expected_grype(manifest: Mapping[str, Any]) -> Counter[Key]:
    """One finding per (id, package, version): the parser merges repeats of a title."""
    seen: dict[Key, str] = {}
    for match in manifest["spec"]["payload"]["matches"]:
        vuln, artifact = match["vulnerability"], match["artifact"]
        title = (vuln["id"], artifact["name"], artifact["version"])
        seen.setdefault(title, _grade(GRYPE_GRADES, vuln.get("severity")))
    return Counter((vid, severity, name, version, None) for (vid, name, version), severity in seen.items())


def expected_kubescape(scans: Iterable[Mapping[str, Any]]) -> Counter[Key]:
    """(controlID, severity, resourceID) of every failed control; resourceID names the namespace."""
    keys: Counter[Key] = Counter()
    for scan in scans:
        labels = scan["metadata"]["labels"]
        group = labels.get("kubescape.io/workload-api-group", "")
        version = labels.get("kubescape.io/workload-api-version", "v1")
        resource = (
            f"{group}/{version}/{labels['kubescape.io/workload-namespace']}/"
            f"{API_KIND[labels['kubescape.io/workload-kind']]}/{labels['kubescape.io/workload-name']}"
        )
        for control_id, control in scan["spec"]["controls"].items():
            if control["status"]["status"] == "failed":
                keys[(control_id, _grade(KUBESCAPE_GRADES, control["severity"]["severity"]), resource)] += 1
    return keys


def kubescape_keys(findings: Iterable[Any]) -> Counter[Key]:
    return Counter((f.vulnerability_ids[0], f.severity, f.component_name) for f in findings)


def sample_by_kind() -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for kind, obj in iter_report_objects(sample_cluster_dir(), FileScan()):
        grouped[kind.kind].append(obj)
    return grouped


SAMPLE = sample_by_kind()
TRIVY_KINDS = [kind.kind for kind in catalog.CATALOG if kind.dojo == catalog.TRIVY_OPERATOR_SCAN]
SYNTHETIC = list(synthetic.synthetic_cluster(120, namespaces=4))


@pytest.mark.parametrize("kind", TRIVY_KINDS)
def test_every_trivy_kind_of_the_sample_arrives_whole(kind: str) -> None:
    objects = SAMPLE[kind]
    expected = expected_trivy(objects)
    assert expected, f"the sample has no {kind} with findings: this test would prove nothing"
    findings = parse(TRIVY_OPERATOR, convert.trivy_operator_document(objects))
    assert parsed_keys(findings) == expected


def test_the_whole_trivy_sample_in_one_document() -> None:
    objects = [obj for kind in TRIVY_KINDS for obj in SAMPLE[kind]]
    document = convert.trivy_operator_document(objects)
    assert isinstance(orjson.loads(document), list)
    assert parsed_keys(parse(TRIVY_OPERATOR, document)) == expected_trivy(objects)


@pytest.mark.parametrize("manifest", SAMPLE["VulnerabilityManifest"], ids=lambda m: m["metadata"]["name"])
def test_every_sample_vulnerability_manifest_arrives_whole(manifest: dict[str, Any]) -> None:
    document = convert.grype_document(manifest)
    assert document is not None
    assert parsed_keys(parse(ANCHORE_GRYPE, document)) == expected_grype(manifest)


def test_every_sample_workload_configuration_scan_arrives_whole() -> None:
    scans = SAMPLE["WorkloadConfigurationScan"]
    findings = parse(KUBESCAPE, convert.kubescape_document(scans))
    assert kubescape_keys(findings) == expected_kubescape(scans)
    assert len(findings) == sum(
        1 for scan in scans for c in scan["spec"]["controls"].values() if c["status"]["status"] == "failed"
    )


def test_synthetic_reports_arrive_whole() -> None:
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for obj in SYNTHETIC:
        by_kind[obj["kind"]].append(obj)
    trivy = [obj for kind in TRIVY_KINDS for obj in by_kind[kind]]
    assert parsed_keys(parse(TRIVY_OPERATOR, convert.trivy_operator_document(trivy))) == expected_trivy(trivy)
    for manifest in by_kind["VulnerabilityManifest"]:
        document = convert.grype_document(manifest)
        assert document is not None
        assert parsed_keys(parse(ANCHORE_GRYPE, document)) == expected_grype(manifest)
    scans = by_kind["WorkloadConfigurationScan"]
    assert kubescape_keys(parse(KUBESCAPE, convert.kubescape_document(scans))) == expected_kubescape(scans)


def test_a_list_would_yield_nothing() -> None:
    """Negative control: the same CRs as a `kind: List` reach DefectDojo as zero findings."""
    objects = [obj for kind in TRIVY_KINDS for obj in SAMPLE[kind]]
    converted = orjson.loads(convert.trivy_operator_document(objects))
    as_list = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": converted}
    assert parse(TRIVY_OPERATOR, orjson.dumps(as_list)) == []
    assert parse(TRIVY_OPERATOR, convert.trivy_operator_document([as_list]))


def test_passed_checks_are_dropped_and_labels_kept() -> None:
    objects = SAMPLE["ConfigAuditReport"]
    assert any(check["success"] for obj in objects for check in obj["report"]["checks"])
    for converted in orjson.loads(convert.trivy_operator_document(objects)):
        assert all(check["success"] is False for check in converted["report"]["checks"])
        assert converted["metadata"]["labels"]["trivy-operator.resource.namespace"]


def test_conversion_is_pure() -> None:
    """Same objects in, same bytes out, for every converter, and the objects are left as they were."""
    objects = [obj for kind in TRIVY_KINDS for obj in SAMPLE[kind]]
    scans = SAMPLE["WorkloadConfigurationScan"]
    manifest = SAMPLE["VulnerabilityManifest"][0]
    before = copy.deepcopy((objects, scans, manifest))
    trivy = convert.trivy_operator_document(objects)
    kubescape = convert.kubescape_document(scans)
    grype = convert.grype_document(manifest)
    assert (objects, scans, manifest) == before
    assert trivy == convert.trivy_operator_document(copy.deepcopy(before[0]))
    assert kubescape == convert.kubescape_document(copy.deepcopy(before[1]))
    assert grype is not None and grype == convert.grype_document(copy.deepcopy(before[2]))
    assert parse(TRIVY_OPERATOR, trivy) and parse(KUBESCAPE, kubescape) and parse(ANCHORE_GRYPE, grype)


def test_objects_of_other_scan_types_are_refused() -> None:
    with pytest.raises(ValueError, match="not imported"):
        convert.trivy_operator_document(SAMPLE["SbomReport"])
    with pytest.raises(ValueError, match="not imported"):
        convert.trivy_operator_document(SAMPLE["WorkloadConfigurationScan"])


def rollout(report: dict[str, Any], replicaset: str, *, owner: bool = False) -> dict[str, Any]:
    """The report as trivy-operator writes it after a rollout: the same content under a new ReplicaSet."""
    moved = copy.deepcopy(report)
    old = moved["metadata"]["labels"]["trivy-operator.resource.name"]
    moved["metadata"]["labels"]["trivy-operator.resource.name"] = replicaset
    moved["metadata"]["name"] = moved["metadata"]["name"].replace(old, replicaset)
    moved["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": replicaset}]
    if owner:
        moved["metadata"]["ownerReferences"].append({"kind": "Deployment", "name": old.rsplit("-", 1)[0]})
    for check in (moved.get("report") or {}).get("checks") or []:
        check["messages"] = [message.replace(old, replicaset) for message in check.get("messages") or []]
    return moved


def fingerprints(scan_type: str, document: bytes) -> list[tuple[str, str | None]]:
    return sorted((hash_code(scan_type, f), f.service) for f in parse(scan_type, document))


@pytest.mark.parametrize("kind", ["VulnerabilityReport", "ConfigAuditReport", "ExposedSecretReport"])
def test_a_rollout_keeps_hash_codes_and_service(kind: str) -> None:
    [report] = [obj for obj in SAMPLE[kind] if obj["metadata"]["name"].startswith("replicaset-frontend-")]
    before = fingerprints(TRIVY_OPERATOR, convert.trivy_operator_document([report]))
    after = fingerprints(TRIVY_OPERATOR, convert.trivy_operator_document([rollout(report, "frontend-58b7cd9f4c")]))
    owned = fingerprints(TRIVY_OPERATOR, convert.trivy_operator_document([rollout(report, "frontend-x2", owner=True)]))
    assert before == after == owned
    assert {service for _, service in before} <= {"shop/Deployment/frontend", "shop/Deployment/frontend/frontend"}


def test_without_the_rewrite_a_rollout_would_change_every_hash() -> None:
    """Control for the test above: sent as trivy-operator wrote it, the ReplicaSet name changes the hashes."""
    [report] = [obj for obj in SAMPLE["VulnerabilityReport"] if obj["metadata"]["name"].startswith("replicaset-fr")]
    moved = rollout(report, "frontend-58b7cd9f4c")
    before = {hash_code(TRIVY_OPERATOR, f) for f in parse(TRIVY_OPERATOR, orjson.dumps([report]))}
    after = {hash_code(TRIVY_OPERATOR, f) for f in parse(TRIVY_OPERATOR, orjson.dumps([moved]))}
    assert not before & after


def test_a_rollout_keeps_compliance_titles() -> None:
    [report] = [obj for obj in SAMPLE["ClusterComplianceReport"] if "detailReport" in obj["status"]]
    moved = copy.deepcopy(report)
    for result in moved["status"]["detailReport"]["results"]:
        for check in result["checks"]:
            check["target"] = check["target"].replace("frontend-7c9d8f6b5d", "frontend-58b7cd9f4c")
            check["messages"] = [m.replace("frontend-7c9d8f6b5d", "frontend-58b7cd9f4c") for m in check["messages"]]
    before = fingerprints(TRIVY_OPERATOR, convert.trivy_operator_document([report]))
    assert before == fingerprints(TRIVY_OPERATOR, convert.trivy_operator_document([moved]))
    titles = [f.title for f in parse(TRIVY_OPERATOR, convert.trivy_operator_document([report]))]
    assert "1.0 AVD-KSV-0012 shop/Deployment/frontend" in titles
    assert not any("frontend-7c9d8f6b5d" in title for title in titles)


def test_compliance_reports_the_parser_would_refuse_or_ignore_arrive() -> None:
    """No labels (ignored), an empty check severity (KeyError), a zero failCount (ignored), null strings (TypeError)."""
    [detail] = [obj for obj in SAMPLE["ClusterComplianceReport"] if "detailReport" in obj["status"]]
    [summary] = [obj for obj in SAMPLE["ClusterComplianceReport"] if "summaryReport" in obj["status"]]
    detail, summary = copy.deepcopy(detail), copy.deepcopy(summary)
    for report in (detail, summary):
        del report["metadata"]["labels"]
    detail["status"]["detailReport"]["description"] = None
    for result in detail["status"]["detailReport"]["results"]:
        result["severity"] = result["severity"].lower()
        for check in result["checks"]:
            check["severity"] = ""
    summary["status"]["summary"]["failCount"] = 0
    summary["spec"]["compliance"]["controls"][0]["description"] = None
    assert parse(TRIVY_OPERATOR, orjson.dumps([detail])) == []
    with pytest.raises(ParserError):
        parse(TRIVY_OPERATOR, orjson.dumps([{**detail, "metadata": {"labels": {}}}]))
    assert parse(TRIVY_OPERATOR, orjson.dumps([{**summary, "metadata": {"labels": {}}}])) == []
    for report in (detail, summary):
        findings = parse(TRIVY_OPERATOR, convert.trivy_operator_document([report]))
        assert parsed_keys(findings) == expected_trivy([report])


def test_kubescape_keeps_namespaces_apart() -> None:
    [scan] = [obj for obj in SAMPLE["WorkloadConfigurationScan"] if obj["metadata"]["name"].endswith("shop-frontend")]
    other = copy.deepcopy(scan)
    other["metadata"]["labels"]["kubescape.io/workload-namespace"] = "shop-staging"
    findings = parse(KUBESCAPE, convert.kubescape_document([scan, other]))
    failed = sum(1 for c in scan["spec"]["controls"].values() if c["status"]["status"] == "failed")
    assert len(findings) == 2 * failed
    assert len({hash_code(KUBESCAPE, f) for f in findings}) == 2 * failed
    assert {f.component_name for f in findings} == {"apps/v1/shop/Deployment/frontend",
                                                    "apps/v1/shop-staging/Deployment/frontend"}  # fmt: skip


def test_kubescape_the_same_scan_twice_is_one_resource() -> None:
    scans = SAMPLE["WorkloadConfigurationScan"]
    assert kubescape_keys(parse(KUBESCAPE, convert.kubescape_document(scans + scans))) == expected_kubescape(scans)


def test_empty_documents_parse_to_nothing() -> None:
    assert parse(TRIVY_OPERATOR, convert.trivy_operator_document([])) == []
    assert parse(KUBESCAPE, convert.kubescape_document([])) == []


def test_grype_document_is_none_without_matches_or_when_too_large() -> None:
    manifest = SAMPLE["VulnerabilityManifest"][0]
    assert convert.grype_document({**manifest, "spec": {}}) is None
    assert convert.grype_document({**manifest, "spec": {"payload": {"matches": []}}}) is None
    assert convert.grype_document(manifest, max_bytes=1000) is None


@pytest.mark.parametrize(
    ("value", "trivy", "grype"),
    [("high", "HIGH", "High"), ("NONE", "UNKNOWN", "Unknown"), ("NEGLIGIBLE", "UNKNOWN", "Negligible"),
     ("", "UNKNOWN", "Unknown"), (None, "UNKNOWN", "Unknown"), ("Moderate", "MEDIUM", "Medium"),
     ("bogus", "UNKNOWN", "Unknown"), (" Critical ", "CRITICAL", "Critical")],
)  # fmt: skip
def test_severity_normalisation(value: Any, trivy: str, grype: str) -> None:
    assert convert.trivy_severity(value) == trivy
    assert convert.grype_severity(value) == grype


def test_kubescape_score_is_dojo_band_of_kubescape_grade() -> None:
    assert convert.control_score({"severity": {"severity": "High", "scoreFactor": 7.0}}) == 8.0
    assert convert.control_score({"severity": {"severity": "", "scoreFactor": 42}}) == 10.0
    assert convert.control_score({"severity": {"scoreFactor": "x"}}) == 0.0


def test_workload_of() -> None:
    [report] = [obj for obj in SAMPLE["VulnerabilityReport"] if obj["metadata"]["name"].startswith("replicaset-fr")]
    assert convert.workload_of(report) == convert.Workload("shop", "Deployment", "frontend", "frontend")
    [cart] = [obj for obj in SAMPLE["ConfigAuditReport"] if obj["metadata"]["name"] == "statefulset-cart-redis"]
    assert convert.workload_of(cart) == convert.Workload("shop", "StatefulSet", "cart-redis")
    summary = next(obj for obj in SAMPLE["VulnerabilityManifestSummary"] if obj["metadata"]["name"].startswith("dep"))
    assert convert.workload_of(summary).kind == "Deployment"
    image = next(obj for obj in SAMPLE["VulnerabilityManifest"] if "kubescape.io/context" in obj["metadata"]["labels"]
                 and obj["metadata"]["labels"]["kubescape.io/context"] == "non-filtered")  # fmt: skip
    assert convert.workload_of(image).kind == convert.IMAGE_KIND
    node = SAMPLE["ClusterVulnerabilityReport"][0]
    assert convert.workload_of(node).service == "/Node/cp-1"
    standalone = convert.Workload("shop", "ReplicaSet", "legacy")
    assert convert.owning_workload(standalone) == standalone


def test_image_level_manifests_find_their_workloads_through_summaries() -> None:
    workloads = convert.image_manifest_workloads(SAMPLE["VulnerabilityManifestSummary"])
    images = [m for m in SAMPLE["VulnerabilityManifest"] if convert.workload_of(m).kind == convert.IMAGE_KIND]
    assert images
    for manifest in images:
        assert workloads[manifest["metadata"]["name"]], manifest["metadata"]["name"]
    coredns = workloads["registry.k8s.io-coredns-coredns-v1.10.1-bbf390"]
    assert convert.Workload("kube-system", "Deployment", "coredns", "coredns") in coredns


SEVERITY_WORDS = st.sampled_from(["CRITICAL", "high", "Medium", "LOW", "UNKNOWN", "NONE", "NEGLIGIBLE", "", None, "x"])
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-0123456789.", min_size=1, max_size=12)
NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)  # no `-`: no hash in it
# A vulnerability's id as trivy writes one (CVE-, GHSA-, RUSTSEC-, DLA-...): never holding `khv`, `ksv` or `kcv`,
# which DefectDojo's UniformTrivyVulnID takes for a misconfiguration check's and rewrites (AVD-A-0000 for `a0kcv`)
# or fails on (`-0kcv`); the checks below carry those ids.
VULNERABILITY_IDS = WORDS.filter(lambda word: not any(tag in word for tag in ("khv", "ksv", "kcv")))


@st.composite
def trivy_reports(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["ReplicaSet", "StatefulSet", "DaemonSet", "Pod"]))
    name = draw(NAMES) + (draw(st.sampled_from([GENERATED_HASH, "-x", ""])) if kind == "ReplicaSet" else "")
    vulns = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "vulnerabilityID": VULNERABILITY_IDS,
                    "resource": WORDS,
                    "installedVersion": WORDS,
                    "severity": SEVERITY_WORDS,
                }
            ),
            max_size=6,
        )
    )
    checks = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "checkID": st.sampled_from(["KSV001", "KSV014", "KCV0020", "X-1"]),
                    "title": WORDS,
                    "severity": SEVERITY_WORDS,
                },
                optional={"success": st.booleans() | st.none(), "messages": st.lists(WORDS, max_size=2)},
            ),
            max_size=6,
        )
    )
    secrets = draw(st.lists(st.fixed_dictionaries({"ruleID": WORDS, "target": WORDS, "severity": SEVERITY_WORDS}),
                            max_size=3))  # fmt: skip
    labels = {"trivy-operator.resource.namespace": draw(WORDS), "trivy-operator.resource.kind": kind,
              "trivy-operator.resource.name": name}  # fmt: skip
    if draw(st.booleans()):
        labels["trivy-operator.container.name"] = draw(WORDS)
    report = {"vulnerabilities": vulns, "checks": checks, "secrets": secrets}
    kind_name = draw(st.sampled_from(["VulnerabilityReport", "ConfigAuditReport", "ExposedSecretReport"]))
    return {"apiVersion": catalog.TRIVY_GROUP + "/v1alpha1", "kind": kind_name,
            "metadata": {"name": "r", "labels": labels}, "report": report}  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(trivy_reports(), max_size=4))
def test_property_trivy_conversion_never_drops_a_finding(objects: list[dict[str, Any]]) -> None:
    findings = parse(TRIVY_OPERATOR, convert.trivy_operator_document(objects))
    assert parsed_keys(findings) == expected_trivy(objects)


GRYPE_MATCH = st.fixed_dictionaries(
    {"vulnerability": st.fixed_dictionaries({"id": WORDS, "severity": SEVERITY_WORDS},
                                            optional={"cvss": st.just([{"source": "x"}])}),
     "artifact": st.fixed_dictionaries({"name": WORDS, "version": WORDS | st.none()})},
    optional={"matchDetails": st.just([{"type": "exact-direct-match"}])},
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(GRYPE_MATCH, min_size=1, max_size=8))
def test_property_grype_conversion_never_drops_a_finding(matches: list[dict[str, Any]]) -> None:
    manifest = {"kind": "VulnerabilityManifest", "spec": {"payload": {"matches": matches}}}
    document = convert.grype_document(manifest)
    assert document is not None
    normalised = copy.deepcopy(manifest)
    for match in normalised["spec"]["payload"]["matches"]:
        match["artifact"]["version"] = match["artifact"]["version"] or ""
    assert parsed_keys(parse(ANCHORE_GRYPE, document)) == expected_grype(normalised)


RULE = st.fixed_dictionaries({"name": WORDS, "status": st.fixed_dictionaries({"status": st.sampled_from(
    ["passed", "failed", "skipped"])})})  # fmt: skip
CONTROL = st.fixed_dictionaries({
    "name": WORDS, "rules": st.lists(RULE, max_size=3),
    "status": st.fixed_dictionaries({"status": st.sampled_from(["passed", "failed", "skipped", "irrelevant"])}),
})  # fmt: skip
# A control's severity is the control's, not the workload's: the CLI report has one summary entry per control.
CONTROL_SEVERITY = {
    "C-0009": ("High", 7.0),
    "C-0013": ("Medium", 6.0),
    "C-0017": ("Low", 3.0),
    "C-0057": ("Critical", 9),
}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(WORDS, st.dictionaries(st.sampled_from(["C-0009", "C-0013", "C-0017", "C-0057"]), CONTROL),
                          st.sampled_from(["Deployment", "deployment", "StatefulSet", "statefulset"])),
                max_size=4, unique_by=lambda workload: workload[0]))  # fmt: skip
def test_property_kubescape_conversion_never_drops_a_finding(workloads: list[tuple[str, dict[str, Any], str]]) -> None:
    scans = [
        {"kind": "WorkloadConfigurationScan",
         "metadata": {"labels": {"kubescape.io/workload-namespace": "ns", "kubescape.io/workload-kind": kind,
                                 "kubescape.io/workload-name": name, "kubescape.io/workload-api-group": "apps",
                                 "kubescape.io/workload-api-version": "v1"}},
         "spec": {"controls": {cid: {**control, "controlID": cid, "severity": dict(zip(
             ("severity", "scoreFactor"), CONTROL_SEVERITY[cid], strict=True))} for cid, control in controls.items()}}}
        for name, controls, kind in workloads
    ]  # fmt: skip
    assert kubescape_keys(parse(KUBESCAPE, convert.kubescape_document(scans))) == expected_kubescape(scans)


def test_a_restart_or_rollout_keeps_compliance_hash_codes_for_pod_targets() -> None:
    [report] = [obj for obj in SAMPLE["ClusterComplianceReport"] if "detailReport" in obj["status"]]

    def with_pod(pod: str) -> dict[str, Any]:
        moved = copy.deepcopy(report)
        check = moved["status"]["detailReport"]["results"][0]["checks"][0]
        check["target"] = f"shop/Pod/{pod}"
        check["messages"] = [f"Container 'frontend' of Pod '{pod}' should set 'securityContext.runAsNonRoot' to true"]
        return moved

    before = fingerprints(TRIVY_OPERATOR, convert.trivy_operator_document([with_pod("frontend-7c9d8f6b5d-x2k9p")]))
    after = fingerprints(TRIVY_OPERATOR, convert.trivy_operator_document([with_pod("frontend-58b7cd9f4c-q7w4z")]))
    assert before == after
    findings = parse(TRIVY_OPERATOR, convert.trivy_operator_document([with_pod("frontend-7c9d8f6b5d-x2k9p")]))
    assert "1.0 AVD-KSV-0012 shop/Deployment/frontend" in [finding.title for finding in findings]
    assert not any("x2k9p" in finding.description for finding in findings)


def test_one_finding_twice_in_a_document_is_sent_once() -> None:
    """DefectDojo's reimport would close one of two findings sharing a hash_code (issue #9290)."""
    [vulnerable] = [obj for obj in SAMPLE["VulnerabilityReport"] if obj["metadata"]["name"].startswith("replicaset-fr")]
    twice = copy.deepcopy(vulnerable)
    first = twice["report"]["vulnerabilities"][0]
    twice["report"]["vulnerabilities"].append({**first, "packagePath": "/opt/app/other/lib.jar"})
    [compliance] = [obj for obj in SAMPLE["ClusterComplianceReport"] if "detailReport" in obj["status"]]
    repeated = copy.deepcopy(compliance)
    result = repeated["status"]["detailReport"]["results"][0]
    result["checks"].append(copy.deepcopy(next(c for c in result["checks"] if c.get("success") is False)))
    for objects in ([twice], [repeated]):
        document = convert.trivy_operator_document(objects)
        codes = [hash_code(TRIVY_OPERATOR, finding) for finding in parse(TRIVY_OPERATOR, document)]
        assert len(codes) == len(set(codes)), "every finding of a document has its own hash_code"
    original = parse(TRIVY_OPERATOR, convert.trivy_operator_document([vulnerable]))
    assert len(parse(TRIVY_OPERATOR, convert.trivy_operator_document([twice]))) == len(original)


def test_every_sample_document_has_distinct_hash_codes() -> None:
    objects = [obj for kind in ("VulnerabilityReport", "ConfigAuditReport", "ExposedSecretReport",
                                "ClusterComplianceReport", "RbacAssessmentReport") for obj in SAMPLE[kind]]  # fmt: skip
    findings = parse(TRIVY_OPERATOR, convert.trivy_operator_document(objects))
    codes = Counter(hash_code(TRIVY_OPERATOR, finding) for finding in findings)
    assert len(findings) > 100 and max(codes.values()) == 1
