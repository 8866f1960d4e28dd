"""The DefectDojo client at the edges found by mutation testing.

- The API key: DD_API_KEY, or a mounted file (a Kubernetes Secret as a volume) read as UTF-8 and stripped of its
  trailing newline, or a message that names the setting to fix, never the key.
- The reimport form: what DefectDojo makes of the findings (active, not verified, the minimum severity) is sent
  word for word; a field DefectDojo does not know is silently ignored by it, so only the form itself shows it.
- The lookups: each list asked by name and by its product, engagement or test (another cluster's product holds
  an engagement and tests of the same names), read to its last page, and refused when it is not a page of results.
- The errors a person reads: each refusal names what to fix (401, 403, 413), an error answer's detail is its text
  on one line, cut at 300 characters, and every message names the call that failed.
- The circuit breaker, once open, stays open for the client's life.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from exporter.config import load_settings
from exporter.dojo import client as dojo_client  # by its module: pytest would collect a Test* class
from exporter.dojo.client import DojoClient, DojoUnreachableError, resolve_api_key
from exporter.errors import ConfigError, DojoError
from tests.dojo_harness import SHOP_CONTEXT, TOKEN
from tests.dojo_standin import DojoStandin
from tests.report_objects import vulnerability_report


def test_the_api_key_is_read_from_its_mounted_file_without_the_newline(tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_bytes("clé-0123\n".encode())
    settings = load_settings(environ={"REPORT_EXPORTER_DD_API_KEY_FILE": str(key_file)}).dojo
    assert resolve_api_key(settings) == "clé-0123"


def test_dd_api_key_wins_over_the_file(tmp_path: Path) -> None:
    settings = load_settings(environ={"DD_API_KEY": "from-env", "REPORT_EXPORTER_DD_API_KEY_FILE": "/nonexistent"})
    assert resolve_api_key(settings.dojo) == "from-env"


def test_an_unreadable_key_file_names_the_setting_and_the_reason(tmp_path: Path) -> None:
    settings = load_settings(environ={"REPORT_EXPORTER_DD_API_KEY_FILE": str(tmp_path / "missing")}).dojo
    with pytest.raises(ConfigError) as raised:
        resolve_api_key(settings)
    assert str(raised.value) == f"cannot read dojo.api_key_file {tmp_path / 'missing'}: No such file or directory"


def test_no_key_at_all_says_which_settings_to_set() -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_api_key(load_settings(environ={}).dojo)
    assert str(raised.value) == (
        "DefectDojo is configured (DD_URL) but has no API key: set DD_API_KEY or dojo.api_key_file"
    )


@pytest.mark.parametrize("auto_create", [True, False])
def test_a_reimport_sends_active_unverified_findings_above_the_minimum_severity(auto_create: bool) -> None:
    context = SHOP_CONTEXT
    with DojoStandin(token=TOKEN) as dojo:
        flags = {"dojo.url": dojo.url, "dojo.retries": 0, "dojo.minimum_severity": "Medium",
                 "dojo.auto_create_context": auto_create}  # fmt: skip
        client = DojoClient(load_settings(environ={}, flags=flags).dojo, api_key=TOKEN)
        try:
            client.reimport(context, b"[]", test_id=None)
        except DojoError:
            if auto_create:
                raise
            # without auto_create_context DefectDojo refuses a product it does not have; the form was sent
        finally:
            client.close()
        [sent] = dojo.requests
    fields = ("active", "verified", "minimum_severity", "close_old_findings", "auto_create_context")
    assert {name: sent.form.get(name) for name in fields} == {
        "active": "true",
        "verified": "false",
        "minimum_severity": "Medium",
        "close_old_findings": "true",
        "auto_create_context": "true" if auto_create else "false",
    }


SHOP = "prod/trivy-operator/vulnerability/shop"


def context_of(title: str, service: str, *, product: str = "prod") -> dojo_client.TestContext:
    return dojo_client.TestContext(product_type="Kubernetes", product=product, engagement="trivy-operator",
                                   title=title, scan_type="Trivy Operator Scan", service=service)  # fmt: skip


@pytest.fixture
def standin() -> Iterator[DojoStandin]:
    with DojoStandin(token=TOKEN) as dojo:
        yield dojo


@pytest.fixture
def client(standin: DojoStandin) -> Iterator[DojoClient]:
    made = DojoClient(load_settings(environ={}, flags={"dojo.url": standin.url, "dojo.retries": 0}).dojo, api_key=TOKEN)
    yield made
    made.close()


def reimport_one(client: DojoClient, context: dojo_client.TestContext) -> dict[str, Any]:
    """The context's test, made by DefectDojo, holding one finding of its service: DefectDojo's answer."""
    document = orjson.dumps([vulnerability_report("shop", "replicaset-web-6d4cf56db6-app")])
    return client.reimport(context, document, test_id=None)


def test_whether_a_test_holds_a_service_is_asked_of_that_test_alone_and_for_one_finding(
    standin: DojoStandin, client: DojoClient
) -> None:
    """A test beside the one holding the service's findings is not the exporter's (a rebuilt DefectDojo hands out
    ids again); one finding answers the question, so no more is listed."""
    ours = reimport_one(client, context_of("vulnerability shop", SHOP))["test_id"]
    other = reimport_one(client, context_of("vulnerability web", "prod/trivy-operator/vulnerability/web"))["test_id"]
    standin.clear_requests()
    assert client.holds_findings_of(ours, SHOP) is True
    assert client.holds_findings_of(other, SHOP) is False
    assert [dict(request.query) for request in standin.requests] == [
        {"test": str(ours), "service": SHOP, "limit": "1"},
        {"test": str(other), "service": SHOP, "limit": "1"},
    ]


def answered(body: bytes, status: int = 200) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = status, body
    response.headers["Content-Type"] = "application/json"
    return response


def offline_client(monkeypatch: pytest.MonkeyPatch, body: bytes, status: int = 200) -> DojoClient:
    """A client whose every call is answered `status` with `body`, without a server."""
    made = DojoClient(load_settings(environ={}, flags={"dojo.url": "http://dojo.invalid"}).dojo, api_key=TOKEN)
    monkeypatch.setattr(made._session, "request", lambda *args, **kwargs: answered(body, status))
    return made


@pytest.mark.parametrize(("body", "holds"), [(b'[{"id": 7}]', True), (b"[]", False)], ids=["one", "none"])
def test_an_unpaginated_list_of_findings_is_read_by_its_items(
    monkeypatch: pytest.MonkeyPatch, body: bytes, holds: bool
) -> None:
    """A findings list answered as a bare JSON array (no `count`: a DefectDojo without pagination there) still
    tells whether the test holds the service's findings."""
    assert offline_client(monkeypatch, body).holds_findings_of(7, SHOP) is holds


