"""Edge cases of exporter/dojo/spool.py that mutation testing showed untested (docs/reliability.md).

The spool decides which DefectDojo test each object feeds and which objects are not imported at all; a mistake
sends a report to the wrong test (its findings closed in the right one) or drops a report that is the newest.
Pinned with plain objects and literal expectations, reading the scratch files the spool writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from exporter import catalog
from exporter.dojo import Workload
from exporter.dojo.spool import Spool, placements_of
from tests.report_objects import vulnerability_manifest, vulnerability_report

REPORTS = catalog.resolve("vulnerabilityreports")
MANIFESTS = catalog.resolve("vulnerabilitymanifests")
CLUSTER_AUDITS = catalog.resolve("clusterconfigauditreports")
SHOP_WEB = Workload("shop", "Deployment", "web", "app")
PAY_API = Workload("pay", "Deployment", "api", "app")
WEB_LABELS = {"trivy-operator.resource.kind": "Deployment", "trivy-operator.resource.name": "web"}


def lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def spooled(spool: Spool) -> dict[tuple[str, str, str, str, str], list[dict[str, Any]]]:
    """The scratch files' objects by spool key, after close()."""
    spool.close()
    return {key: lines(path) for key, path in spool.paths.items()}


def timed(obj: dict[str, Any], created: str, updated: str = "") -> dict[str, Any]:
    """The object with a creationTimestamp and, if given, its report's updateTimestamp."""
    metadata = {**obj["metadata"], "creationTimestamp": created}
    payload = {**obj["report"], "updateTimestamp": updated} if updated else obj["report"]
    return {**obj, "metadata": metadata, "report": payload}


def test_each_object_goes_to_its_namespaces_test_in_a_file_of_its_own_key(tmp_path: Path) -> None:
    """One scratch file per test, numbered in the order the tests first appear; a namespaced report without a
    namespace and a cluster-scoped report go to the `cluster` test."""
    spool = Spool(tmp_path, {})
    shop, pay = vulnerability_report("shop", "replicaset-web-1"), vulnerability_report("pay", "replicaset-api-1")
    homeless = vulnerability_report("", "replicaset-db-1")
    spool.add(REPORTS, shop)
    spool.add(REPORTS, pay)
    spool.add(REPORTS, vulnerability_report("shop", "replicaset-cart-1"))
    spool.add(REPORTS, homeless)
    audit = {"apiVersion": "aquasecurity.github.io/v1alpha1", "kind": "ClusterConfigAuditReport",
             "metadata": {"name": "node-1", "labels": {}}, "report": {"checks": []}}  # fmt: skip
    spool.add(CLUSTER_AUDITS, audit)
    assert {key: path.name for key, path in spool.paths.items()} == {
        ("trivy-operator", "vulnerability", "shop", "", "Trivy Operator Scan"): "00000.jsonl",
        ("trivy-operator", "vulnerability", "pay", "", "Trivy Operator Scan"): "00001.jsonl",
        ("trivy-operator", "vulnerability", "cluster", "", "Trivy Operator Scan"): "00002.jsonl",
        ("trivy-operator", "config-audit", "cluster", "", "Trivy Operator Scan"): "00003.jsonl",
    }
    files = spooled(spool)
    names = {key[2:4] + key[1:2]: [obj["metadata"]["name"] for obj in objs] for key, objs in files.items()}
    assert names == {
        ("shop", "", "vulnerability"): ["replicaset-web-1", "replicaset-cart-1"],
        ("pay", "", "vulnerability"): ["replicaset-api-1"],
        ("cluster", "", "vulnerability"): ["replicaset-db-1"],
        ("cluster", "", "config-audit"): ["node-1"],
    }
    assert all(path.parent == tmp_path for path in spool.paths.values())
    assert files[("trivy-operator", "vulnerability", "shop", "", "Trivy Operator Scan")][0] == shop


