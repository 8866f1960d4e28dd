"""The DefectDojo client at the edges found by mutation testing.

- The API key: DD_API_KEY, or a mounted file (a Kubernetes Secret as a volume) read as UTF-8 and stripped of its
  trailing newline, or a message that names the setting to fix, never the key.
- The reimport form: what DefectDojo makes of the findings (active, not verified, the minimum severity) is sent
  word for word; a field DefectDojo does not know is silently ignored by it, so only the form itself shows it.
- The lookups: each list asked by name and by its product, engagement or test (another cluster's product holds
  an engagement and tests of the same names), read to its last page, and refused when it is not a page of results.
- The errors a person reads: each refusal names what to fix (401, 403, 413; a 403 is a rejected key only when
  DefectDojo says so in DRF's words), an error answer's detail is its text on one line, cut at 300 characters, and
  every message names the call that failed.
- The circuit breaker opens at its count of failures in a row, not one before, counts no 500, and once open stays
  open for the client's life.
- The session: TLS checked against `dojo.ca_bundle` or else the system's CAs, the key in the Token header and JSON
  asked for, DD_URL's path kept, every method retried over http and https with waits capped at a minute, a
  timeout on a DefectDojo that says nothing, and one kept connection for each of `dojo.concurrency` calls.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
import requests
import urllib3.util.retry

from exporter.config import load_settings
from exporter.dojo import client as dojo_client  # by its module: pytest would collect a Test* class
from exporter.dojo.client import DojoClient, DojoStatusError, DojoUnreachableError, resolve_api_key
from exporter.errors import ConfigError, DojoError
from tests.dojo_harness import SHOP_CONTEXT, TOKEN
from tests.dojo_standin import DojoStandin
from tests.k8s.testenv import make_pki
from tests.loopback_http import TrackingHandler, TrackingServer
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


# The session the client sets up: TLS, headers, retries and their waits, timeouts, the breaker's count (mutation
# run of 2026-11-29, third: DojoClient.__init__, _call, _rejected_key, _Breaker.__init__).

PAGE = b'{"count": 0, "next": null, "previous": null, "results": []}'


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    headers: dict[str, str]
    port: int  # the client's: one a connection


class _ScriptedServer(TrackingServer):
    """Answers each request with the next status of its script (an empty page once the script is spent); `hold`
    keeps every answer back until it is set, `barrier` until that many requests wait."""

    def __init__(
        self, statuses: Sequence[int], hold: threading.Event | None, barrier: threading.Barrier | None
    ) -> None:
        self.statuses, self.hold, self.barrier, self.seen = list(statuses), hold, barrier, list[SeenRequest]()
        super().__init__(0, _ScriptedHandler)


class _ScriptedHandler(TrackingHandler):
    server: _ScriptedServer

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def do_PATCH(self) -> None:
        self._answer()

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen = SeenRequest(self.command, self.path, dict(self.headers.items()), self.client_address[1])
        self.server.seen.append(seen)
        if self.server.hold is not None:
            self.server.hold.wait(timeout=5)  # a DefectDojo that takes the request and says nothing
        if self.server.barrier is not None:
            self.server.barrier.wait()
        status = self.server.statuses.pop(0) if self.server.statuses else 200
        body = PAGE if status == 200 else b'{"message": "Internal server error, check logs for details"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, message_format: str, *args: Any) -> None:
        return


@contextmanager
def scripted_dojo(
    statuses: Sequence[int] = (),
    *,
    tls: Path | None = None,
    hold: threading.Event | None = None,
    barrier: threading.Barrier | None = None,
) -> Iterator[tuple[str, _ScriptedServer]]:
    """A server on 127.0.0.1 (https with the serving pair made in `tls`, signed by `tls / "ca.crt"`): its URL."""
    server = _ScriptedServer(statuses, hold, barrier)
    if tls is not None:
        pki = make_pki(tls)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pki.apiserver_cert, pki.apiserver_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}", server
    finally:
        if hold is not None:
            hold.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join(timeout=5)


def client_for(url: str, **flags: Any) -> DojoClient:
    settings = load_settings(environ={}, flags={"dojo.url": url, "dojo.backoff_factor": 0, **flags}).dojo
    return DojoClient(settings, api_key=TOKEN)


@pytest.fixture
def no_ca_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """requests takes REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE when the client leaves `verify` open."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


@pytest.mark.usefixtures("no_ca_bundle_from_the_environment")
def test_over_https_the_ca_bundle_is_trusted_and_an_unavailable_answer_is_retried(tmp_path: Path) -> None:
    """A DefectDojo whose certificate a private CA signed: `dojo.ca_bundle` names that CA, and https calls are
    retried as http calls are."""
    with scripted_dojo([503], tls=tmp_path) as (url, server):
        client = client_for(url, **{"dojo.ca_bundle": str(tmp_path / "ca.crt"), "dojo.retries": 1})
        assert client.find("products/", name="prod") == []
        client.close()
    assert [(seen.method, seen.path) for seen in server.seen] == [("GET", "/api/v2/products/?name=prod&limit=100")] * 2