def test_a_failed_call_names_what_it_was_doing_in_its_error(standin: DojoStandin, client: DojoClient) -> None:
    """What could not be done is in the message a person reads: the test and the title it was to get, the list."""
    test_id = reimport_one(client, context_of("vulnerability shop", SHOP))["test_id"]
    standin.fail_next(f"/api/v2/tests/{test_id}/", 500)
    with pytest.raises(DojoError) as renamed:
        client.rename_test(test_id, "vulnerability shop (renamed)")
    standin.fail_next("/api/v2/findings/", 500)
    with pytest.raises(DojoError) as checked:
        client.holds_findings_of(test_id, SHOP)
    standin.fail_next("/api/v2/tests/", 500)
    with pytest.raises(DojoError) as listed:
        client.engagement_tests(1)
    assert str(renamed.value) == (
        f"DefectDojo at {standin.url} could not rename test {test_id} to 'vulnerability shop (renamed)': HTTP 500: "
        '{"message": "Internal server error, check logs for details"}'
    )
    assert str(checked.value).startswith(f"DefectDojo at {standin.url} could not list the findings of test {test_id}: ")
    assert str(listed.value).startswith(f"DefectDojo at {standin.url} could not list tests/: HTTP 500: ")


def test_the_tests_of_a_title_are_those_of_its_own_engagement(standin: DojoStandin, client: DojoClient) -> None:
    """Another cluster's product holds an engagement and a test of the same names: they are not this cluster's.
    Each list is asked by name (and product, engagement), so each answer is one short page however many products,
    engagements and tests DefectDojo holds."""
    reimport_one(client, context_of("vulnerability shop", "stage/trivy-operator/vulnerability/shop", product="stage"))
    prod = context_of("vulnerability shop", SHOP)
    ours = reimport_one(client, prod)
    standin.clear_requests()
    assert [test["id"] for test in client.tests_named(prod)] == [ours["test_id"]]
    [product] = [product["id"] for product in standin.products() if product["name"] == "prod"]
    assert [(request.path, dict(request.query)) for request in standin.requests] == [
        ("/api/v2/products/", {"name": "prod", "limit": "100"}),
        ("/api/v2/engagements/", {"product": str(product), "name": "trivy-operator", "limit": "100"}),
        ("/api/v2/tests/", {"engagement": str(ours["engagement_id"]), "title": "vulnerability shop", "limit": "100"}),
    ]


def test_the_document_goes_up_as_a_json_file_named_after_its_scan_type(
    standin: DojoStandin, client: DojoClient
) -> None:
    reimport_one(client, context_of("vulnerability shop", SHOP))
    [sent] = standin.requests
    assert sent.file_name == "trivy-operator-scan.json"