def test_an_image_manifest_feeds_each_namespace_that_runs_it_told_its_workloads(tmp_path: Path) -> None:
    """A Kubescape image manifest goes to `<namespace>, <image>` for every namespace whose workloads run it,
    annotated with that namespace's workloads (sorted, no repeats); cluster-wide workloads make `cluster`."""
    node = Workload("", "DaemonSet", "agent", "")
    running = (SHOP_WEB, PAY_API, Workload("shop", "Deployment", "cart", "app"), SHOP_WEB, node)
    manifest = vulnerability_manifest("nginx-1.25")
    manifest["metadata"] = {"name": "nginx-1.25", "namespace": "kubescape", "annotations": {"kept": "yes"}}
    assert placements_of(MANIFESTS, manifest, {"nginx-1.25": running}) == (
        ("cluster", "nginx-1.25"), ("pay", "nginx-1.25"), ("shop", "nginx-1.25"),
    )  # fmt: skip
    spool = Spool(tmp_path, {"nginx-1.25": running})
    spool.add(MANIFESTS, manifest)
    files = spooled(spool)
    annotations = {key[2]: objs[0]["metadata"]["annotations"] for key, objs in files.items()}
    workloads = "report-exporter.io/workloads"
    assert annotations == {
        "shop": {"kept": "yes", workloads: "shop/Deployment/cart/app, shop/Deployment/web/app"},
        "pay": {"kept": "yes", workloads: "pay/Deployment/api/app"},
        "cluster": {"kept": "yes", workloads: "/DaemonSet/agent"},
    }
    assert {key[3] for key in files} == {"nginx-1.25"}
    assert manifest["metadata"]["annotations"] == {"kept": "yes"}  # the archive's object is not changed


def test_an_image_manifest_no_workload_runs_is_unplaced_but_a_filtered_one_is_not(tmp_path: Path) -> None:
    """A manifest of an image no workload runs any more is said by name; a relevancy-filtered manifest (a subset
    of its image's) is skipped without a word, even for an image that is running."""
    filtered = vulnerability_manifest("pod-web-app")
    filtered["metadata"]["labels"] = {**filtered["metadata"]["labels"], "kubescape.io/context": "filtered"}
    images = {"pod-web-app": (SHOP_WEB,)}
    spool = Spool(tmp_path, images)
    spool.add(MANIFESTS, vulnerability_manifest("nginx-1.25"))
    spool.add(MANIFESTS, filtered)
    assert placements_of(MANIFESTS, filtered, images) == ()
    assert spool.unplaced == ["vulnerabilitymanifests kubescape/nginx-1.25: no workload runs its image"]
    assert spool.paths == {}
    nameless = vulnerability_manifest("")
    nameless["metadata"] = {"name": "alpine-3"}
    spool.add(MANIFESTS, nameless)
    assert spool.unplaced[1:] == ["vulnerabilitymanifests alpine-3: no workload runs its image"]


def test_an_object_without_its_report_holds_its_family_with_the_first_reason(tmp_path: Path) -> None:
    """An object whose report is missing writes nothing and holds its family, naming the first such object."""
    spool = Spool(tmp_path, {})
    first, second = vulnerability_report("shop", "replicaset-web-1"), vulnerability_report("pay", "replicaset-api-1")
    del first["report"], second["report"]
    spool.add(REPORTS, first)
    spool.add(REPORTS, second)
    assert spool.holes == {
        ("trivy-operator", "vulnerability"): "vulnerabilityreports shop/replicaset-web-1 has no report to import; "
        "not reimported"
    }
    assert spool.paths == {}


def web_report(name: str, created: str, updated: str = "", namespace: str = "shop") -> dict[str, Any]:
    """A VulnerabilityReport of the Deployment shop/web (its labels name the Deployment), created at `created`."""
    return timed(vulnerability_report(namespace, name, **WEB_LABELS), created, updated)


def test_the_newest_report_of_a_workload_wins_whatever_order_they_come_in(tmp_path: Path) -> None:
    """Of a workload's reports the newest created is kept, the others leave the scratch file and are named."""
    old, new = web_report("r-old", "2026-01-01T00:00:00Z"), web_report("r-new", "2026-02-01T00:00:00Z")
    oldest = web_report("r-oldest", "2025-12-01T00:00:00Z")
    for index, order in enumerate(((old, new, oldest), (new, oldest, old), (oldest, old, new))):
        spool = Spool(tmp_path / str(index), {})
        spool.scratch.mkdir()
        other = vulnerability_report("shop", "replicaset-cart-1")
        for obj in (*order, other):
            spool.add(REPORTS, obj)
        spool.close()
        assert spool.drop_superseded() == [
            "vulnerabilityreports shop/r-old: superseded by shop/r-new",
            "vulnerabilityreports shop/r-oldest: superseded by shop/r-new",
        ]
        [path] = spool.paths.values()
        assert [obj["metadata"]["name"] for obj in lines(path)] == ["r-new", "replicaset-cart-1"]