@pytest.mark.usefixtures("no_ca_bundle_from_the_environment")
def test_over_https_a_certificate_no_trusted_ca_signed_is_a_tls_error_naming_the_setting(tmp_path: Path) -> None:
    """Without `dojo.ca_bundle` the system's CAs decide, and they did not sign this certificate: nothing is sent."""
    with scripted_dojo(tls=tmp_path) as (url, server):
        client = client_for(url, **{"dojo.retries": 0})
        with pytest.raises(DojoError) as raised:
            client.find("products/", name="prod")
        client.close()
    assert str(raised.value) == (
        f"TLS verification of DefectDojo at {url} failed; set dojo.ca_bundle (REPORT_EXPORTER_DD_CA_BUNDLE)"
    )
    assert server.seen == []


def test_the_api_key_goes_in_the_token_header_and_json_is_asked_for() -> None:
    """DefectDojo's REST framework renders JSON only: an Accept header naming another type is answered 406."""
    with scripted_dojo() as (url, server):
        client = client_for(url)
        client.find("products/", name="prod")
        client.close()
    [seen] = server.seen
    headers = {name.lower(): value for name, value in seen.headers.items()}
    assert headers["authorization"] == f"Token {TOKEN}"
    assert headers["accept"].lower() == "application/json"


def test_a_dd_url_with_a_path_and_a_trailing_slash_keeps_its_path() -> None:
    """DefectDojo served under a prefix (`https://tools.example/SANDBOX/`): the API is below the prefix, with one
    slash between them, and the path is kept as written (paths are case-sensitive)."""
    with scripted_dojo() as (url, server):
        client = client_for(f"{url}/SANDBOX/")
        client.find("products/", name="prod")
        client.close()
    assert [seen.path for seen in server.seen] == ["/SANDBOX/api/v2/products/?name=prod&limit=100"]


