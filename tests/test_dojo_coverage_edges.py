"""What a run read, at an edge found by mutation testing: a kind DefectDojo does not import (an SBOM, a summary)
listed before a failed kind must not end the look at the manifest, or the failed kind's family is reimported with
a hole and its findings closed."""

from __future__ import annotations

from exporter import catalog
from exporter.dojo.coverage import coverage_of


def test_a_failed_kind_listed_after_an_archived_only_kind_still_holds_its_family() -> None:
    kinds = [
        {"apiVersion": kind.api_version, "kind": kind.kind, "plural": kind.plural, "status": "complete"}
        for kind in catalog.CATALOG
    ]
    plurals = [entry["plural"] for entry in kinds]
    assert plurals.index("sbomreports") < plurals.index("workloadconfigurationscans"), "the catalog's order"
    failed = kinds[plurals.index("workloadconfigurationscans")]
    failed.update(status="failed", error="the storage API timed out")
    coverage = coverage_of({"kinds": kinds, "filters": {}})
    assert dict(coverage.held) == {
        ("kubescape", "config-audit"): "workloadconfigurationscans failed in this run (the storage API timed out); "
        "not reimported"
    }
    assert not coverage.knows(("kubescape", "config-audit"), "shop")