def test_the_update_time_then_the_name_break_a_tie_of_creation_times(tmp_path: Path) -> None:
    """Same creationTimestamp: the later `report.updateTimestamp` wins; same both: the later name."""
    created = "2026-01-01T00:00:00Z"
    cases = [
        ((web_report("r-b", created, "2026-01-02T00:00:00Z"), web_report("r-a", created, "2026-01-03T00:00:00Z")),
         "vulnerabilityreports shop/r-b: superseded by shop/r-a"),
        ((web_report("r-b", created), web_report("r-a", created)),
         "vulnerabilityreports shop/r-a: superseded by shop/r-b"),
    ]  # fmt: skip
    for index, (objs, expected) in enumerate(cases):
        spool = Spool(tmp_path / str(index), {})
        spool.scratch.mkdir()
        for obj in objs:
            spool.add(REPORTS, obj)
        spool.close()
        assert spool.drop_superseded() == [expected]


def test_reports_of_no_named_workload_or_of_two_workloads_supersede_nothing(tmp_path: Path) -> None:
    """Reports whose labels name no workload, and reports of workloads in two namespaces, are all kept; nothing
    is rewritten."""
    nameless = {"trivy-operator.resource.kind": "Deployment", "trivy-operator.resource.name": ""}
    spool = Spool(tmp_path, {})
    objs = [
        timed(vulnerability_report("shop", "r-1", **nameless), "2026-01-01T00:00:00Z"),
        timed(vulnerability_report("shop", "r-2", **nameless), "2026-02-01T00:00:00Z"),
        web_report("r-3", "2026-01-01T00:00:00Z", namespace="shop"),
        web_report("r-4", "2026-02-01T00:00:00Z", namespace="pay"),
    ]
    for obj in objs:
        spool.add(REPORTS, obj)
    files = spooled(spool)
    assert spool.drop_superseded() == []
    assert {key: lines(path) for key, path in spool.paths.items()} == files
    assert sum(len(objs) for objs in files.values()) == 4


def test_a_report_without_a_creation_or_update_time_is_the_older(tmp_path: Path) -> None:
    """A missing timestamp is older than any: the report that has one wins the tie it would break."""
    created = "2026-01-01T00:00:00Z"
    cases = [
        (web_report("r-a", created, "2026-01-02T00:00:00Z"), web_report("r-b", created)),
        (web_report("r-a", created), vulnerability_report("shop", "r-b", **WEB_LABELS)),
    ]  # fmt: skip
    for index, objs in enumerate(cases):
        spool = Spool(tmp_path / str(index), {})
        spool.scratch.mkdir()
        for obj in objs:
            spool.add(REPORTS, obj)
        spool.close()
        assert spool.drop_superseded() == ["vulnerabilityreports shop/r-b: superseded by shop/r-a"]


def test_a_superseded_cluster_scoped_report_leaves_the_scratch_file(tmp_path: Path) -> None:
    """Reports without a namespace (a ClusterRole's) are superseded like the others: the older one is dropped."""
    kind = catalog.resolve("clusterrbacassessmentreports")
    labels = {"trivy-operator.resource.kind": "ClusterRole", "trivy-operator.resource.name": "admin",
              "trivy-operator.resource.namespace": ""}  # fmt: skip
    spool = Spool(tmp_path, {})
    for name, created in (("clusterrole-old", "2026-01-01T00:00:00Z"), ("clusterrole-new", "2026-02-01T00:00:00Z")):
        metadata = {"name": name, "labels": labels, "creationTimestamp": created}
        obj = {"apiVersion": "aquasecurity.github.io/v1alpha1", "kind": "ClusterRbacAssessmentReport",
               "metadata": metadata, "report": {"checks": []}}  # fmt: skip
        spool.add(kind, obj)
    spool.close()
    assert spool.drop_superseded() == ["clusterrbacassessmentreports /clusterrole-old: superseded by /clusterrole-new"]
    [path] = spool.paths.values()
    assert [obj["metadata"]["name"] for obj in lines(path)] == ["clusterrole-new"]


def test_a_superseded_report_of_another_api_version_leaves_the_scratch_file(tmp_path: Path) -> None:
    """Files may hold a report of another version of the group (exporter/filesource.py takes it by group and
    kind): superseded, it is dropped like one of the catalog's version, not said dropped and imported anyway."""
    spool = Spool(tmp_path, {})
    for name, created in (("r-old", "2026-01-01T00:00:00Z"), ("r-new", "2026-02-01T00:00:00Z")):
        spool.add(REPORTS, {**web_report(name, created), "apiVersion": "aquasecurity.github.io/v1alpha2"})
    spool.close()
    assert spool.drop_superseded() == ["vulnerabilityreports shop/r-old: superseded by shop/r-new"]
    [path] = spool.paths.values()
    assert [obj["metadata"]["name"] for obj in lines(path)] == ["r-new"]