def test_no_wait_between_retries_is_longer_than_a_minute(standin: DojoStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    """However large `dojo.backoff_factor`, the backoff stops growing at 60 s (waits recorded, not slept)."""
    slept: list[float] = []
    monkeypatch.setattr(urllib3.util.retry, "time", SimpleNamespace(sleep=slept.append, time=time.time))
    standin.fail_next("/api/v2/products/", 503, times=3)
    client = client_for(standin.url, **{"dojo.retries": 3, "dojo.backoff_factor": 20})
    assert client.find("products/", name="prod") == []
    client.close()
    assert slept == [40.0, 60.0], "no wait before the first retry, then 20 s * 2, then 20 s * 4 capped at 60 s"


@pytest.mark.parametrize("call", ["reimport", "rename"])
def test_a_reimport_or_a_rename_answered_unavailable_is_sent_again(standin: DojoStandin, call: str) -> None:
    """POST and PATCH are retried as GET is: a reimport of the same document leaves the test as one would, a
    rename sets the same title again."""
    client = client_for(standin.url, **{"dojo.retries": 1})
    test_id = reimport_one(client, context_of("vulnerability shop", SHOP))["test_id"]
    path = "/api/v2/reimport-scan/" if call == "reimport" else f"/api/v2/tests/{test_id}/"
    standin.fail_next(path, 503)
    standin.clear_requests()
    if call == "reimport":
        reimport_one(client, context_of("vulnerability shop", SHOP))
    else:
        client.rename_test(test_id, "vulnerability shop (renamed)")
    client.close()
    answered_ok = 201 if call == "reimport" else 200
    assert [(request.path, request.status) for request in standin.requests] == [(path, 503), (path, answered_ok)]


def test_a_500_that_outlives_its_retries_is_that_calls_error_and_leaves_the_breaker_closed(
    standin: DojoStandin,
) -> None:
    """A 500 comes from a DefectDojo that is up (one document's problem): the call fails with DefectDojo's own
    words and status, and the night's other calls are still made, even with a breaker that opens at one failure."""
    standin.fail_next("/api/v2/products/", 500, times=2)
    client = client_for(standin.url, **{"dojo.retries": 1, "dojo.max_connection_failures": 1})
    with pytest.raises(DojoStatusError) as raised:
        client.find("products/", name="prod")
    assert raised.value.status == 500
    assert str(raised.value) == (
        f"DefectDojo at {standin.url} could not list products/: HTTP 500: "
        '{"message": "Internal server error, check logs for details"}'
    )
    assert not client.unreachable
    assert client.find("products/", name="prod") == []
    client.close()


def test_a_dojo_that_takes_a_call_and_says_nothing_is_a_timeout_not_a_hang() -> None:
    hold = threading.Event()
    with scripted_dojo(hold=hold) as (url, _server):
        client = client_for(url, **{"dojo.retries": 0, "dojo.timeout": 0.3})
        started = time.monotonic()
        with pytest.raises(DojoError) as raised:
            client.find("products/", name="prod")
        elapsed = time.monotonic() - started
        client.close()
    assert str(raised.value) == (
        f"cannot reach DefectDojo at {url} (ConnectionError); check DD_URL and the network policy; "
        "the archive is not affected"
    )
    assert elapsed < 3, "dojo.timeout (0.3 s) ends the wait, not the server"


def test_each_call_is_counted_once_and_the_breaker_opens_at_its_count_not_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`calls` is the benchmark's measure of work; `dojo.max_connection_failures` failures in a row, not one fewer,
    open the breaker, and then nothing more is sent."""
    client = client_for("http://dojo.invalid", **{"dojo.max_connection_failures": 2})
    answers = iter([answered(b'{"count": 0, "results": []}')] * 2)

    def request(method: str, url: str, **kwargs: Any) -> requests.Response:
        answer = next(answers, None)
        if answer is None:
            raise requests.exceptions.ConnectionError("connection refused")
        return answer

    monkeypatch.setattr(client._session, "request", request)
    client.find("products/")
    client.find("products/")
    assert client.calls == 2
    with pytest.raises(DojoError):
        client.find("products/")
    assert not client.unreachable, "one failure of two"
    with pytest.raises(DojoError):
        client.find("products/")
    assert client.unreachable
    with pytest.raises(DojoUnreachableError) as raised:
        client.find("products/")
    assert str(raised.value) == "not sent: DefectDojo at http://dojo.invalid unreachable after 2 consecutive failures"
    assert client.calls == 4, "the call the breaker refused was not sent"


def test_a_client_without_dd_url_says_what_to_set() -> None:
    with pytest.raises(DojoError) as raised:
        DojoClient(load_settings(environ={}).dojo, api_key=TOKEN)
    assert str(raised.value) == "DefectDojo is not configured: set DD_URL and DD_API_KEY"


def test_as_many_calls_at_once_as_dojo_concurrency_each_keep_their_connection() -> None:
    """The sync makes `dojo.concurrency` calls at once (up to 16): each connection goes back to the pool after its
    call and serves a later one; none is closed and opened anew (over https, a handshake each time)."""
    concurrency = 12
    barrier = threading.Barrier(concurrency, timeout=5)  # every call of a round is open before any is answered
    with scripted_dojo(barrier=barrier) as (url, server):
        client = client_for(url, **{"dojo.concurrency": concurrency, "dojo.timeout": 10})
        for _round in range(2):
            calls = [threading.Thread(target=client.find, args=("products/",)) for _ in range(concurrency)]
            for call in calls:
                call.start()
            for call in calls:
                call.join(timeout=10)
        client.close()
    assert len(server.seen) == 2 * concurrency
    assert len({seen.port for seen in server.seen}) == concurrency, "one connection for each call of a round"


LACKS_PERMISSION = (
    "refused to list products/ (403): the API key's user lacks permission; give it the Writer role on the product "
    "type (or Global Importer)"
)
REJECTED = "rejected the API key (403); check DD_API_KEY"
REFUSALS = {
    "invalid-token": (b'{"detail": "Invalid token."}', REJECTED),
    "no-credentials": (b'{"detail": "Authentication credentials were not provided."}', REJECTED),
    "user-inactive": (b'{"detail": "User inactive or deleted."}', REJECTED),
    "empty-key": (b'{"detail": "Invalid token header. No credentials provided."}', REJECTED),
    "key-with-spaces": (b'{"detail": "Invalid token header. Token string should not contain spaces."}', REJECTED),
    "no-permission": (b'{"detail": "You do not have permission to perform this action."}', LACKS_PERMISSION),
    "a-proxy-page": (b"<html><body><h1>403 Forbidden</h1></body></html>", LACKS_PERMISSION),
    "not-an-object": (b'["Invalid token."]', LACKS_PERMISSION),
}


@pytest.mark.parametrize(("body", "expected"), REFUSALS.values(), ids=REFUSALS.keys())
def test_a_403_is_a_rejected_key_only_when_dojo_says_the_token_is_invalid_or_missing(
    monkeypatch: pytest.MonkeyPatch, body: bytes, expected: str
) -> None:
    """DefectDojo answers a key it does not take with 403 (session authentication comes first) and says why in its
    `detail`, in the words of DRF's TokenAuthentication: no such key, its user deactivated, an empty key, a key with
    a space (pasted with its `Token ` prefix), or no key at all. Any other 403 (a key without the role, a proxy's
    page) is not taken for a wrong key, and only then is the advice to give the key's user a role."""
    client = offline_client(monkeypatch, body, status=403)
    with pytest.raises(DojoError) as raised:
        client.find("products/")
    assert str(raised.value) == f"DefectDojo at http://dojo.invalid {expected}"


@pytest.mark.parametrize("api_key", ["Token " + TOKEN, ""], ids=["pasted-with-its-prefix", "empty"])
def test_a_malformed_key_is_a_rejected_key_not_a_missing_role(api_key: str) -> None:
    """Told that the key's user lacks a role, an operator would grant one (Global Importer) to the wrong problem."""
    with DojoStandin(token=TOKEN) as dojo:
        client = DojoClient(load_settings(environ={}, flags={"dojo.url": dojo.url, "dojo.retries": 0}).dojo,
                            api_key=api_key)  # fmt: skip
        with pytest.raises(DojoError) as raised:
            reimport_one(client, context_of("vulnerability shop", SHOP))
        client.close()
    assert str(raised.value) == f"DefectDojo at {dojo.url} {REJECTED}"
