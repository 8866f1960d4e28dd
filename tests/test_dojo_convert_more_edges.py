"""exporter/dojo/convert_grype.py and convert_kubescape.py at their edges, found by mutation testing; what DefectDojo's
parsers (the port in tests/dojo_parsers.py) read out of a converted document is the behaviour pinned, not its shape:

- an image-level manifest finds the workloads running it through every summary, whichever reference names it,
  each workload once, and a summary that is no summary hides none that follow it;
- a Grype match keeps its grade in any tool's words; the gaps the parser would fail the import on are filled, and
  nothing else is changed; the planner's image and workloads end each finding's description;
- a document is sent up to its size limit, not beyond;
- a kubescape scan's resource is named as kubescape names it (API group, version, namespace, kind, name), whatever
  labels the scan lacks; a failed control is one finding whatever its rules say, graded in DefectDojo's band for
  kubescape's grade, with its description, category and remediation; passed and malformed controls make none.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from exporter.dojo import WORKLOADS_ANNOTATION, Workload
from exporter.dojo import convert_grype as grype
from exporter.dojo import convert_kubescape as kubescape
from tests.dojo_parsers import ANCHORE_GRYPE, KUBESCAPE, ParsedFinding, parse

KUBESCAPE_API = "spdx.softwarecomposition.kubescape.io/v1beta1"
IMAGE = "ghcr.io/acme-retail/cart:1.9.0"


def summary(kind: str, name: str, refs: Any) -> dict[str, Any]:
    """A VulnerabilityManifestSummary as the kubescape operator writes it (kinds in lower case)."""
    labels = {"kubescape.io/workload-namespace": "shop", "kubescape.io/workload-kind": kind,
              "kubescape.io/workload-name": name, "kubescape.io/workload-container-name": "app"}  # fmt: skip
    return {"apiVersion": KUBESCAPE_API, "kind": "VulnerabilityManifestSummary",
            "metadata": {"name": f"{kind}-{name}-app", "namespace": "shop", "labels": labels},
            "spec": {"vulnerabilitiesRef": refs}}  # fmt: skip


def test_an_image_manifest_finds_its_workloads_through_either_reference_each_once() -> None:
    """`relevant` names the filtered manifest; a workload named twice is one workload; a summary without references
    (or without spec) is skipped, not the end of the list."""
    cart = {"all": {"name": "cart-1.9.0"}, "relevant": {"name": "cart-1.9.0-filtered"}}
    summaries = [
        {"apiVersion": KUBESCAPE_API, "kind": "VulnerabilityManifestSummary", "metadata": {"name": "broken"}},
        summary("deployment", "cart", None),
        summary("deployment", "cart", cart),
        summary("statefulset", "cart-db", {"all": {"name": "cart-1.9.0"}, "relevant": "cart-1.9.0-filtered"}),
        summary("deployment", "cart", {"all": {"name": "cart-1.9.0"}, "relevant": {"name": ""}}),
        summary("daemonset", "agent", {"relevant": {"name": "agent-2.0"}}),
    ]
    assert grype.image_manifest_workloads(summaries) == {
        "cart-1.9.0": (
            Workload("shop", "Deployment", "cart", "app"),
            Workload("shop", "StatefulSet", "cart-db", "app"),
        ),
        "cart-1.9.0-filtered": (Workload("shop", "Deployment", "cart", "app"),),
        "agent-2.0": (Workload("shop", "DaemonSet", "agent", "app"),),
    }


def image_manifest(matches: list[Any], annotations: dict[str, Any] | None = None) -> dict[str, Any]:
    """An image-level VulnerabilityManifest (no workload labels), as the planner's scratch copy may annotate it."""
    return {"apiVersion": KUBESCAPE_API, "kind": "VulnerabilityManifest",
            "metadata": {"name": "ghcr.io-acme-retail-cart-1.9.0-bbf390", "namespace": "kubescape",
                         "labels": {"kubescape.io/context": "non-filtered"},
                         "annotations": {"kubescape.io/image-tag": IMAGE, **(annotations or {})}},
            "spec": {"metadata": {"withRelevancy": False}, "payload": {"matches": matches}}}  # fmt: skip


