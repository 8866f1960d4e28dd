"""`finding_identities` against the port of DefectDojo's parsers and hash codes (tests/dojo_parsers.py).

The oracle is the port, not identities.py: for every document the bundled sample feeds DefectDojo, the identities
must count the findings DefectDojo keeps (distinct hash_codes), group them as the hash_codes do, and change
exactly when a hash_code changes, whichever input field is touched.
"""

from __future__ import annotations

import copy
import dataclasses
import io
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from exporter.config import load_settings
from exporter.dojo.identities import finding_identities
from exporter.dojo.plan import build_plan
from exporter.getter import get_from_files
from exporter.progress import JsonReporter
from exporter.rundir import reader
from exporter.samples import sample_cluster_dir
from tests import dojo_parsers

SERVICE = "prod/trivy-operator/vulnerability/shop"  # the importer sets one service on every finding of a test

Document = tuple[str, str, bytes]  # test key, scan type, document


@pytest.fixture(scope="module")
def sample_documents(tmp_path_factory: pytest.TempPathFactory) -> list[Document]:
    """Every document `dojo plan --documents` writes for the bundled sample, with its scan type."""
    root = tmp_path_factory.mktemp("sample")
    settings = load_settings(environ={}, flags={"cluster": "prod"})
    run_dir = get_from_files(settings, sample_cluster_dir(), root / "runs", JsonReporter(io.StringIO())).run_dir
    plan = build_plan(run_dir, reader.read_manifest(run_dir), settings.dojo, root)
    return [(str(test.key), test.context.scan_type, test.document) for test in plan.tests()]


def hash_codes(scan_type: str, document: bytes) -> set[str]:
    """The hash_codes DefectDojo computes for the document's findings, with the test's service set."""
    return {
        dojo_parsers.hash_code(scan_type, dataclasses.replace(finding, service=SERVICE))
        for finding in dojo_parsers.parse(scan_type, document)
    }


def test_the_sample_feeds_every_scan_type(sample_documents: list[Document]) -> None:
    assert len(sample_documents) >= 30
    assert {scan_type for _, scan_type, _ in sample_documents} == {
        dojo_parsers.TRIVY_OPERATOR, dojo_parsers.ANCHORE_GRYPE, dojo_parsers.KUBESCAPE,
    }  # fmt: skip


def test_one_identity_per_hash_code_in_every_sample_document(sample_documents: list[Document]) -> None:
    counted = {key: (len(finding_identities(scan_type, document)), len(hash_codes(scan_type, document)))
               for key, scan_type, document in sample_documents}  # fmt: skip
    assert {key: ids for key, (ids, _) in counted.items()} == {key: codes for key, (_, codes) in counted.items()}
    assert sum(codes for _, codes in counted.values()) > 500


def test_identities_group_findings_as_hash_codes_do(sample_documents: list[Document]) -> None:
    """Each finding on its own: two findings share an identity exactly when they share a hash_code."""
    for key, scan_type, document in sample_documents:
        pairs = set()
        for single in singletons(scan_type, document):
            codes, identities = hash_codes(scan_type, single), finding_identities(scan_type, single)
            assert len(codes) == len(identities) <= 1, key
            pairs |= set(zip(codes, identities, strict=True))
        assert len(pairs) == len({code for code, _ in pairs}) == len({identity for _, identity in pairs}), key


def test_an_identity_changes_exactly_when_the_hash_code_does(sample_documents: list[Document]) -> None:
    """Every field of a finding's input, changed (and its case swapped): the identity follows the hash_code."""
    checked = 0
    for key, scan_type, document in sample_documents:
        for single in some_singletons(scan_type, document):
            codes, identities = hash_codes(scan_type, single), finding_identities(scan_type, single)
            for path, mutated in mutations(orjson.loads(single)):
                changed = orjson.dumps(mutated)
                try:
                    new_codes = hash_codes(scan_type, changed)
                except dojo_parsers.ParserError:
                    continue  # DefectDojo would refuse the document; no finding to compare
                new_identities = finding_identities(scan_type, changed)
                assert (new_codes != codes) == (new_identities != identities), (key, path)
                assert len(new_codes) == len(new_identities), (key, path)
                checked += 1
    assert checked > 1000


@pytest.mark.parametrize(
    ("field", "value", "changes"),
    [
        ("fixedVersion", "1.2", True),  # in the description
        ("installedVersion", "0.9", True),  # in the title
        ("title", "another title", True),  # in the description
        ("primaryLink", "https://example.com", False),  # references: not hashed
        ("score", 9.9, False),
        ("vulnerabilityID", "cve-2024-6119", False),  # case only: the hash is case-folded
    ],
)
def test_which_vulnerability_fields_make_a_new_finding(field: str, value: Any, changes: bool) -> None:
    """Literal expectations from DefectDojo's hash fields (title, severity, vulnerability_ids, description)."""
    vulnerability = {"vulnerabilityID": "CVE-2024-6119", "resource": "libssl3", "installedVersion": "1.0",
                     "fixedVersion": "1.1", "severity": "HIGH", "title": "libssl3: CVE-2024-6119",
                     "primaryLink": "https://avd.aquasec.com/nvd/cve-2024-6119", "score": 7.5}  # fmt: skip
    before = trivy_document(vulnerability)
    after = trivy_document({**vulnerability, field: value})
    scan_type = dojo_parsers.TRIVY_OPERATOR
    assert (finding_identities(scan_type, before) != finding_identities(scan_type, after)) is changes
    assert (hash_codes(scan_type, before) != hash_codes(scan_type, after)) is changes


