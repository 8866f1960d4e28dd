"""What a run read, from its manifest alone (exporter/dojo/coverage.py): pure, with literal manifests and the held
reasons an operator reads, word for word. tests/test_dojo_coverage.py shows the same rules end to end, night after
night, against the DefectDojo stand-in."""

from __future__ import annotations

from typing import Any

import pytest

from exporter import catalog
from exporter.dojo.coverage import Coverage, coverage_of, hold_reason

TRIVY = "aquasecurity.github.io/v1alpha1"
KUBESCAPE = "spdx.softwarecomposition.kubescape.io/v1beta1"
VULNERABILITY = ("trivy-operator", "vulnerability")
CONFIG_AUDIT = ("trivy-operator", "config-audit")
IMAGES = ("kubescape", "vulnerability")
WORKLOAD_SCANS = ("kubescape", "config-audit")


def entry(plural: str, status: str = "complete", **extra: Any) -> dict[str, Any]:
    kind = catalog.resolve(plural)
    return {"apiVersion": kind.api_version, "kind": kind.kind, "plural": plural, "status": status, **extra}


def manifest(*entries: dict[str, Any], **filters: Any) -> dict[str, Any]:
    return {"kinds": list(entries), "filters": filters}


def every_kind(**statuses: str) -> list[dict[str, Any]]:
    """Every catalog kind complete, but those given another status."""
    return [entry(kind.plural, statuses.get(kind.plural, "complete")) for kind in catalog.CATALOG]


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"status": "failed", "error": "forbidden"},
         "vulnerabilityreports failed in this run (forbidden); not reimported"),
        ({"objects_with_warnings": 2, "warnings": ["shop/a: no report", "shop/b: no report"]},
         "2 vulnerabilityreports archived without their report (first: shop/a: no report); not reimported"),
        ({"objects_with_warnings": 1},
         "1 vulnerabilityreports archived without their report (first: ?); not reimported"),
        ({"malformed_objects": 3, "malformed": ["shop/c: no metadata"]},
         "3 malformed vulnerabilityreports (first: shop/c: no metadata); not reimported"),
        ({"malformed_objects": 1}, "1 malformed vulnerabilityreports (first: ?); not reimported"),
        ({"objects_with_warnings": 0, "malformed_objects": 0}, None),
    ],
)  # fmt: skip
def test_hold_reason_says_what_left_a_hole(extra: dict[str, Any], why: str | None) -> None:
    kind = catalog.resolve("vulnerabilityreports")
    assert hold_reason(kind, entry("vulnerabilityreports") | extra) == why


def test_a_whole_run_holds_nothing_and_knows_every_scope() -> None:
    coverage = coverage_of(manifest(*every_kind()))
    assert coverage == Coverage()
    assert all(coverage.knows(family, scope) for family in (VULNERABILITY, IMAGES) for scope in ("shop", "cluster"))


def test_a_failed_kind_holds_its_family_alone_with_the_first_reason() -> None:
    kinds = every_kind(vulnerabilityreports="failed", clustervulnerabilityreports="failed")
    kinds[1]["error"], kinds[0]["error"] = "second", "first"
    coverage = coverage_of(manifest(*kinds))
    assert coverage.held == {VULNERABILITY: "vulnerabilityreports failed in this run (first); not reimported"}
    assert not coverage.knows(VULNERABILITY, "shop") and not coverage.knows(VULNERABILITY, "cluster")
    assert coverage.knows(CONFIG_AUDIT, "shop") and coverage.knows(CONFIG_AUDIT, "cluster")


def test_a_kind_that_is_not_imported_holds_nothing() -> None:
    coverage = coverage_of(manifest(*every_kind(sbomreports="failed", vulnerabilitymanifestsummaries="complete")))
    assert coverage.held == {}