MATCH: dict[str, Any] = {
    "vulnerability": {"id": "CVE-2023-4911", "namespace": "debian:distro:debian:12", "severity": "High",
                      "description": "glibc: buffer overflow in ld.so", "fix": {"versions": ["2.36-9+deb12u3"]}},
    "matchDetails": [{"type": "exact-indirect-match", "matcher": "dpkg-matcher"}],
    "artifact": {"name": "libc6", "version": "2.36-9+deb12u1", "purl": "pkg:deb/debian/libc6@2.36-9+deb12u1"},
}  # fmt: skip


def findings(manifest: dict[str, Any]) -> list[ParsedFinding]:
    document = grype.grype_document(manifest)
    assert document is not None
    return parse(ANCHORE_GRYPE, document)


def match(vuln_id: str, **vulnerability: Any) -> dict[str, Any]:
    return {**MATCH, "vulnerability": {**MATCH["vulnerability"], "id": vuln_id, **vulnerability}}


def test_a_match_graded_in_another_tool_s_words_keeps_its_grade() -> None:
    """DefectDojo title-cases Grype's grade and refuses any word but its five: other words for a grade keep it."""
    grades = ["important", "SEVERE", " moderate", "negligible", "none", "", 7, "Critical"]
    manifest = image_manifest([match(f"CVE-2024-{n}", severity=grade) for n, grade in enumerate(grades)])
    assert [(f.title, f.severity) for f in findings(manifest)] == [
        ("CVE-2024-0 in libc6:2.36-9+deb12u1", "High"), ("CVE-2024-1 in libc6:2.36-9+deb12u1", "High"),
        ("CVE-2024-2 in libc6:2.36-9+deb12u1", "Medium"), ("CVE-2024-3 in libc6:2.36-9+deb12u1", "Info"),
        ("CVE-2024-4 in libc6:2.36-9+deb12u1", "Info"), ("CVE-2024-5 in libc6:2.36-9+deb12u1", "Info"),
        ("CVE-2024-6 in libc6:2.36-9+deb12u1", "Info"), ("CVE-2024-7 in libc6:2.36-9+deb12u1", "Critical"),
    ]  # fmt: skip


def test_the_planner_s_image_and_workloads_end_each_description() -> None:
    """After the vulnerability's own description, or alone without one; an empty workload list reads "-"."""
    workloads = {WORKLOADS_ANNOTATION: "shop/Deployment/cart/cart, shop/Deployment/cart-worker/worker"}
    described, bare = findings(image_manifest([MATCH, match("CVE-2", description=None)], workloads))
    assert described.description == (
        "**Vulnerability Namespace:** debian:distro:debian:12\n**Vulnerability Description:** glibc: buffer overflow"
        f" in ld.so\n\n**Image:** {IMAGE}\n**Workloads:** shop/Deployment/cart/cart, shop/Deployment/cart-worker/"
        "worker\n**Matcher:** dpkg-matcher\n**Package URL:** pkg:deb/debian/libc6@2.36-9+deb12u1"
    )
    assert bare.description.startswith(
        "**Vulnerability Namespace:** debian:distro:debian:12\n**Vulnerability Description:** "
        f"**Image:** {IMAGE}\n**Workloads:** shop/Deployment/cart/cart, shop/Deployment/cart-worker/worker\n"
    )
    [nobody] = findings(image_manifest([MATCH], {WORKLOADS_ANNOTATION: ""}))
    assert f"in ld.so\n\n**Image:** {IMAGE}\n**Workloads:** -\n**Matcher:**" in nobody.description
    for planner in ({WORKLOADS_ANNOTATION: None}, {}):
        [unplanned] = findings(image_manifest([MATCH], planner))
        assert "**Vulnerability Description:** glibc: buffer overflow in ld.so\n**Matcher:**" in unplanned.description


