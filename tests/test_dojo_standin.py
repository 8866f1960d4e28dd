"""The DefectDojo stand-in answers like DefectDojo's API v2 and runs its import/reimport semantics.

The product's DefectDojo client is tested against the stand-in, so every behaviour it relies on is pinned here
at the HTTP level: the lifecycle of findings across reimports (with a tiny fake parser, so these tests do not
depend on scanner formats), authentication, the failures a real server and its proxy produce, and once with
the real ``tests.dojo_parsers``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from tests.dojo_standin import CLOSED, CREATED, NOT_AUTHENTICATED, NOT_PERMITTED, REACTIVATED, UNTOUCHED, DojoStandin

SCAN = "Fake Scan"
CONTEXT = {
    "product_type_name": "Kubernetes",
    "product_name": "cluster-a",
    "engagement_name": "report-exporter",
    "test_title": "workloads",
    "auto_create_context": "true",
}
WRITER = {"Authorization": "Token test-token"}
INTERNAL_ERROR = {"message": "Internal server error, check logs for details"}
SIMPLE_RISK_DISABLED = "Simple risk acceptance is disabled for this product, use the UI to accept this finding."


class FakeParserError(Exception):
    """What the fake parser raises for a document it cannot read (DefectDojo parsers raise ValueError-likes)."""


@dataclass(frozen=True)
class FakeFinding:
    title: str
    severity: str
    description: str = ""
    mitigation: str | None = None
    references: str | None = None
    component_name: str | None = None
    component_version: str | None = None
    vuln_id_from_tool: str | None = None
    vulnerability_ids: tuple[str, ...] = ()
    file_path: str | None = None
    service: str | None = None
    unique_id_from_tool: str | None = None
    static_finding: bool = False
    dynamic_finding: bool = True


class FakeParser:
    """A JSON list of ``{"title", "severity", "id", "service"}``; hashed like ``hash_code`` with the service."""

    ParserError = FakeParserError

    def parse(self, scan_type: str, content: bytes) -> list[FakeFinding]:
        try:
            items = json.loads(content)
        except ValueError as exc:
            raise FakeParserError(f"Invalid JSON: {exc.args[0]}") from exc
        if not isinstance(items, list):
            raise FakeParserError("Expected a list of findings")
        # item["title"]: a document of the wrong shape fails with a KeyError, as many real parsers do.
        return [
            FakeFinding(
                item["title"], item["severity"], unique_id_from_tool=item.get("id"), service=item.get("service")
            )
            for item in items
        ]

    def hash_code(self, scan_type: str, finding: FakeFinding) -> str:
        return hashlib.sha256(f"{finding.title}|{finding.severity}|{finding.service or ''}".encode()).hexdigest()

    def dedupe_key(self, scan_type: str, finding: FakeFinding) -> str:
        return self.hash_code(scan_type, finding)


def finding(title: str, severity: str = "High", **extra: str) -> dict[str, str]:
    return {"title": title, "severity": severity, **extra}


def document(*findings: dict[str, str]) -> bytes:
    return json.dumps(list(findings)).encode()


@pytest.fixture
def dojo() -> Iterator[DojoStandin]:
    with DojoStandin(parser=FakeParser()) as standin:
        yield standin


def post_scan(
    dojo: DojoStandin, body: bytes, *, endpoint: str = "reimport-scan", token: str = "test-token", **form: str
) -> requests.Response:
    return requests.post(
        f"{dojo.url}/api/v2/{endpoint}/",
        headers={"Authorization": f"Token {token}"},
        data={"scan_type": SCAN, **form},
        files={"file": ("report.json", body, "application/json")},
        timeout=10,
    )


def reimport(dojo: DojoStandin, body: bytes, **form: str) -> dict[str, Any]:
    response = post_scan(dojo, body, **{**CONTEXT, **form})
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def delta(answer: dict[str, Any], action: str) -> int:
    return int(answer["statistics"]["delta"][action]["total"]["total"])


def deltas(answer: dict[str, Any]) -> dict[str, int]:
    """How many findings the reimport created, closed, reactivated and left untouched."""
    return {action: delta(answer, action) for action in (CREATED, CLOSED, REACTIVATED, UNTOUCHED)}


def by_title(dojo: DojoStandin, **filters: Any) -> dict[str, dict[str, Any]]:
    return {f["title"]: f for f in dojo.findings(**filters)}


def api(dojo: DojoStandin, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{dojo.url}/api/v2/{path}", headers=WRITER, timeout=10, **kwargs)


def test_import_creates_the_context_and_a_test_with_its_findings(dojo: DojoStandin) -> None:
    response = post_scan(dojo, document(finding("a"), finding("b", "Low")), endpoint="import-scan", **CONTEXT)

    assert response.status_code == 201
    body = response.json()
    assert body["test"] == body["test_id"] == 1
    assert (body["engagement_id"], body["product_id"], body["product_type_id"]) == (1, 1, 1)
    assert set(body["statistics"]) == {"after"}  # an import reports no before/delta
    assert body["statistics"]["after"]["total"]["active"] == 2
    assert body["statistics"]["after"]["low"]["total"] == 1
    [product] = api(dojo, "GET", "products/", params={"name": "cluster-a"}).json()["results"]
    assert (product["name"], product["description"], product["prod_type"]) == ("cluster-a", "cluster-a", 1)
    [engagement] = dojo.engagements(product=product["id"])
    assert (engagement["engagement_type"], engagement["status"]) == ("CI/CD", "In Progress")
    assert engagement["target_end"] == (date.today() + timedelta(days=365)).isoformat()
    [test] = api(dojo, "GET", "tests/", params={"engagement": engagement["id"], "title": "workloads"}).json()["results"]
    assert (test["scan_type"], test["test_type_name"], test["percent_complete"]) == (SCAN, SCAN, 100)
    assert {f["title"]: f["active"] for f in dojo.findings(test=test["id"])} == {"a": True, "b": True}


def test_without_auto_create_context_nothing_is_created(dojo: DojoStandin) -> None:
    form = {**CONTEXT, "auto_create_context": "false"}

    imported = post_scan(dojo, document(finding("a")), endpoint="import-scan", **form)
    reimported = post_scan(dojo, document(finding("a")), **form)

    assert imported.status_code == 400
    assert imported.json() == {"message": "['auto_create_context not True, unable to create non-existing engagement']"}
    assert (reimported.status_code, reimported.json()) == (404, {"detail": "A test could not be found!"})
    assert dojo.products() == [] and dojo.tests() == []


def test_reimport_of_the_same_report_changes_nothing(dojo: DojoStandin) -> None:
    report = document(finding("a"), finding("b", "Medium"))
    first = reimport(dojo, report)  # no test yet: auto_create_context imports into a new one

    again = reimport(dojo, report)

    assert set(first["statistics"]) == {"after"}
    assert again["test_id"] == first["test_id"]
    assert deltas(again) == {CREATED: 0, CLOSED: 0, REACTIVATED: 0, UNTOUCHED: 2}
    assert again["statistics"]["before"] == again["statistics"]["after"] == first["statistics"]["after"]
    assert len(dojo.findings()) == 2


def test_a_fixed_finding_is_closed_and_reactivated_when_it_returns(dojo: DojoStandin) -> None:
    reimport(dojo, document(finding("a"), finding("b")))
    b_id = by_title(dojo)["b"]["id"]

    fixed = reimport(dojo, document(finding("a")))
    closed = by_title(dojo)["b"]
    back = reimport(dojo, document(finding("a"), finding("b")))
    reopened = by_title(dojo)["b"]

    assert (delta(fixed, CLOSED), delta(fixed, UNTOUCHED)) == (1, 1)
    assert (closed["active"], closed["is_mitigated"], closed["mitigated"] is not None) == (False, True, True)
    assert (delta(back, REACTIVATED), delta(back, CREATED)) == (1, 0)
    assert (reopened["id"], reopened["active"], reopened["mitigated"]) == (b_id, True, None)
    assert [note["entry"] for note in reopened["notes"]] == [
        f"Mitigated by {SCAN} re-upload.",
        f"Re-activated by {SCAN} re-upload.",
    ]


def test_close_old_findings_false_and_do_not_reactivate_leave_statuses_alone(dojo: DojoStandin) -> None:
    reimport(dojo, document(finding("a"), finding("b")))

    kept = reimport(dojo, document(finding("a")), close_old_findings="false")
    reimport(dojo, document(finding("a")))
    skipped = reimport(dojo, document(finding("a"), finding("b")), do_not_reactivate="true")

    assert delta(kept, CLOSED) == 0
    assert (delta(skipped, REACTIVATED), delta(skipped, CREATED)) == (0, 0)
    assert by_title(dojo)["b"]["is_mitigated"] is True


def test_a_false_positive_stays_one_across_reimports(dojo: DojoStandin) -> None:
    reimport(dojo, document(finding("a"), finding("b")))
    a_id = by_title(dojo)["a"]["id"]

    marked = api(dojo, "PATCH", f"findings/{a_id}/", json={"false_p": True})
    present = reimport(dojo, document(finding("a"), finding("b")))
    absent = reimport(dojo, document(finding("b")))

    # update_finding_status: a false positive is also mitigated, inactive and unverified
    assert marked.status_code == 200
    flags = ("false_p", "active", "is_mitigated", "verified")
    assert [marked.json()[flag] for flag in flags] == [True, False, True, False]
    # neither unchanged nor reactivated: only b counts as untouched, and a is not created anew
    assert deltas(present) == {CREATED: 0, CLOSED: 0, REACTIVATED: 0, UNTOUCHED: 1}
    assert deltas(absent) == {CREATED: 0, CLOSED: 0, REACTIVATED: 0, UNTOUCHED: 1}
    a = by_title(dojo)["a"]
    assert (a["id"], a["false_p"], a["active"]) == (a_id, True, False)
    assert len(dojo.findings()) == 2


def test_risk_acceptance_needs_simple_risk_acceptance_and_survives_reimport(dojo: DojoStandin) -> None:
    answer = reimport(dojo, document(finding("a"), finding("b")))
    a_id = by_title(dojo)["a"]["id"]
    accept = {"active": False, "risk_accepted": True}

    refused = api(dojo, "PATCH", f"findings/{a_id}/", json=accept)
    api(dojo, "PATCH", f"products/{answer['product_id']}/", json={"enable_simple_risk_acceptance": True})
    still_active = api(dojo, "PATCH", f"findings/{a_id}/", json={"risk_accepted": True})
    accepted = api(dojo, "PATCH", f"findings/{a_id}/", json=accept)
    present = reimport(dojo, document(finding("a"), finding("b")))

    assert refused.status_code == 400
    assert refused.json()["non_field_errors"] == [SIMPLE_RISK_DISABLED]
    assert still_active.json()["non_field_errors"] == ["Active findings cannot be risk accepted."]
    assert accepted.status_code == 200
    assert deltas(present) == {CREATED: 0, CLOSED: 0, REACTIVATED: 0, UNTOUCHED: 2}
    a = by_title(dojo)["a"]
    assert (a["risk_accepted"], a["active"], a["is_mitigated"]) == (True, False, False)
    listed = api(dojo, "GET", "findings/", params={"risk_accepted": "true"}).json()
    assert [f["id"] for f in listed["results"]] == [a_id]


def test_closing_only_touches_findings_of_the_service_sent(dojo: DojoStandin) -> None:
    test_id = reimport(dojo, document(finding("a")), service="ns-a")["test_id"]
    reimport(dojo, document(finding("b")), test=str(test_id), service="ns-b")
    reimport(dojo, document(finding("c")), test=str(test_id))  # no service: parser's own (none here)

    emptied_a = reimport(dojo, document(), test=str(test_id), service="ns-a")
    emptied_none = reimport(dojo, document(), test=str(test_id))

    assert delta(emptied_a, CLOSED) == 1 and delta(emptied_none, CLOSED) == 1
    statuses = {f["title"]: (f["service"], f["active"]) for f in dojo.findings(test=test_id)}
    assert statuses == {"a": ("ns-a", False), "b": ("ns-b", True), "c": (None, False)}


def test_the_same_title_under_two_services_is_two_findings(dojo: DojoStandin) -> None:
    test_id = reimport(dojo, document(finding("a")), service="ns-a")["test_id"]

    other = reimport(dojo, document(finding("a")), test=str(test_id), service="ns-b")

    assert (delta(other, CREATED), delta(other, CLOSED)) == (1, 0)
    assert sorted(f["service"] for f in dojo.findings(test=test_id, active=True)) == ["ns-a", "ns-b"]


def test_import_close_old_findings_closes_other_tests_of_the_engagement(dojo: DojoStandin) -> None:
    post_scan(dojo, document(finding("a"), finding("b")), endpoint="import-scan", **CONTEXT)

    second = post_scan(dojo, document(finding("a")), endpoint="import-scan", close_old_findings="true", **CONTEXT)

    assert second.json()["test_id"] == 2
    statuses = {(f["test"], f["title"]): f["active"] for f in dojo.findings()}
    assert statuses == {(1, "a"): True, (1, "b"): False, (2, "a"): True}


def test_the_empty_test_of_a_failed_import_is_the_one_the_next_reimport_picks(dojo: DojoStandin) -> None:
    reimport(dojo, document(finding("a"), finding("b")))
    dojo.import_fails_after_creating_test()

    failed = post_scan(dojo, document(finding("a")), endpoint="import-scan", **CONTEXT)
    broken = post_scan(dojo, b"{not json", endpoint="import-scan", **CONTEXT)
    left = [(t["id"], t["title"], t["percent_complete"], len(dojo.findings(test=t["id"]))) for t in dojo.tests()]
    picked = reimport(dojo, document(finding("a"), finding("b")))

    assert (failed.status_code, failed.json()) == (500, INTERNAL_ERROR)
    assert broken.status_code == 400 and broken.json()["message"].startswith("['Invalid JSON")
    assert left == [(1, "workloads", 100, 2), (2, "workloads", 50, 0), (3, "workloads", 50, 0)]
    # get_target_test_if_exists -> get_last_object_or_none: the newest matching test, empty or not
    assert picked["test_id"] == 3 and delta(picked, CREATED) == 2
    assert len(dojo.findings(test=1, active=True)) == 2  # the real history is left open, not closed


def test_without_test_title_the_latest_test_of_the_scan_type_is_picked(dojo: DojoStandin) -> None:
    reimport(dojo, document(finding("a")), test_title="first")
    reimport(dojo, document(finding("a")), test_title="second")
    untitled = {key: value for key, value in CONTEXT.items() if key != "test_title"}

    answer = post_scan(dojo, document(finding("a")), **untitled).json()

    assert answer["test_id"] == 2


def test_statistics_count_by_severity_and_status(dojo: DojoStandin) -> None:
    reimport(dojo, document(finding("a", "Critical"), finding("b", "Low"), finding("c", "Info")))

    answer = reimport(dojo, document(finding("a", "Critical"), finding("d", "Medium")), minimum_severity="Low")

    stats = answer["statistics"]
    assert stats["before"]["total"] == {**dict.fromkeys(stats["before"]["total"], 0), "active": 3, "total": 3}
    assert stats["delta"][CREATED]["medium"]["total"] == 1
    assert (stats["delta"][CLOSED]["low"]["is_mitigated"], stats["delta"][CLOSED]["info"]["total"]) == (1, 1)
    assert stats["delta"][UNTOUCHED]["critical"]["active"] == 1
    assert (stats["after"]["total"]["total"], stats["after"]["total"]["active"]) == (4, 2)


def test_parser_failures_answer_as_defectdojo_does(dojo: DojoStandin) -> None:
    unreadable = post_scan(dojo, b'{"a": 1}', **CONTEXT)
    wrong_shape = post_scan(dojo, b'[{"name": "x"}]', **CONTEXT)

    assert unreadable.status_code == 400
    assert unreadable.json() == {"message": "['Expected a list of findings']"}
    assert (wrong_shape.status_code, wrong_shape.json()) == (500, INTERNAL_ERROR)


def test_authentication_and_permissions() -> None:
    with DojoStandin(parser=FakeParser()) as dojo, DojoStandin(parser=FakeParser(), token_auth_first=True) as legacy:
        missing = requests.get(f"{dojo.url}/api/v2/products/", timeout=10)
        wrong = requests.get(f"{dojo.url}/api/v2/products/", headers={"Authorization": "Token nope"}, timeout=10)
        reader = {"Authorization": "Token read-only-token"}
        read = requests.get(f"{dojo.url}/api/v2/products/", headers=reader, timeout=10)
        write = post_scan(dojo, document(finding("a")), token="read-only-token", **CONTEXT)
        legacy_wrong = requests.get(
            f"{legacy.url}/api/v2/products/", headers={"Authorization": "Token nope"}, timeout=10
        )

    # settings.dist.py lists SessionAuthentication first: DRF turns NotAuthenticated into 403, not 401
    assert (missing.status_code, missing.json()) == (403, {"detail": NOT_AUTHENTICATED})
    assert (wrong.status_code, wrong.json()) == (403, {"detail": "Invalid token."})
    assert read.status_code == 200
    assert (write.status_code, write.json()) == (403, {"detail": NOT_PERMITTED})
    assert (legacy_wrong.status_code, legacy_wrong.headers["WWW-Authenticate"]) == (401, "Token")
    assert [r.status for r in dojo.requests] == [403, 403, 200, 403]


def test_a_report_over_the_limits_is_refused() -> None:
    with DojoStandin(parser=FakeParser(), max_file_size_mb=0.001) as dojo:
        too_large = post_scan(dojo, document(*[finding(f"f{i}") for i in range(50)]), **CONTEXT)
        assert dojo.tests() == []
    with DojoStandin(parser=FakeParser(), proxy_max_body_bytes=1000) as proxied:
        behind_proxy = post_scan(proxied, document(*[finding(f"f{i}") for i in range(50)]), **CONTEXT)

    assert too_large.status_code == 400
    assert too_large.json()["non_field_errors"] == ["Report file is too large. Maximum supported size is 0.001 MB"]
    assert behind_proxy.status_code == 413 and "413 Request Entity Too Large" in behind_proxy.text


def test_form_validation_follows_the_serializer(dojo: DojoStandin) -> None:
    blank = post_scan(dojo, document(), **{**CONTEXT, "service": ""})
    as_json = api(dojo, "POST", "reimport-scan/", json={"scan_type": SCAN, **CONTEXT})
    no_slash = requests.post(f"{dojo.url}/api/v2/reimport-scan", headers=WRITER, allow_redirects=False, timeout=10)
    conflict_setup = reimport(dojo, document())
    conflict = post_scan(dojo, document(), **{**CONTEXT, "product_type_name": "Other"})

    assert blank.status_code == 400 and blank.json()["service"] == ["This field may not be blank."]
    assert as_json.status_code == 415
    assert as_json.json() == {"detail": 'Unsupported media type "application/json" in request.'}
    assert (no_slash.status_code, no_slash.headers["Location"]) == (301, "/api/v2/reimport-scan/")
    assert conflict_setup["product_id"] == 1 and conflict.status_code == 400
    assert "existing product type name - Kubernetes vs supplied product type name - Other" in conflict.json()["message"]


def test_lists_page_and_filter_as_the_api_does(dojo: DojoStandin) -> None:
    test_id = reimport(dojo, document(*[finding(f"finding-{i:02}") for i in range(30)]))["test_id"]
    reimport(dojo, document(finding("x")), product_name="cluster-a-2")

    first = api(dojo, "GET", "findings/", params={"test": test_id, "limit": 10}).json()
    second = requests.get(first["next"], headers=WRITER, timeout=10).json()
    contains = api(dojo, "GET", "products/", params={"name": "cluster-a"}).json()
    exact = api(dojo, "GET", "products/", params={"name_exact": "cluster-a"}).json()
    ignored = api(dojo, "GET", "findings/", params={"active": "yes"}).json()

    assert (first["count"], len(first["results"]), first["previous"]) == (30, 10, None)
    assert first["next"] == f"{dojo.url}/api/v2/findings/?limit=10&offset=10&test={test_id}"
    assert second["previous"] == f"{dojo.url}/api/v2/findings/?limit=10&test={test_id}"
    assert {f["title"] for f in first["results"]}.isdisjoint(f["title"] for f in second["results"])
    assert [p["name"] for p in contains["results"]] == ["cluster-a", "cluster-a-2"]  # icontains
    assert [p["name"] for p in exact["results"]] == ["cluster-a"]
    assert ignored["count"] == 31  # a value django-filter cannot read filters nothing
    missing = api(dojo, "GET", "findings/999/")
    assert (missing.status_code, missing.json()) == (404, {"detail": "No Finding matches the given query."})


def test_injected_faults(dojo: DojoStandin) -> None:
    dojo.fail_next("/api/v2/reimport-scan/", 502)
    dojo.fail_next("/api/v2/import-scan/", 504, after_processing=True)

    gateway = post_scan(dojo, document(finding("a")), **CONTEXT)
    retried = post_scan(dojo, document(finding("a")), **CONTEXT)
    lost = post_scan(dojo, document(finding("a")), endpoint="import-scan", **CONTEXT)
    dojo.down()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{dojo.url}/api/v2/tests/", headers=WRITER, timeout=10)
    dojo.up()
    after = api(dojo, "GET", "tests/")

    assert (gateway.status_code, gateway.headers["Content-Type"]) == (502, "text/html")
    assert retried.status_code == 201
    assert lost.status_code == 504 and len(dojo.tests()) == 2  # the import happened, its answer was lost
    assert after.json()["count"] == 2
    assert [r.status for r in dojo.requests] == [502, 201, 504, 200]  # the refused GET never arrived
    assert [r.path.split("/")[3] for r in dojo.requests] == ["reimport-scan", "reimport-scan", "import-scan", "tests"]


def test_requests_are_recorded_without_the_file(dojo: DojoStandin) -> None:
    body = document(finding("a"))

    reimport(dojo, body, service="ns-a", tags="one,two")

    [request] = dojo.requests
    assert (request.method, request.path, request.status) == ("POST", "/api/v2/reimport-scan/", 201)
    assert request.form["service"] == "ns-a" and request.form["scan_type"] == SCAN
    assert "file" not in request.form
    assert (request.file_name, request.file_size) == ("report.json", len(body))


def test_with_the_real_parsers() -> None:
    from tests import dojo_parsers
    from tests.report_objects import vulnerability_report

    report = json.dumps([vulnerability_report("default", "replicaset-web-1")]).encode()
    trivy = {"scan_type": "Trivy Operator Scan"}
    with DojoStandin(parser=dojo_parsers) as dojo:
        imported = reimport(dojo, report, **trivy, test_title="own-services")
        emptied_without_service = reimport(dojo, b"[]", **trivy, test_title="own-services")
        sent = reimport(dojo, report, **trivy, service="cluster-a")
        again = reimport(dojo, report, **trivy, service="cluster-a")
        emptied = reimport(dojo, b"[]", **trivy, service="cluster-a")

    found = imported["statistics"]["after"]["total"]["total"]
    assert found >= 1
    # The parser gives each finding its own service; a reimport sending none only closes service-less findings.
    assert delta(emptied_without_service, CLOSED) == 0
    assert sent["statistics"]["after"]["total"]["total"] == found
    assert (delta(again, CREATED), delta(again, UNTOUCHED)) == (0, found)
    assert delta(emptied, CLOSED) == found
