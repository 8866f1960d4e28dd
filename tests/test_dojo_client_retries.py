"""The DefectDojo client's retries are said, one warning line each, as the Kubernetes side's are.

Against the stand-in (tests/dojo_standin), failing the next N requests to a path (`fail_next`) or refusing
connections (`down`). What an operator reads is fixed here as literal lines: the call (method, server, path), the
cause, the attempt and the wait; never the API key, never the password of DD_URL's userinfo.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest

from exporter.cli.common import _logged_to
from exporter.config import load_settings
from exporter.dojo import client as dojo_client
from exporter.errors import DojoError
from exporter.progress import JsonReporter
from tests.dojo_harness import SHOP_CONTEXT
from tests.dojo_standin import DojoStandin

TOKEN = "dojo-token-never-logged-5c1e"
PASSWORD = "userinfo-password-9d2b"
CONTEXT = SHOP_CONTEXT


@pytest.fixture
def dojo() -> Iterator[DojoStandin]:
    with DojoStandin(token=TOKEN) as standin:
        yield standin


def client_of(url: str, *, retries: int, backoff_factor: float = 0) -> dojo_client.DojoClient:
    flags = {"dojo.url": url, "dojo.retries": retries, "dojo.backoff_factor": backoff_factor, "dojo.connect_timeout": 5}
    return dojo_client.DojoClient(load_settings(environ={}, flags=flags).dojo, api_key=TOKEN)


def retry_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "exporter.dojo.client"]


def assert_no_secret(records: list[logging.LogRecord]) -> None:
    for record in records:
        shown = record.getMessage() + json.dumps(getattr(record, "fields", {}))
        assert TOKEN not in shown and PASSWORD not in shown, shown


def test_each_retry_of_a_failing_call_is_a_warning_with_the_call_cause_attempt_and_wait(
    dojo: DojoStandin, caplog: pytest.LogCaptureFixture
) -> None:
    dojo.fail_next("/api/v2/products/", 503, times=3)
    client = client_of(dojo.url, retries=4, backoff_factor=0.1)
    caplog.set_level(logging.WARNING, logger="exporter.dojo.client")
    started = time.monotonic()
    try:
        assert client.find("products/", name="prod") == [], "the fourth attempt is answered"
    finally:
        client.close()
    elapsed = time.monotonic() - started

    records = retry_records(caplog)
    call = f"GET {dojo.url}/api/v2/products/"  # the query (?name=prod&limit=100) is left out
    assert [record.getMessage() for record in records] == [
        f"DefectDojo: {call} failed (HTTP 503), attempt 1 of 5; retrying in 0.0 s",
        f"DefectDojo: {call} failed (HTTP 503), attempt 2 of 5; retrying in 0.2 s",
        f"DefectDojo: {call} failed (HTTP 503), attempt 3 of 5; retrying in 0.4 s",
    ]
    assert {record.levelno for record in records} == {logging.WARNING}
    assert [getattr(record, "event", None) for record in records] == ["dojo_retry"] * 3
    assert getattr(records[1], "fields", None) == {"method": "GET", "url": f"{dojo.url}/api/v2/products/",
                                                   "cause": "HTTP 503", "attempt": 2, "attempts": 5,
                                                   "wait_seconds": 0.2}  # fmt: skip
    assert elapsed >= 0.6, "the waits logged are the waits taken"
    assert [request.status for request in dojo.requests] == [503, 503, 503, 200]
    assert client.calls == 1, "retries are not calls"
    assert_no_secret(records)


def test_a_call_answered_at_once_logs_no_retry(dojo: DojoStandin, caplog: pytest.LogCaptureFixture) -> None:
    client = client_of(dojo.url, retries=4)
    caplog.set_level(logging.DEBUG, logger="exporter.dojo.client")
    try:
        assert client.find("products/", name="prod") == []
        assert client.engagement_id("prod", "trivy-operator") is None
    finally:
        client.close()
    assert [request.status for request in dojo.requests] == [200, 200]
    assert retry_records(caplog) == []


def test_a_throttled_call_says_the_retry_after_it_waits(dojo: DojoStandin, caplog: pytest.LogCaptureFixture) -> None:
    dojo.fail_next("/api/v2/tests/", 429, retry_after=1)
    client = client_of(dojo.url, retries=2)
    caplog.set_level(logging.WARNING, logger="exporter.dojo.client")
    started = time.monotonic()
    try:
        assert client.engagement_tests(7) is None, "the stand-in knows no engagement 7 (400 after the retry)"
    finally:
        client.close()
    assert time.monotonic() - started >= 1.0
    assert [record.getMessage() for record in retry_records(caplog)] == [
        f"DefectDojo: GET {dojo.url}/api/v2/tests/ failed (HTTP 429, Retry-After: 1), attempt 1 of 3; retrying in 1.0 s"
    ]


def test_a_refused_connection_names_the_error_on_each_retry_and_the_last_failure_is_the_error(
    dojo: DojoStandin, caplog: pytest.LogCaptureFixture
) -> None:
    dojo.down()
    client = client_of(dojo.url, retries=2)
    caplog.set_level(logging.WARNING, logger="exporter.dojo.client")
    try:
        with pytest.raises(DojoError, match=r"^cannot reach DefectDojo at http://127\.0\.0\.1:\d+ \(ConnectionError\)"):
            client.reimport(CONTEXT, b"[]", test_id=None)
    finally:
        client.close()
    records = retry_records(caplog)
    prefix = f"DefectDojo: POST {dojo.url}/api/v2/reimport-scan/ failed (NewConnectionError: "
    assert [record.getMessage().startswith(prefix) for record in records] == [True, True], records
    assert all(
        record.getMessage().endswith(f"attempt {n} of 3; retrying in 0.0 s") for n, record in enumerate(records, 1)
    )
    assert all("Connection refused" in getattr(record, "fields", {})["cause"] for record in records)
    assert_no_secret(records)


def test_the_password_of_dd_url_never_shows_in_a_retry_line(dojo: DojoStandin) -> None:
    """Through the CLI's reporter, as an operator reads it: JSON lines, `event` and the fields beside the message."""
    dojo.fail_next("/api/v2/products/", 502)
    client = client_of(dojo.url.replace("http://", f"http://analyst:{PASSWORD}@"), retries=1)
    stream = io.StringIO()
    try:
        with _logged_to(JsonReporter(stream)), pytest.raises(DojoError, match=r"\(403\)"):
            client.find("products/", name="prod")  # the userinfo replaces the token (docs/security.md)
    finally:
        client.close()
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert (line["level"], line["event"], line["method"], line["cause"]) == ("warning", "dojo_retry", "GET", "HTTP 502")
    assert (line["attempt"], line["attempts"], repr(line["wait_seconds"])) == (1, 2, "0.0")
    assert line["message"].startswith("DefectDojo: GET http://127.0.0.1:")
    assert PASSWORD not in stream.getvalue() and TOKEN not in stream.getvalue()