def test_a_match_with_the_gaps_the_parser_fails_on_arrives_with_them_filled() -> None:
    """Null or numeric id, name and version, a fix that is no object, CVSS entries without a vector (in the match and
    in its related vulnerability), locations and matchers that are no objects, a matcher without its name: each a
    server error for the whole import if sent as it is. Entries that are no match are left out."""
    gaps = {
        "vulnerability": {"id": None, "severity": "High", "fix": None,
                          "cvss": [{"version": "2.0"}, "CVSS:3.1/AV:N", {"vector": "AV:N/AC:L/Au:N"}]},
        "relatedVulnerabilities": ["CVE-2024-1", {"id": "CVE-2024-1",
                                                  "cvss": [{"version": "2.0"}, {"vector": "CVSS:3.1/AV:N"}]}],
        "matchDetails": ["dpkg-matcher", {"type": "exact-direct-match"}],
        "artifact": {"name": 7, "version": None, "locations": ["/usr/lib", {"path": "/var/lib/dpkg/status"}]},
    }  # fmt: skip
    single = {**MATCH, "matchDetails": {"type": "exact-direct-match"}, "artifact": {"name": "zlib1g", "version": 1}}
    nothing = {"vulnerability": "CVE-2024-2", "matchDetails": None, "artifact": None, "relatedVulnerabilities": None}
    named = {**match("CVE-2024-3"), "matchDetails": {"type": "exact-direct-match", "matcher": "rpm-matcher"}}
    first, second, third, fourth = findings(image_manifest(["CVE-2024-0", gaps, single, nothing, named]))
    assert (first.title, first.severity, first.component_name, first.component_version) == (" in 7:", "High", "7", "")
    assert (first.vulnerability_ids, first.file_path, first.mitigation) == (
        ("CVE-2024-1",),
        "/var/lib/dpkg/status",
        None,
    )
    assert first.description == "\n**Matcher:** "
    assert (second.title, second.component_version) == ("CVE-2023-4911 in zlib1g:1", "1")
    assert second.description.endswith("in ld.so\n**Matcher:** ")
    assert second.mitigation == "Upgrade to version: 2.36-9+deb12u3"
    assert (third.title, third.severity, third.description) == (" in :", "Info", "")
    assert fourth.description.endswith(
        "in ld.so\n**Matcher:** rpm-matcher\n**Package URL:** pkg:deb/debian/libc6@2.36-9+deb12u1"
    )


def test_a_match_keeps_what_the_parser_reads_as_it_came() -> None:
    """Only gaps are filled: a related vulnerability, CVSS entry or location that is fine stays, in its place."""
    kept = {**MATCH, "relatedVulnerabilities": [{"id": "GHSA-1", "description": "related", "urls": ["https://a"],
                                                 "cvss": [{"vector": "CVSS:3.1/AV:N"}]}],
            "artifact": {**MATCH["artifact"], "locations": [{"path": "/usr/lib/libc.so.6"}]},
            "matchDetails": [{"matcher": "dpkg-matcher"}, {"matcher": "stock-matcher"}]}  # fmt: skip
    document = grype.grype_document(image_manifest([kept]))
    assert document is not None
    [finding] = parse(ANCHORE_GRYPE, document)
    assert finding.vulnerability_ids == ("CVE-2023-4911", "GHSA-1")
    assert finding.file_path == "/usr/lib/libc.so.6"
    assert finding.references == "**Related Vulnerability URL:** https://a"
    assert "\n**Related Vulnerability Description:** related" in finding.description
    assert "\n**Matchers:**\n- dpkg-matcher\n- stock-matcher\n" in finding.description
    sent = orjson.loads(document)["matches"][0]
    assert sent["relatedVulnerabilities"][0]["cvss"] == [{"vector": "CVSS:3.1/AV:N"}]
    assert (
        "relatedVulnerabilities" not in orjson.loads(grype.grype_document(image_manifest([MATCH])) or b"")["matches"][0]
    )


def test_a_document_is_sent_up_to_its_size_limit() -> None:
    """Exactly at DefectDojo's limit it is accepted; one byte over it is refused whole."""
    manifest = image_manifest([MATCH])
    document = grype.grype_document(manifest)
    assert document is not None
    assert grype.grype_document(manifest, max_bytes=len(document)) == document
    assert grype.grype_document(manifest, max_bytes=len(document) - 1) is None
    assert grype.MAX_DOCUMENT_BYTES == 100 * 1024 * 1024