def test_grype_repeats_of_a_package_are_one_finding() -> None:
    """The same package in two images is one finding, with the first match's severity; a colon in a name does not
    make two packages one (`a:b` 1 and `a` `b:1` have one title but are two findings)."""
    match = {"vulnerability": {"id": "CVE-1", "severity": "High"}, "matchDetails": [],
             "artifact": {"name": "zlib", "version": "1.2"}}  # fmt: skip
    again = {**match, "vulnerability": {"id": "CVE-1", "severity": "Low"}}
    colon = {**match, "artifact": {"name": "zlib:1", "version": "2"}}
    other = {**match, "artifact": {"name": "zlib", "version": "1:2"}}
    for matches, expected in (([match, again], 1), ([again, match], 1), ([colon, other], 2)):
        document = orjson.dumps({"matches": matches})
        assert len(finding_identities(dojo_parsers.ANCHORE_GRYPE, document)) == expected
        assert len(hash_codes(dojo_parsers.ANCHORE_GRYPE, document)) == expected
    first_high = orjson.dumps({"matches": [match, again]})
    assert finding_identities(dojo_parsers.ANCHORE_GRYPE, first_high) == finding_identities(
        dojo_parsers.ANCHORE_GRYPE, orjson.dumps({"matches": [match]})
    )


def test_kubescape_findings_are_per_resource_id_with_titles_shortened_as_dojo_does() -> None:
    """Same kind and name in two namespaces: two findings (the resource id is hashed); a title is shortened to 150
    characters with its whitespace collapsed, so names that differ only beyond that are one finding."""
    long_name = "Workload " + "very  long " * 20

    def document(*controls: tuple[str, str]) -> bytes:
        ids = sorted({resource_id for _, resource_id in controls})
        rule = {"name": "r", "status": "failed"}
        results = [
            {"resourceID": rid, "controls": [
                {"controlID": f"C-{n}", "name": name, "status": {"status": "failed"}, "rules": [rule]}
                for n, (name, on) in enumerate(controls) if on == rid
            ]}
            for rid in ids
        ]  # fmt: skip
        resources = [{"resourceID": rid, "object": {}} for rid in ids]
        return orjson.dumps({"summaryDetails": {"controls": {}}, "resources": resources, "results": results})

    two_namespaces = document(
        ("Privileged", "apps/v1/shop/Deployment/web"), ("Privileged", "apps/v1/pay/Deployment/web")
    )
    shortened = document(
        (long_name + "a", "apps/v1/shop/Deployment/web"), (long_name + "b", "apps/v1/shop/Deployment/web")
    )
    collapsed = document(
        ("Run  as root", "apps/v1/shop/Deployment/web"), ("Run as root", "apps/v1/shop/Deployment/web")
    )
    for doc, expected in ((two_namespaces, 2), (shortened, 1), (collapsed, 1)):
        assert len(hash_codes(dojo_parsers.KUBESCAPE, doc)) == expected
        assert len(finding_identities(dojo_parsers.KUBESCAPE, doc)) == expected


def test_checks_without_an_id_are_one_finding_as_in_dojo() -> None:
    """A missing, null or empty checkID is "0" to the checks handler: three such checks, one finding."""
    labels = {"trivy-operator.resource.namespace": "shop", "trivy-operator.resource.kind": "Deployment",
              "trivy-operator.resource.name": "web"}  # fmt: skip
    check = {"title": "Runs as root", "severity": "HIGH", "description": "d", "success": False}
    checks = [check, {**check, "checkID": None}, {**check, "checkID": ""}, {**check, "checkID": "0"}]
    document = orjson.dumps(
        [{"kind": "ConfigAuditReport", "metadata": {"labels": labels}, "report": {"checks": checks}}]
    )
    assert len(hash_codes(dojo_parsers.TRIVY_OPERATOR, document)) == 1
    assert len(finding_identities(dojo_parsers.TRIVY_OPERATOR, document)) == 1


def test_empty_documents_make_no_findings() -> None:
    assert finding_identities(dojo_parsers.TRIVY_OPERATOR, b"[]") == frozenset()
    assert finding_identities(dojo_parsers.ANCHORE_GRYPE, b'{"matches":[]}') == frozenset()
    empty_kubescape = b'{"summaryDetails":{"controls":{}},"resources":[],"results":[]}'
    assert finding_identities(dojo_parsers.KUBESCAPE, empty_kubescape) == frozenset()