def test_a_reimport_answer_naming_no_test_is_an_error_saying_it_is_sent_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 2xx answer without a test id (a proxy's page, another endpoint) is not taken as imported."""
    client = offline_client(monkeypatch, b'{"id": 3, "statistics": {}}')
    with pytest.raises(DojoError) as raised:
        client.reimport(context_of("vulnerability shop", SHOP), b"[]", test_id=3)
    assert str(raised.value) == (
        "DefectDojo at http://dojo.invalid answered the reimport of 'vulnerability shop' with JSON that names no test: "
        "not a reimport result, so it is not taken as imported; sent again next run"
    )


def test_a_list_longer_than_a_page_is_read_to_its_last_page(standin: DojoStandin, client: DojoClient) -> None:
    """DefectDojo pages every list (`next`): the third product is on the third page of one."""
    for product in ("prod", "stage", "test"):
        reimport_one(
            client, context_of("vulnerability shop", f"{product}/trivy-operator/vulnerability/shop", product=product)
        )
    standin.clear_requests()
    assert [product["name"] for product in client.find("products/", limit=1)] == ["prod", "stage", "test"]
    assert [request.query.get("offset") for request in standin.requests] == [None, "1", "2"]


def test_the_detail_of_an_error_answer_is_its_text_on_one_line_cut_at_300_characters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = offline_client(monkeypatch, b"line one\n  line two\n" + b"y" * 400, status=400)
    with pytest.raises(DojoError) as raised:
        client.find("products/")
    assert str(raised.value) == (
        "DefectDojo at http://dojo.invalid could not list products/: HTTP 400: line one line two " + "y" * 282
    )


WHAT_TO_FIX = {
    "401": ({"token_auth_first": True}, "not-the-key", "rejected the API key (401); check DD_API_KEY"),
    "403": ({}, "read-only-token", "refused to reimport 'vulnerability shop' (403): the API key's user lacks "
            "permission; give it the Writer role on the product type (or Global Importer)"),
    "413": ({"proxy_max_body_bytes": 100}, TOKEN, "refused to reimport 'vulnerability shop': the document is too "
            "large (413); lower dojo.max_document_bytes below DD_SCAN_FILE_MAX_SIZE"),
}  # fmt: skip


@pytest.mark.parametrize(("options", "api_key", "expected"), WHAT_TO_FIX.values(), ids=WHAT_TO_FIX.keys())
def test_a_refused_reimport_says_what_to_fix(options: dict[str, Any], api_key: str, expected: str) -> None:
    """A wrong key (401 where DefectDojo lists token authentication first), a key without the right to write, a
    document over the proxy's limit: each is a message naming the setting or role to change."""
    with DojoStandin(token=TOKEN, **options) as dojo:
        flags = {"dojo.url": dojo.url, "dojo.retries": 0}
        client = DojoClient(load_settings(environ={}, flags=flags).dojo, api_key=api_key)
        with pytest.raises(DojoError) as raised:
            reimport_one(client, context_of("vulnerability shop", SHOP))
        client.close()
    assert str(raised.value) == f"DefectDojo at {dojo.url} {expected}"


def test_a_call_answered_after_the_breaker_opened_does_not_close_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The breaker stays open for the client's life: a slow call that comes back after the others failed (the
    sync sends two at a time) does not let the night's remaining calls wait out their retries again."""
    flags = {"dojo.url": "http://dojo.invalid", "dojo.max_connection_failures": 1}
    client = DojoClient(load_settings(environ={}, flags=flags).dojo, api_key=TOKEN)
    slow_call_sent, breaker_opened = threading.Event(), threading.Event()

    def request(method: str, url: str, **kwargs: Any) -> requests.Response:
        if url.endswith("/tests/"):
            slow_call_sent.set()
            assert breaker_opened.wait(timeout=10)
            return answered(b'{"count": 0, "next": null, "results": []}')
        raise requests.exceptions.ConnectionError("connection refused")

    monkeypatch.setattr(client._session, "request", request)
    slow = threading.Thread(target=client.find, args=("tests/",))
    slow.start()
    assert slow_call_sent.wait(timeout=10)
    with pytest.raises(DojoError):
        client.find("products/")
    breaker_opened.set()
    slow.join(timeout=10)
    assert client.unreachable
    with pytest.raises(DojoUnreachableError):
        client.find("products/")


def test_an_answer_that_is_not_json_is_an_error_naming_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 200 page that is not JSON (a login page, a proxy's) is no answer to the call."""
    client = offline_client(monkeypatch, b"<html><body>Sign in</body></html>")
    with pytest.raises(DojoError) as raised:
        client.find("products/")
    assert str(raised.value) == "DefectDojo at http://dojo.invalid answered list products/ with non-JSON"


NOT_A_PAGE = {
    "results-not-a-list": b'{"count": 1, "results": {"id": 1}}',
    "result-not-an-object": b'{"count": 1, "results": [1]}',
    "next-not-a-url": b'{"count": 1, "next": 5, "results": []}',
    "no-results": b'{"detail": "ok"}',
}


@pytest.mark.parametrize("body", NOT_A_PAGE.values(), ids=NOT_A_PAGE.keys())
def test_json_that_is_not_a_page_of_results_is_an_error_not_an_empty_list(
    monkeypatch: pytest.MonkeyPatch, body: bytes
) -> None:
    """Read as an empty list, such an answer would make every test the state recorded look deleted in DefectDojo."""
    client = offline_client(monkeypatch, body)
    with pytest.raises(DojoError) as raised:
        client.find("products/")
    assert (
        str(raised.value)
        == "DefectDojo at http://dojo.invalid answered list products/ with JSON that is not a page of results"
    )