def test_a_manifest_whose_spec_or_payload_is_no_object_has_no_document() -> None:
    """Nothing to send rather than a failed night: a hand-edited or truncated object is skipped like a list item."""
    specs: list[Any] = [None, [], "payload", {"payload": None}, {"payload": [MATCH]}, {"payload": {"matches": MATCH}}]
    for spec in specs:
        assert grype.grype_document({**image_manifest([MATCH]), "spec": spec}) is None, spec


def scan(kind: str, name: str, controls: Any, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A WorkloadConfigurationScan as the kubescape operator writes it, with `labels` added to its own."""
    own = {"kubescape.io/workload-namespace": "shop", "kubescape.io/workload-kind": kind,
           "kubescape.io/workload-name": name, **(labels or {})}  # fmt: skip
    return {"apiVersion": KUBESCAPE_API, "kind": "WorkloadConfigurationScan",
            "metadata": {"name": f"{kind.lower()}-shop-{name}", "namespace": "shop", "labels": own},
            "spec": {"controls": controls}}  # fmt: skip


def control(name: Any, grade: Any = "High", status: Any = "failed", rules: Any = None, **fields: Any) -> dict[str, Any]:
    """A control of `spec.controls` as the CR holds it: status and rule statuses are objects."""
    if rules is None:
        rules = [{"name": "rule", "status": {"status": status}, "paths": []}]
    return {"name": name, "severity": {"severity": grade, "scoreFactor": 7.0}, "status": {"status": status},
            "rules": rules, **fields}  # fmt: skip


def kubescape_findings(*scans: dict[str, Any]) -> list[ParsedFinding]:
    return parse(KUBESCAPE, kubescape.kubescape_document(scans))


def test_a_resource_is_named_by_its_api_group_and_version_whatever_labels_the_scan_lacks() -> None:
    """The resourceID is the finding's component_name, a hash_code field: kubescape's own group for the kind when
    the scan has no group label, the core API's empty group when it says so, v1 without a version label, and always
    apps for a Deployment (a ReplicaSet's scan reads as its Deployment)."""
    failed = {"C-0009": control("Resource limits")}
    group, version = "kubescape.io/workload-api-group", "kubescape.io/workload-api-version"
    scans = [
        scan("StatefulSet", "cart-db", failed), scan("DaemonSet", "agent", failed), scan("CronJob", "backup", failed),
        scan("Job", "migrate", failed, {version: "v2"}), scan("Pod", "debug", failed),
        scan("ReplicaSet", "web-6d4cf56db6", failed, {group: "", version: ""}),
        scan("StatefulSet", "legacy", failed, {group: ""}),
    ]  # fmt: skip
    assert [(f.component_name, f.title) for f in kubescape_findings(*scans)] == [
        ("apps/v1/shop/StatefulSet/cart-db", "Resource limits - StatefulSet cart-db"),
        ("apps/v1/shop/DaemonSet/agent", "Resource limits - DaemonSet agent"),
        ("batch/v1/shop/CronJob/backup", "Resource limits - CronJob backup"),
        ("batch/v2/shop/Job/migrate", "Resource limits - Job migrate"),
        ("/v1/shop/Pod/debug", "Resource limits - Pod debug"),
        ("apps/v1/shop/Deployment/web", "Resource limits - Deployment web"),
        ("/v1/shop/StatefulSet/legacy", "Resource limits - StatefulSet legacy"),
    ]


def test_a_failed_control_is_one_finding_whatever_its_rules_say() -> None:
    """Several failing rules, none, only passed ones, rules without a status or that are no objects: one finding
    per failed control (DefectDojo makes one per non-passed rule, all with one title, then merges them), and the
    rules stay readable in the finding's steps to reproduce (the parser dumps the control's `rules` there)."""
    rules = [{"name": "limits", "status": {"status": "FAILED"}, "paths": [{"fixPath": "spec.cpu"}, "spec.memory"]},
             {"name": "requests", "paths": [{"fixPath": "spec.requests"}]}, "rule",
             {"name": "probe", "status": {"status": " Passed "}},
             {"name": 7, "status": "skipped", "paths": None}]  # fmt: skip
    controls = {"C-0009": control("Resource limits", rules=rules), "C-0013": control("Non-root", rules=[]),
                "C-0016": control("Privilege escalation", rules=None, status="failed") | {"rules": None},
                "C-0017": control("Immutable fs", rules=[{"name": "ro", "status": {"status": "passed"}}])}  # fmt: skip
    found = kubescape_findings(scan("StatefulSet", "cart-db", controls))
    assert [(f.title, f.vulnerability_ids) for f in found] == [
        ("Resource limits - StatefulSet cart-db", ("C-0009",)), ("Non-root - StatefulSet cart-db", ("C-0013",)),
        ("Privilege escalation - StatefulSet cart-db", ("C-0016",)),
        ("Immutable fs - StatefulSet cart-db", ("C-0017",)),
    ]  # fmt: skip
    [result] = orjson.loads(kubescape.kubescape_document([scan("StatefulSet", "cart-db", controls)]))["results"]
    limits, non_root, privilege, immutable = result["controls"]
    assert limits["rules"] == [
        {"name": "limits, requests, 7", "status": "failed",
         "paths": [{"fixPath": "spec.cpu"}, {"fixPath": "spec.requests"}],
         "rules": [{"name": "limits", "status": "failed", "paths": [{"fixPath": "spec.cpu"}, "spec.memory"]},
                   {"name": "requests", "status": "failed", "paths": [{"fixPath": "spec.requests"}]},
                   {"name": "7", "status": "skipped", "paths": None}]},
        {"name": "probe", "status": "passed"},
    ]  # fmt: skip
    assert non_root["rules"] == [{"name": "Non-root", "status": "failed", "paths": []}]
    assert privilege["rules"] == [{"name": "Privilege escalation", "status": "failed", "paths": []}]
    assert immutable["rules"] == [
        {"name": "Immutable fs", "status": "failed", "paths": []}, {"name": "ro", "status": "passed"}
    ]  # fmt: skip
    assert (limits["controlID"], limits["name"], limits["status"]) == (
        "C-0009",
        "Resource limits",
        {"status": "failed"},
    )


def test_only_failed_controls_that_are_objects_make_findings_named_by_their_id() -> None:
    """`spec.controls` as a map (the ID its key unless the control names its own) or, in older objects, a list;
    passed, skipped and statusless controls and entries that are no objects make nothing, and a scan with no failed
    control adds no resource. A control without a name is titled by its ID; a listed one without an ID goes by its
    name."""
    controls = {"C-0009": control(None), "C-0013": control("Non-root", status="passed"), "C-0016": "failed",
                "C-0017": control("Immutable fs", status=" Failed "), "C-0018": control("Probes", status=None),
                "x": control("Host PID", controlID="C-0038"), 46: control("Capabilities")}  # fmt: skip
    listed = [control("Seccomp", controlID="C-0210"), "C-0211", control("Non-root", status="passed"), control("Probes")]
    passed = {"C-0013": control("Non-root", status="passed")}
    found = kubescape_findings(
        scan("Deployment", "web", passed), scan("StatefulSet", "cart-db", controls), scan("Deployment", "api", None),
        scan("Deployment", "api", ["C-0009"]), scan("StatefulSet", "cart-cache", listed),
    )  # fmt: skip
    assert [(f.title, f.vulnerability_ids) for f in found] == [
        ("C-0009 - StatefulSet cart-db", ("C-0009",)), ("Immutable fs - StatefulSet cart-db", ("C-0017",)),
        ("Host PID - StatefulSet cart-db", ("C-0038",)), ("Capabilities - StatefulSet cart-db", ("46",)),
        ("Seccomp - StatefulSet cart-cache", ("C-0210",)), ("Probes - StatefulSet cart-cache", ("Probes",)),
    ]  # fmt: skip
    document = orjson.loads(kubescape.kubescape_document([scan("Deployment", "web", passed)]))
    assert document == {"summaryDetails": {"controls": {}}, "resources": [], "results": []}
    assert kubescape.kubescape_document([{"kind": "WorkloadConfigurationScan", "spec": "controls"}]) == orjson.dumps(
        {"summaryDetails": {"controls": {}}, "resources": [], "results": []}
    )


def test_listed_controls_without_an_id_stay_apart() -> None:
    """Two failed controls of an older, listed `spec.controls` without IDs are two findings, not one dropped: each
    goes by its name, or by its place when it has none."""
    listed = [control("Seccomp"), control("Probes"), control(None), control(None)]
    found = kubescape_findings(scan("StatefulSet", "cart-cache", listed))
    assert [(f.title, f.vulnerability_ids) for f in found] == [
        ("Seccomp - StatefulSet cart-cache", ("Seccomp",)), ("Probes - StatefulSet cart-cache", ("Probes",)),
        ("control-3 - StatefulSet cart-cache", ("control-3",)), ("control-4 - StatefulSet cart-cache", ("control-4",)),
    ]  # fmt: skip


@pytest.mark.parametrize("odd", [7, True, "rules", {"name": "x"}])
def test_rules_or_paths_that_are_no_list_read_as_none_and_the_rest_converts(odd: Any) -> None:
    """Hostile input gets a bounded answer: a control whose `rules`, or a rule whose `paths`, is a number, a
    boolean, text or an object is still one finding, and the scan's other controls are converted with it."""
    controls = {"C-0009": control("Resource limits", rules=odd),
                "C-0013": control("Non-root", rules=[{"name": "root", "status": {"status": "failed"}, "paths": odd}]),
                "C-0017": control("Immutable fs")}  # fmt: skip
    found = kubescape_findings(scan("StatefulSet", "cart-db", controls))
    assert [f.vulnerability_ids for f in found] == [("C-0009",), ("C-0013",), ("C-0017",)]


def test_a_control_is_graded_in_dojo_s_band_for_kubescape_s_grade_else_by_its_own_score() -> None:
    """DefectDojo grades by scoreFactor (up to 4 Low, 7 Medium, 9 High, 10 Critical, above that a failed import):
    kubescape's word wins in any case, then the score as a number or text, clamped to 0-10; a score that is no
    number (text, a boolean, NaN, nothing) is 0."""
    graded = [({"severity": " CRITICAL ", "scoreFactor": 2}, 10.0), ({"severity": "high"}, 8.0),
              ({"severity": "Medium", "scoreFactor": 9.5}, 5.0), ({"severity": "LOW", "scoreFactor": 10}, 1.0),
              ({"severity": "Severe", "scoreFactor": 7.5}, 7.5), ({"scoreFactor": "9.5"}, 9.5),
              ({"scoreFactor": 12}, 10.0), ({"scoreFactor": -3}, 0.0), ({"scoreFactor": True}, 0.0),
              ({"scoreFactor": "high"}, 0.0), ({"scoreFactor": "nan"}, 0.0), ({"scoreFactor": None}, 0.0),
              ({}, 0.0)]  # fmt: skip
    assert [kubescape.control_score({"severity": severity}) for severity, _ in graded] == [s for _, s in graded]
    assert kubescape.control_score({"severity": "High", "scoreFactor": 2}) == 8.0
    assert kubescape.control_score({"severity": None, "scoreFactor": 6.5}) == 6.5
    assert kubescape.control_score({"scoreFactor": "4"}) == 4.0
    controls = {
        f"C-{n:04}": {**control(f"control {n}"), "severity": severity} for n, (severity, _) in enumerate(graded)
    }
    found = kubescape_findings(scan("StatefulSet", "cart-db", controls))
    assert [f.severity for f in found] == ["Critical", "High", "Medium", "Low", "High", "Critical", "Critical", "Low",
                                           "Low", "Low", "Low", "Low", "Low"]  # fmt: skip


def test_a_control_s_texts_reach_the_finding_only_where_they_are_text() -> None:
    """Description and category (with its subcategory) go into the description, a hash_code field of many scanners
    and what analysts read; the mitigation is the control's `mitigation`, else its `remediation`. Null or
    structured values are left out, never printed as "None" nor a failed import."""
    controls = {
        "C-0009": control("Resource limits", description="Set CPU and memory limits", mitigation="Set limits",
                          remediation="ignored", category={"name": "Workload", "id": "Cat-1",
                                                           "subCategory": {"name": "Resources", "id": "Cat-2"}}),
        "C-0013": control("Non-root", remediation="Run as non-root", category={"name": "Access"}),
        "C-0016": control("Privilege escalation", description=None, mitigation=None, remediation="Disallow it",
                          category={"name": "Access", "subCategory": {"id": "Cat-3"}}),
        "C-0017": control("Immutable fs", description=["x"], mitigation=7, category={"name": None}),
        "C-0018": control("Probes", category="Workload"),
        "C-0019": control("Host network", category={"name": "Network", "subCategory": "Host"}),
    }  # fmt: skip
    found = kubescape_findings(scan("StatefulSet", "cart-db", controls))
    summary = "**Summary:** The ressource 'apps/v1/shop/StatefulSet/cart-db' has failed the control '{}'.\n"
    assert [(f.description, f.mitigation) for f in found] == [
        (summary.format("Resource limits") + "**Description:** Set CPU and memory limits\n"
         "**Category:** Workload > Resources\n", "Set limits"),
        (summary.format("Non-root") + "**Category:** Access\n", "Run as non-root"),
        (summary.format("Privilege escalation") + "**Category:** Access\n", ""),
        (summary.format("Immutable fs"), ""),
        (summary.format("Probes"), ""),
        (summary.format("Host network") + "**Category:** Network\n", ""),
    ]  # fmt: skip
    details = orjson.loads(kubescape.kubescape_document([scan("StatefulSet", "cart-db", controls)]))["summaryDetails"]
    assert details["controls"]["C-0009"] == {
        "controlID": "C-0009", "name": "Resource limits", "scoreFactor": 8.0,
        "description": "Set CPU and memory limits", "mitigation": "Set limits",
        "category": {"name": "Workload", "subCategory": {"name": "Resources"}},
    }  # fmt: skip


def test_one_workload_scanned_twice_is_one_resource_with_each_control_once() -> None:
    """The first scan's control stands; a control failing in two workloads is one summary, a finding each."""
    first = scan("StatefulSet", "cart-db", {"C-0009": control("Resource limits")})
    again = scan("StatefulSet", "cart-db", {"C-0009": control("Limits (renamed)"), "C-0013": control("Non-root")})
    other = scan("DaemonSet", "agent", {"C-0009": control("Resource limits", grade="Low")})
    document = orjson.loads(kubescape.kubescape_document([first, again, other]))
    assert document["resources"] == [
        {"resourceID": "apps/v1/shop/StatefulSet/cart-db",
         "object": {"apiVersion": "apps/v1", "kind": "StatefulSet",
                    "metadata": {"name": "cart-db", "namespace": "shop"}}},
        {"resourceID": "apps/v1/shop/DaemonSet/agent",
         "object": {"apiVersion": "apps/v1", "kind": "DaemonSet",
                    "metadata": {"name": "agent", "namespace": "shop"}}},
    ]  # fmt: skip
    assert [[c["name"] for c in result["controls"]] for result in document["results"]] == [
        ["Resource limits", "Non-root"], ["Resource limits"]
    ]  # fmt: skip
    assert list(document["summaryDetails"]["controls"]) == ["C-0009", "C-0013"]
    found = parse(KUBESCAPE, orjson.dumps(document))
    assert [(f.title, f.severity) for f in found] == [
        ("Resource limits - StatefulSet cart-db", "High"), ("Non-root - StatefulSet cart-db", "High"),
        ("Resource limits - DaemonSet agent", "High"),
    ]  # fmt: skip


def test_a_cluster_scoped_resource_s_object_has_no_namespace() -> None:
    """The CLI's `object` for a resource of the core API names its version alone, and no namespace when it has none."""
    cluster = scan("Namespace", "shop", {"C-0009": control("Resource limits")})
    cluster["metadata"]["labels"]["kubescape.io/workload-namespace"] = ""
    [resource] = orjson.loads(kubescape.kubescape_document([cluster]))["resources"]
    assert resource == {"resourceID": "/v1//Namespace/shop",
                        "object": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}}  # fmt: skip
