"""Which existing finding a reimported one matches when several share its hash_code, as DefectDojo decides it.

DefectDojo 7cfa159a, `dojo/importers/default_reimporter.py`: the report's findings are taken in
`deduplication_ordering_key` order, and `match_finding_to_candidate_reimport` hands each the candidates with its
hash_code sorted by id, of which the first is matched. The other findings with that hash_code are not matched and
close with close_old_findings (DefectDojo issue #9290, "Trivy import closing wrong findings"). The documents are
small Trivy Operator reports parsed by the real port (`tests.dojo_parsers`), in which `file_path` is not a hash
field, so it tells findings with one hash_code apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from tests import dojo_parsers
from tests.dojo_standin import CLOSED, CREATED, REACTIVATED, UNTOUCHED, DojoStandin
from tests.dojo_standin.importer import deduplication_ordering_key

FORM = {
    "scan_type": dojo_parsers.TRIVY_OPERATOR,
    "product_type_name": "Kubernetes",
    "product_name": "cluster-a",
    "engagement_name": "report-exporter",
    "test_title": "workloads",
    "auto_create_context": "true",
    "close_old_findings": "true",
    # Without a service, reimport closes only findings without one (get_original_findings, DefectDojo #12754),
    # and the Trivy Operator parser gives each finding its own.
    "service": "cluster-a",
}
WRITER = {"Authorization": "Token test-token"}


def vulnerability(cve: str, package_path: str) -> dict[str, str]:
    return {"vulnerabilityID": cve, "resource": "jackson-databind", "installedVersion": "2.13.0",
            "fixedVersion": "2.13.4", "severity": "HIGH", "title": "deep wrapper array nesting",
            "class": "lang-pkgs", "packagePath": package_path}  # fmt: skip


def report(*vulnerabilities: dict[str, str]) -> bytes:
    labels = {"trivy-operator.resource.namespace": "shop", "trivy-operator.resource.kind": "ReplicaSet",
              "trivy-operator.resource.name": "api-7f9c", "trivy-operator.container.name": "api"}  # fmt: skip
    cr = {"kind": "VulnerabilityReport", "metadata": {"name": "replicaset-api-7f9c-api", "labels": labels},
          "report": {"vulnerabilities": list(vulnerabilities)}}  # fmt: skip
    return json.dumps(cr).encode()


# One CVE twice in one report: one hash_code, two file paths.
TWICE = report(vulnerability("CVE-2022-42003", "/b.jar"), vulnerability("CVE-2022-42003", "/a.jar"))


@pytest.fixture
def dojo() -> Iterator[DojoStandin]:
    with DojoStandin(parser=dojo_parsers) as standin:
        yield standin


def send(dojo: DojoStandin, endpoint: str, body: bytes) -> dict[str, int]:
    response = requests.post(
        f"{dojo.url}/api/v2/{endpoint}/", headers=WRITER, data=FORM, files={"file": ("r.json", body)}, timeout=10
    )
    assert response.status_code == 201, response.text
    delta = response.json()["statistics"].get("delta", {})
    return {action: delta[action]["total"]["total"] for action in delta}


def state(dojo: DojoStandin) -> list[tuple[int, str, bool, bool]]:
    """(id, file_path, active, is_mitigated) of every finding, by id."""
    return [(f["id"], f["file_path"], f["active"], f["is_mitigated"]) for f in dojo.findings()]


def test_reimport_matches_the_lowest_id_and_closes_the_other_finding_with_its_hash_code(dojo: DojoStandin) -> None:
    # An import does not match within its report: the repeated CVE becomes two findings with one hash_code.
    send(dojo, "import-scan", TWICE)
    [first, second] = dojo.findings()
    assert first["hash_code"] == second["hash_code"]

    delta = send(dojo, "reimport-scan", report(vulnerability("CVE-2022-42003", "/a.jar")))

    # The match is finding 1, although finding 2 has the incoming finding's file_path.
    assert state(dojo) == [(1, "/b.jar", True, False), (2, "/a.jar", False, True)]
    assert delta == {CREATED: 0, CLOSED: 1, REACTIVATED: 0, UNTOUCHED: 1}


def test_a_mitigated_lowest_id_is_reactivated_and_the_active_duplicate_closes(dojo: DojoStandin) -> None:
    """The status of the candidates plays no part in the choice: DefectDojo reactivates rather than keep an open one."""
    send(dojo, "import-scan", TWICE)
    patched = requests.patch(
        f"{dojo.url}/api/v2/findings/1/", headers=WRITER, json={"active": False, "is_mitigated": True}, timeout=10
    )
    assert patched.status_code == 200, patched.text

    delta = send(dojo, "reimport-scan", report(vulnerability("CVE-2022-42003", "/a.jar")))

    assert state(dojo) == [(1, "/b.jar", True, False), (2, "/a.jar", False, True)]
    assert delta == {CREATED: 0, CLOSED: 1, REACTIVATED: 1, UNTOUCHED: 0}


def test_repeats_in_one_reimport_resolve_in_content_order_not_report_order(dojo: DojoStandin) -> None:
    """`deduplication_ordering_key` puts `/a.jar` before `/b.jar`: it is created, the other matches it."""
    send(dojo, "import-scan", report(vulnerability("CVE-2020-36518", "/c.jar")))

    delta = send(dojo, "reimport-scan", report(
        vulnerability("CVE-2020-36518", "/c.jar"),
        vulnerability("CVE-2022-42003", "/b.jar"),
        vulnerability("CVE-2022-42003", "/a.jar"),
    ))  # fmt: skip

    assert state(dojo) == [(1, "/c.jar", True, False), (2, "/a.jar", True, False)]
    assert delta == {CREATED: 1, CLOSED: 0, REACTIVATED: 0, UNTOUCHED: 1}


def test_the_ordering_key_of_an_unsaved_finding() -> None:
    """hash_code, unique_id_from_tool, file_path, line (-1 for none), title, then 0 for the id it does not have."""
    [parsed] = dojo_parsers.parse(dojo_parsers.TRIVY_OPERATOR, report(vulnerability("CVE-2022-42003", "/a.jar")))
    key = deduplication_ordering_key(parsed, "c0ffee")
    assert key == ("c0ffee", "", "/a.jar", -1, "CVE-2022-42003 jackson-databind 2.13.0", 0)