def test_a_label_selector_holds_every_imported_family_of_the_run() -> None:
    kinds = [entry("vulnerabilityreports"), entry("configauditreports"), entry("sbomreports")]
    coverage = coverage_of(manifest(*kinds, label_selector="app=web"))
    why = "the run read only objects labelled 'app=web': every scope is partial"
    assert coverage.held == {VULNERABILITY: why, CONFIG_AUDIT: why}


def test_a_kind_not_read_leaves_the_scopes_it_feeds_unknown() -> None:
    """clustervulnerabilityreports absent, configauditreports not selected: their scopes are unknown, the others'
    (the namespaces of vulnerabilityreports, the cluster of clusterconfigauditreports) are known."""
    kinds = every_kind(clustervulnerabilityreports="absent")
    kinds = [kind for kind in kinds if kind["plural"] != "configauditreports"]
    coverage = coverage_of(manifest(*kinds))
    assert coverage.held == {}
    assert (VULNERABILITY, False) in coverage.unselected and (CONFIG_AUDIT, True) in coverage.unselected
    assert [coverage.knows(VULNERABILITY, scope) for scope in ("shop", "cluster")] == [True, False]
    assert [coverage.knows(CONFIG_AUDIT, scope) for scope in ("shop", "cluster")] == [False, True]


@pytest.mark.parametrize(
    ("summaries", "why"),
    [
        (None, "vulnerabilitymanifests are placed in namespaces by vulnerabilitymanifestsummaries, which this run did "
               "not select"),
        ("absent", "vulnerabilitymanifests are placed in namespaces by vulnerabilitymanifestsummaries, which the "
                   "cluster does not serve"),
        ("failed", "vulnerabilitymanifests are placed in namespaces by vulnerabilitymanifestsummaries, which failed in "
                   "this run (timeout)"),
    ],
)  # fmt: skip
def test_image_manifests_without_their_summaries_are_held(summaries: str | None, why: str) -> None:
    kinds = [entry("vulnerabilitymanifests"), entry("workloadconfigurationscans")]
    if summaries is not None:
        kinds.append(entry("vulnerabilitymanifestsummaries", summaries, error="timeout"))
    coverage = coverage_of(manifest(*kinds))
    assert coverage.held == {IMAGES: why}
    assert not coverage.knows(IMAGES, "shop") and coverage.knows(WORKLOAD_SCANS, "shop")


@pytest.mark.parametrize("filters", [{"namespaces": ["shop"]}, {"exclude_namespaces": ["kube-system"]}])
def test_a_namespace_filter_holds_image_manifests(filters: dict[str, list[str]]) -> None:
    kinds = [entry("vulnerabilitymanifests"), entry("vulnerabilitymanifestsummaries"), entry("vulnerabilityreports")]
    coverage = coverage_of(manifest(*kinds, **filters))
    assert coverage.held == {IMAGES: "a namespace filter selects vulnerabilitymanifests by their own namespace, not "
                                     "by the workloads' that run the image: their scopes are unknown"}  # fmt: skip


def test_absent_image_manifests_need_no_summaries() -> None:
    coverage = coverage_of(manifest(entry("vulnerabilitymanifests", "absent"), entry("vulnerabilityreports")))
    assert IMAGES not in coverage.held


def test_namespace_filters_say_which_namespaces_are_known() -> None:
    coverage = coverage_of(manifest(*every_kind(), namespaces=["shop", "payments"], exclude_namespaces=["payments"]))
    assert [coverage.knows(VULNERABILITY, scope) for scope in ("shop", "payments", "web", "cluster")] == [
        True, False, False, True
    ]  # fmt: skip
    only_excluded = coverage_of(manifest(*every_kind(), exclude_namespaces=["kube-system"]))
    assert [only_excluded.knows(VULNERABILITY, scope) for scope in ("shop", "kube-system")] == [True, False]


def test_a_manifest_without_filters_or_with_kinds_outside_the_catalog_is_read() -> None:
    stranger = {"apiVersion": "example.com/v1", "kind": "Other", "plural": "others", "status": "failed"}
    coverage = coverage_of({"kinds": [*every_kind(), stranger]})
    assert coverage == Coverage()