def test_identities_are_short_digests() -> None:
    [identity] = finding_identities(dojo_parsers.TRIVY_OPERATOR, trivy_document({"vulnerabilityID": "CVE-1"}))
    assert len(identity) == 16 and int(identity, 16) >= 0


def test_an_unknown_scan_type_is_refused() -> None:
    with pytest.raises(ValueError, match="no finding identities"):
        finding_identities("ZAP Scan", b"{}")


def trivy_document(vulnerability: dict[str, Any]) -> bytes:
    labels = {"trivy-operator.resource.namespace": "shop", "trivy-operator.resource.kind": "Deployment",
              "trivy-operator.resource.name": "web", "trivy-operator.container.name": "app"}  # fmt: skip
    cr = {"kind": "VulnerabilityReport", "metadata": {"name": "r", "labels": labels},
          "report": {"vulnerabilities": [{"severity": "HIGH", **vulnerability}]}}  # fmt: skip
    return orjson.dumps([cr])


# --- documents cut to one finding each, and changed one field at a time -------------------------------------------


def singletons(scan_type: str, document: bytes) -> Iterator[bytes]:
    """The document cut into documents of one finding-producing entry each, everything around it kept."""
    for _, single in shaped_singletons(scan_type, document):
        yield single


def some_singletons(scan_type: str, document: bytes, per_shape: int = 2) -> Iterator[bytes]:
    """The first few singletons of each shape (vulnerability, check, secret, compliance detail or summary...)."""
    taken: dict[str, int] = {}
    for shape, single in shaped_singletons(scan_type, document):
        taken[shape] = taken.get(shape, 0) + 1
        if taken[shape] <= per_shape:
            yield single


def shaped_singletons(scan_type: str, document: bytes) -> Iterator[tuple[str, bytes]]:
    data = orjson.loads(document)
    cutters = {dojo_parsers.TRIVY_OPERATOR: _trivy_singletons, dojo_parsers.ANCHORE_GRYPE: _grype_singletons,
               dojo_parsers.KUBESCAPE: _kubescape_singletons}  # fmt: skip
    for shape, single in cutters[scan_type](data):
        yield shape, orjson.dumps(single)


def _trivy_singletons(crs: list[dict[str, Any]]) -> Iterator[tuple[str, Any]]:
    for cr in crs:
        for part in ("vulnerabilities", "checks", "secrets"):
            for entry in (cr.get("report") or {}).get(part) or []:
                yield part, [{**cr, "report": {part: [entry]}}]
        status = cr.get("status") or {}
        for result in (status.get("detailReport") or {}).get("results") or []:
            for check in result.get("checks") or []:
                detail = {**status["detailReport"], "results": [{**result, "checks": [check]}]}
                yield "detailReport", [{**cr, "status": {"detailReport": detail}}]
        for entry in (status.get("summaryReport") or {}).get("controlCheck") or []:
            summary = {**status["summaryReport"], "controlCheck": [entry]}
            yield "summaryReport", [{**cr, "status": {"summaryReport": summary, "summary": status.get("summary")}}]


def _grype_singletons(data: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for match in data.get("matches") or []:
        yield "match", {**data, "matches": [match]}


def _kubescape_singletons(data: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for resource in data["resources"]:
        [result] = [each for each in data["results"] if each["resourceID"] == resource["resourceID"]][:1]
        for control in result["controls"]:
            yield "control", {**data, "resources": [resource], "results": [{**result, "controls": [control]}]}


def mutations(data: Any) -> Iterator[tuple[str, Any]]:
    """The document with one leaf changed: a string extended or its case swapped, a number moved by one."""
    for path, value in _leaves(data, ()):
        if isinstance(value, bool):
            continue
        if isinstance(value, str):
            changes = [value + "-x"] + ([value.swapcase()] if value.swapcase() != value else [])
        elif isinstance(value, int | float):
            changes = [value + 1]
        else:
            continue
        for change in changes:
            mutated = copy.deepcopy(data)
            _set(mutated, path, change)
            yield f"{'/'.join(map(str, path))}={change!r}", mutated


def _leaves(node: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, index))
    else:
        yield path, node


def _set(node: Any, path: tuple[str | int, ...], value: Any) -> None:
    *parents, last = path
    for part in parents:
        node = node[part]
    node[last] = value


def test_singletons_cover_every_finding(sample_documents: list[Document]) -> None:
    """The cut loses no finding: the singletons' hash_codes are the document's (Grype: a superset, as a repeated
    package keeps only its first match's severity in the whole document)."""
    for key, scan_type, document in sample_documents:
        cut = set().union(*(hash_codes(scan_type, single) for single in singletons(scan_type, document)))
        whole = hash_codes(scan_type, document)
        assert cut >= whole and (cut == whole or scan_type == dojo_parsers.ANCHORE_GRYPE), key
