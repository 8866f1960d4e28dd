"""The fault proxy itself (tests/fault_proxy.py), against a small origin: every fault does what it says, and
nothing else, so a row of the fault matrix (docs/reliability.md) fails for the product's reason, not the proxy's."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from tests.fault_proxy import FaultProxy, s3_error
from tests.loopback_http import TrackingHandler, TrackingServer

PAYLOAD = bytes(range(256)) * 400  # 100 KiB


class _Origin(TrackingHandler):
    """GET /data: PAYLOAD with a length; GET /chunked: PAYLOAD in chunks; PUT: the body's size, as JSON."""

    received: list[int]

    def do_GET(self) -> None:
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(PAYLOAD), 30_000):
                piece = PAYLOAD[start : start + 30_000]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()

    def do_PUT(self) -> None:
        length = int(self.headers["Content-Length"])
        body = b""
        try:
            while len(body) < length and (piece := self.rfile.read1(min(65536, length - len(body)))):
                body += piece
        except OSError:
            pass
        self.server.received.append(len(body))  # type: ignore[attr-defined]
        if len(body) < length:
            self.close_connection = True
            return
        answer = f'{{"received": {len(body)}}}'.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_: object) -> None:
        pass


class _OriginServer(TrackingServer):
    def handle_error(self, *_: object) -> None:
        """A client the proxy reset is what these tests do: no traceback on standard error."""


@pytest.fixture
def origin() -> Iterator[TrackingServer]:
    server = _OriginServer(0, _Origin)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.close_connections()
    server.server_close()


@pytest.fixture
def proxy(origin: TrackingServer) -> Iterator[FaultProxy]:
    with FaultProxy(f"http://127.0.0.1:{origin.server_address[1]}") as running:
        yield running


def test_without_rules_everything_is_relayed_on_kept_alive_connections(proxy: FaultProxy) -> None:
    with requests.Session() as session:
        assert session.get(f"{proxy.url}/data", timeout=5).content == PAYLOAD
        assert session.get(f"{proxy.url}/chunked", timeout=5).content == PAYLOAD
        assert session.put(f"{proxy.url}/up", data=PAYLOAD, timeout=5).json() == {"received": len(PAYLOAD)}
        assert session.head(f"{proxy.url}/data", timeout=5).status_code == 200
    assert [(e.method, e.target, e.status, e.rule) for e in proxy.exchanges] == [
        ("GET", "/data", 200, None), ("GET", "/chunked", 200, None), ("PUT", "/up", 200, None),
        ("HEAD", "/data", 200, None),
    ]  # fmt: skip


def test_a_status_rule_answers_the_nth_match_itself_and_the_target_never_sees_it(
    proxy: FaultProxy, origin: TrackingServer
) -> None:
    proxy.add(method="PUT", path=r"^/up", nth=2, status=503, body=s3_error("SlowDown"), headers=(("Retry-After", "3"),))
    answers = [requests.put(f"{proxy.url}/up", data=b"x" * 10, timeout=5) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 503, 200]
    assert answers[1].headers["Retry-After"] == "3" and b"<Code>SlowDown</Code>" in answers[1].content
    assert origin.received == [10, 10]  # type: ignore[attr-defined]
    assert [exchange.status for exchange in proxy.hurt()] == [503]


def test_times_none_fires_on_every_match_and_min_body_spares_small_bodies(proxy: FaultProxy) -> None:
    proxy.add(method="PUT", min_body=100, times=None, status=500)
    sizes = [10, 1000, 1000, 99]
    assert [requests.put(f"{proxy.url}/up", data=b"x" * n, timeout=5).status_code for n in sizes] == [
        200,
        500,
        500,
        200,
    ]


def test_a_reset_mid_request_delivers_only_the_first_bytes(proxy: FaultProxy, origin: TrackingServer) -> None:
    proxy.add(method="PUT", reset_request_after=20_000)
    with pytest.raises(requests.ConnectionError):
        requests.put(f"{proxy.url}/up", data=PAYLOAD, timeout=5)
    deadline = time.monotonic() + 5
    while not origin.received and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.05)
    assert 0 < origin.received[0] < 20_000  # type: ignore[attr-defined]


def test_a_reset_after_the_target_answered_loses_the_answer_not_the_request(
    proxy: FaultProxy, origin: TrackingServer
) -> None:
    proxy.add(method="PUT", reset_response_after=0)
    with pytest.raises(requests.ConnectionError):
        requests.put(f"{proxy.url}/up", data=PAYLOAD, timeout=5)
    assert origin.received == [len(PAYLOAD)]  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", ["/data", "/chunked"])
def test_a_truncated_answer_is_a_short_read(proxy: FaultProxy, path: str) -> None:
    proxy.add(method="GET", truncate_response=1000)
    connection = http.client.HTTPConnection("127.0.0.1", int(proxy.url.rsplit(":", 1)[1]), timeout=5)
    connection.request("GET", path)
    response = connection.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    connection.close()


def test_a_delay_is_a_read_timeout_and_close_ends_it(proxy: FaultProxy) -> None:
    proxy.add(method="GET", delay=30)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{proxy.url}/data", timeout=(5, 0.5))
    proxy.close()
    assert time.monotonic() - started < 5
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{proxy.url}/data", timeout=1)
    lingering = [thread for thread in threading.enumerate() if thread.name.startswith("fault-proxy")]
    deadline = time.monotonic() + 5
    while lingering and time.monotonic() < deadline:
        time.sleep(0.05)
        lingering = [thread for thread in lingering if thread.is_alive()]
    assert lingering == []
