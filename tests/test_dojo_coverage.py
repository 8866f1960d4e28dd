"""DefectDojo is told only what a run read whole: filtered runs, missing scoping kinds, reports without payload and
lingering ReplicaSets never close a finding that was not fixed (issue 11, items 1, 2, 3, 5 and 7).

Each test runs the real getter on files, then the real sync against the stand-in that parses, hashes and closes
like DefectDojo, and counts what is open before and after.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.archive.filestore import FileStore
from exporter.config import load_settings
from exporter.dojo.client import DojoClient
from exporter.dojo.coverage import coverage_of
from exporter.dojo.plan import build_plan
from exporter.dojo.sync import SyncResult, sync_run
from exporter.filesource import FileScan, iter_report_objects
from exporter.getter import get_from_files
from exporter.progress import JsonReporter
from exporter.samples import sample_cluster_dir
from tests.dojo_standin import DojoStandin
from tests.report_objects import vulnerability_report

TOKEN = "coverage-token"


@pytest.fixture
def dojo() -> Iterator[DojoStandin]:
    with DojoStandin(token=TOKEN) as standin:
        yield standin


class Nights:
    """get (with the given filters) and sync, night after night, state kept in one archive."""

    def __init__(self, tmp_path: Path, dojo: DojoStandin) -> None:
        self.tmp_path, self.dojo, self.count = tmp_path, dojo, 0
        self.store = FileStore((tmp_path / "archive").as_uri())

    def run_dir(self, objects: list[dict[str, Any]], **filters: Any) -> Path:
        self.count += 1
        source = self.tmp_path / f"source-{self.count}"
        source.mkdir()
        (source / "reports.yaml").write_text(yaml.safe_dump_all(objects))
        settings = self.settings(**filters)
        return get_from_files(settings, source, self.tmp_path / "runs", JsonReporter(io.StringIO())).run_dir

    def sync(self, objects: list[dict[str, Any]], **filters: Any) -> SyncResult:
        settings = self.settings(**filters)
        client = DojoClient(settings.dojo, api_key=TOKEN)
        try:
            return sync_run(self.run_dir(objects, **filters), settings.dojo, client, JsonReporter(io.StringIO()),
                            store=self.store)  # fmt: skip
        finally:
            client.close()

    def settings(self, **filters: Any) -> Any:
        flags = {"cluster": "prod", "dojo.url": self.dojo.url, "dojo.api_key": TOKEN, "dojo.retries": 1,
                 "dojo.backoff_factor": 0} | {f"filters.{key}": value for key, value in filters.items()}  # fmt: skip
        return load_settings(environ={}, flags=flags)

    def open_findings(self) -> set[int]:
        return {finding["id"] for finding in self.dojo.findings(active=True)}


@pytest.fixture
def nights(tmp_path: Path, dojo: DojoStandin) -> Nights:
    return Nights(tmp_path, dojo)


def sample() -> list[dict[str, Any]]:
    return [dict(obj) for _, obj in iter_report_objects(sample_cluster_dir(), FileScan())]


def vulnerable(namespace: str, replicaset: str, cve: str, *, created: str = "2026-11-01T00:00:00Z") -> dict[str, Any]:
    obj = vulnerability_report(namespace, f"replicaset-{replicaset}-app")
    obj["metadata"]["labels"]["trivy-operator.resource.name"] = replicaset
    obj["metadata"]["creationTimestamp"] = created
    obj["report"]["vulnerabilities"][0]["vulnerabilityID"] = cve
    return obj


def test_a_run_filtered_to_one_namespace_closes_nothing_elsewhere(nights: Nights) -> None:
    everything = sample()
    first = nights.sync(everything)
    assert not first.failed and len(nights.open_findings()) > 100
    before = nights.open_findings()
    result = nights.sync(everything, namespaces=["shop"])
    assert result.emptied == [], "no scope the run did not read is re-sent empty"
    assert nights.open_findings() == before


def test_a_kind_left_out_by_a_filter_closes_nothing_of_its_scopes(nights: Nights) -> None:
    everything = sample()
    nights.sync(everything)
    before = nights.open_findings()
    result = nights.sync(everything, exclude_kinds=["configauditreports"])
    assert result.emptied == [] and nights.open_findings() == before


def test_a_label_selected_run_holds_every_family(nights: Nights) -> None:
    everything = sample()
    nights.sync(everything)
    before = nights.open_findings()
    result = nights.sync(everything, label_selector="app.kubernetes.io/name=web")
    assert result.reimported == [] and result.emptied == [] and nights.open_findings() == before
    assert result.held and all("labelled 'app.kubernetes.io/name=web'" in line for line in result.held)


def test_without_the_summaries_kubescape_image_findings_are_held_not_moved(nights: Nights) -> None:
    everything = sample()
    nights.sync(everything)
    before = nights.open_findings()
    result = nights.sync(everything, exclude_kinds=["vulnerabilitymanifestsummaries"])
    assert nights.open_findings() == before, "no finding moved to another scope, none closed"
    assert [line for line in result.held if line.startswith("kubescape/vulnerability: ")] == [
        "kubescape/vulnerability: vulnerabilitymanifests are placed in namespaces by vulnerabilitymanifestsummaries, "
        "which this run did not select"
    ]


def test_an_image_manifest_without_its_payload_holds_the_family(nights: Nights) -> None:
    everything = sample()
    nights.sync(everything)
    before = nights.open_findings()
    stripped = [dict(obj) for obj in everything]
    image = next(i for i, obj in enumerate(stripped) if obj["kind"] == "VulnerabilityManifest"
                 and "payload" in obj.get("spec", {}) and obj["spec"]["payload"].get("matches"))  # fmt: skip
    stripped[image] = {**stripped[image], "spec": {"metadata": stripped[image]["spec"].get("metadata", {})}}
    result = nights.sync(stripped)
    assert nights.open_findings() == before
    held = [line for line in result.held if line.startswith("kubescape/vulnerability: ")]
    assert len(held) == 1 and "has no report to import" in held[0]


def test_a_lingering_old_replicaset_report_is_superseded_by_the_newest(nights: Nights, tmp_path: Path) -> None:
    old = vulnerable("shop", "web-6d4cf56db6", "CVE-2024-0001", created="2026-11-01T00:00:00Z")
    new = vulnerable("shop", "web-7f8b9c5d4e", "CVE-2024-0002", created="2026-11-20T00:00:00Z")
    nights.sync([old, new])
    titles = sorted(finding["title"].split(" ")[0] for finding in nights.dojo.findings(active=True))
    assert titles == ["CVE-2024-0002"], "the rollout fixed CVE-2024-0001: it is not imported again"
    run_dir = nights.run_dir([new, old])
    plan = build_plan(run_dir, _manifest(run_dir), nights.settings().dojo, tmp_path)
    assert plan.superseded == [
        "vulnerabilityreports shop/replicaset-web-6d4cf56db6-app: superseded by shop/replicaset-web-7f8b9c5d4e-app"
    ]


def test_a_namespaced_report_without_the_namespace_label_stays_in_its_namespace(nights: Nights) -> None:
    unlabelled = vulnerable("payments", "api-5b8c7d9f4", "CVE-2024-0003")
    del unlabelled["metadata"]["labels"]["trivy-operator.resource.namespace"]
    nights.sync([unlabelled])
    assert sorted(test["title"] for test in nights.dojo.tests()) == ["vulnerability payments"]


def test_a_scanner_that_is_no_longer_served_closes_nothing(nights: Nights) -> None:
    everything = sample()
    nights.sync(everything)
    before = nights.open_findings()
    trivy_only = [obj for obj in everything if obj["apiVersion"].startswith("aquasecurity.github.io/")]
    result = nights.sync(trivy_only)
    assert result.emptied == [] and nights.open_findings() == before


def test_coverage_knows_the_scopes_a_namespace_filter_read() -> None:
    def entry(plural: str, kind: str) -> dict[str, Any]:
        return {"apiVersion": "aquasecurity.github.io/v1alpha1", "kind": kind, "plural": plural, "status": "complete"}

    manifest = {
        "kinds": [entry("vulnerabilityreports", "VulnerabilityReport"),
                  entry("clustervulnerabilityreports", "ClusterVulnerabilityReport")],
        "filters": {"namespaces": ["shop"], "exclude_namespaces": ["kube-system"], "label_selector": ""},
    }  # fmt: skip
    coverage = coverage_of(manifest)
    vulnerability, config_audit = ("trivy-operator", "vulnerability"), ("trivy-operator", "config-audit")
    assert [coverage.knows(vulnerability, scope) for scope in ("shop", "payments", "kube-system", "cluster")] == [
        True, False, False, True
    ]  # fmt: skip
    assert not coverage.knows(config_audit, "shop"), "a family none of whose kinds were read is unknown"


def _manifest(run_dir: Path) -> dict[str, Any]:
    from exporter.rundir import reader

    return reader.read_manifest(run_dir)


def test_two_images_with_one_vulnerable_package_stay_two_findings_naming_image_and_workloads(nights: Nights) -> None:
    everything = sample()
    manifests = [obj for obj in everything if obj["kind"] == "VulnerabilityManifest"
                 and obj["metadata"]["name"].startswith("ghcr.io-acme-retail-cart")]  # fmt: skip
    [cart] = manifests
    twin = copy.deepcopy(cart)
    twin["metadata"]["name"] = "ghcr.io-acme-retail-cart-worker-1.9.0-0c1a2b"
    twin["metadata"]["annotations"]["kubescape.io/image-tag"] = "ghcr.io/acme-retail/cart-worker:1.9.0"
    summaries = [obj for obj in everything if obj["kind"] == "VulnerabilityManifestSummary"]
    cart_name = cart["metadata"]["name"]
    summary = copy.deepcopy(
        next(obj for obj in summaries if obj["spec"]["vulnerabilitiesRef"]["all"]["name"] == cart_name)
    )
    summary["metadata"]["name"] = "deployment-cart-worker-worker"
    summary["metadata"]["labels"] |= {"kubescape.io/workload-name": "cart-worker",
                                      "kubescape.io/workload-container-name": "worker"}  # fmt: skip
    summary["spec"]["vulnerabilitiesRef"]["all"]["name"] = twin["metadata"]["name"]
    nights.sync([*everything, twin, summary])
    tests = {test["id"]: test["title"] for test in nights.dojo.tests()}
    first = cart["spec"]["payload"]["matches"][0]
    title = f"{first['vulnerability']['id']} in {first['artifact']['name']}:{first['artifact']['version']}"
    found = [f for f in nights.dojo.findings(active=True) if f["title"] == title and "/cart" in tests[f["test"]]]
    assert sorted(tests[f["test"]] for f in found) == [
        "vulnerability shop ghcr.io/acme-retail/cart-worker:1.9.0",
        "vulnerability shop ghcr.io/acme-retail/cart:1.9.0",
    ]
    by_test = {tests[f["test"]]: f["description"] for f in found}
    cart_test = "vulnerability shop ghcr.io/acme-retail/cart:1.9.0"
    worker_test = "vulnerability shop ghcr.io/acme-retail/cart-worker:1.9.0"
    assert "**Image:** ghcr.io/acme-retail/cart:1.9.0\n**Workloads:** shop/Deployment/cart/cart\n" in by_test[cart_test]
    assert (
        "**Image:** ghcr.io/acme-retail/cart-worker:1.9.0\n**Workloads:** shop/Deployment/cart-worker/worker\n"
        in (by_test[worker_test])
    )


def test_an_integer_beyond_64_bits_reaches_dojo_like_any_other(nights: Nights) -> None:
    huge = vulnerable("shop", "web-6d4cf56db6", "CVE-2024-0004")
    huge["report"]["vulnerabilities"][0]["score"] = 123456789012345678901234567890
    result = nights.sync([huge])
    assert result.failed == [] and len(result.reimported) == 1
    assert [f["title"].split(" ")[0] for f in nights.dojo.findings(active=True)] == ["CVE-2024-0004"]
