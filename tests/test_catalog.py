"""The catalog is the single place report kinds live; these tests pin it to the upstream coordinates."""

import pytest
import yaml

from exporter import catalog
from exporter.catalog import CATALOG, Scanner
from tests.upstream_crds import trivy_crd_paths


def test_catalog_covers_every_kind_of_both_scanners() -> None:
    plurals = {entry.plural for entry in CATALOG}
    assert plurals == {
        "vulnerabilityreports", "clustervulnerabilityreports", "configauditreports", "clusterconfigauditreports",
        "exposedsecretreports", "rbacassessmentreports", "clusterrbacassessmentreports", "infraassessmentreports",
        "clusterinfraassessmentreports", "clustercompliancereports", "sbomreports", "clustersbomreports",
        "vulnerabilitymanifests", "vulnerabilitymanifestsummaries", "vulnerabilitysummaries",
        "workloadconfigurationscans", "workloadconfigurationscansummaries", "configurationscansummaries",
        "sbomsyfts", "sbomsyftfiltereds",
    }  # fmt: skip
    assert len(plurals) == len(CATALOG)


def test_trivy_kinds_match_the_upstream_crds() -> None:
    upstream = {}
    for path in trivy_crd_paths():
        spec = yaml.safe_load(path.read_text())["spec"]
        upstream[spec["names"]["plural"]] = (
            spec["group"], [v["name"] for v in spec["versions"] if v.get("served")], spec["names"]["kind"],
            spec["scope"] == "Namespaced",
        )  # fmt: skip
    trivy = [entry for entry in CATALOG if entry.scanner is Scanner.TRIVY]
    assert {entry.plural for entry in trivy} == set(upstream)
    for entry in trivy:
        group, versions, kind, namespaced = upstream[entry.plural]
        assert (entry.group, entry.kind, entry.namespaced) == (group, kind, namespaced), entry.plural
        assert entry.version in versions


def test_kubescape_cluster_scoped_kinds_are_the_two_virtual_summaries() -> None:
    cluster_scoped = {e.plural for e in CATALOG if e.scanner is Scanner.KUBESCAPE and not e.namespaced}
    assert cluster_scoped == {"vulnerabilitysummaries", "configurationscansummaries"}


def test_every_kubescape_kind_is_fetched_whole_because_its_list_omits_the_report() -> None:
    assert all(e.list_omits_payload for e in CATALOG if e.scanner is Scanner.KUBESCAPE)
    assert not any(e.list_omits_payload for e in CATALOG if e.scanner is Scanner.TRIVY)


def test_summaries_and_sboms_are_archived_not_imported() -> None:
    for entry in CATALOG:
        archived_only = entry.family in (catalog.Family.SUMMARY, catalog.Family.SBOM)
        assert entry.dojo.imported is not archived_only, entry.plural
        assert archived_only == bool(entry.dojo.reason)


@pytest.mark.parametrize(
    "name", ["vulnerabilityreports", "VulnerabilityReport", "vulnerabilityreports.aquasecurity.github.io"]
)
def test_resolve_accepts_plural_kind_and_resource(name: str) -> None:
    assert catalog.resolve(name).plural == "vulnerabilityreports"


def test_resolve_names_the_known_kinds_when_it_fails() -> None:
    with pytest.raises(catalog.UnknownKindError, match="known kinds: vulnerabilityreports"):
        catalog.resolve("vulnreports")


def test_select_includes_then_excludes_in_catalog_order() -> None:
    chosen = catalog.select(["sbomreports", "vulnerabilityreports", "configauditreports"], ["configauditreports"])
    assert [entry.plural for entry in chosen] == ["vulnerabilityreports", "sbomreports"]
    assert catalog.select() == CATALOG


def test_lookup_by_api_version_and_kind() -> None:
    entry = catalog.by_api_kind("spdx.softwarecomposition.kubescape.io/v1beta1", "VulnerabilityManifest")
    assert entry is not None and entry.dojo.scan_type == "Anchore Grype"
    assert catalog.by_api_kind("v1", "ConfigMap") is None
    assert catalog.by_group_kind("aquasecurity.github.io", "SbomReport") is catalog.resolve("sbomreports")
