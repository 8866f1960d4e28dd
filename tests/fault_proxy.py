"""A fault-injecting HTTP proxy for tests: what a flaky network, load balancer or store does, on cue.

`FaultProxy(target_url)` listens on 127.0.0.1 and forwards every request to the target (the real Swift's S3
endpoint, the DefectDojo stand-in): point the client at `proxy.url`. Each request is matched against the rules in
order (method, a regex searched in the request target, the nth matching request, the body's size); the first rule
that fires decides what happens to that request instead of a plain relay:

* `status`: answered by the proxy (503, 500, 429 with a `Retry-After` header, 403 ...) with `body`; the target
  never sees the request;
* `reset_request_after=N`: N bytes of the request (head and body) reach the target, then both sides are reset;
* `reset_response_after=N`: the target answers, N bytes of its answer reach the client, then a reset;
* `truncate_response=N`: the answer's head and N bytes of its body, then a clean close (a short read);
* `delay`: seconds of silence before the answer (a read timeout), alone or before another action.

Plain HTTP/1.1 only (no TLS), bodies framed by Content-Length or chunked, `Expect: 100-continue` honoured. One fresh
connection to the target per request, so a fault never leaves a half-used connection behind. Each client connection
has its own daemon thread, at most `max_connections` at once; `close()`, leaving the `with` block, or `lifetime`
seconds cut them all.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_IO_TIMEOUT = 60.0


@dataclass
class Rule:
    """Which requests to hurt, and how; `times=None` fires on every match from the nth on."""

    method: str | None = None
    path: str = ""
    nth: int = 1
    times: int | None = 1
    min_body: int = -1  # only requests whose body is larger than this many bytes
    status: int | None = None
    body: bytes = b""
    content_type: str = "application/xml"
    headers: tuple[tuple[str, str], ...] = ()
    reset_request_after: int | None = None
    reset_response_after: int | None = None
    truncate_response: int | None = None
    delay: float = 0.0
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def take(self, method: str, target: str, body_size: int) -> bool:
        """Count a matching request; True when this one is to be hurt."""
        if self.method not in (None, method) or not re.search(self.path, target) or body_size <= self.min_body:
            return False
        self.seen += 1
        if self.seen < self.nth or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True


@dataclass
class Exchange:
    """One request as the proxy saw it: the rule that fired (None: relayed) and the target's (or rule's) status."""

    method: str
    target: str
    rule: Rule | None
    status: int | None = None


def s3_error(code: str, message: str = "injected by the fault proxy") -> bytes:
    """An S3 error document, so botocore reads the error code as it would from a real store."""
    return f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()


class FaultProxy:
    def __init__(self, target_url: str, *, max_connections: int = 32, lifetime: float = 600.0) -> None:
        split = urlsplit(target_url)
        if split.scheme != "http" or split.hostname is None or split.port is None:
            raise ValueError(f"the fault proxy forwards to http://host:port only, not {target_url!r}")
        self._target = (split.hostname, split.port)
        self.rules: list[Rule] = []  # `rules.clear()` lifts every fault
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._stopped = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._timer = threading.Timer(lifetime, self.close)
        self._timer.daemon = True
        self._timer.start()
        self._acceptor = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)
        self._acceptor.start()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add(self, **rule: object) -> Rule:
        """A new rule (the fields of Rule), checked after those added before it."""
        added = Rule(**rule)  # type: ignore[arg-type]
        with self._lock:
            self.rules.append(added)
        return added

    def hurt(self) -> list[Exchange]:
        """The exchanges a rule fired on, oldest first."""
        return [exchange for exchange in self.exchanges if exchange.rule is not None]

    def close(self) -> None:
        self._stopped.set()
        self._timer.cancel()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close() alone would not
        self._listener.close()
        with self._lock:
            for sock in list(self._sockets):
                _reset(sock)
        self._acceptor.join(timeout=5)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._slots.acquire()  # close() resets every connection, so a slot frees up at once
            threading.Thread(target=self._serve, args=(client,), name="fault-proxy-conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(_IO_TIMEOUT)
        self._track(client)
        try:
            reader = _Reader(client)
            while not self._stopped.is_set() and self._exchange(client, reader):
                pass
        except _CutError:
            _reset(client)
        except (OSError, EOFError, ValueError):
            pass
        finally:
            self._track(client, add=False)
            client.close()
            self._slots.release()

    def _exchange(self, client: socket.socket, reader: _Reader) -> bool:
        """One request and its answer; False when the client connection is to be closed."""
        head = reader.until(b"\r\n\r\n")
        if head is None:
            return False
        method, target, headers = _parse(head)
        with self._lock:
            rule = next((r for r in self.rules if r.take(method, target, int(headers.get("content-length", 0)))), None)
            exchange = Exchange(method, target, rule)
            self.exchanges.append(exchange)
        expect = headers.get("expect", "").lower() == "100-continue"
        if rule is not None and rule.status is not None:
            if not expect:  # read the body the client sends anyway, so that closing does not reset the answer away
                _copy_body(reader, None, _framing(headers), _Budget(None))
            self._stopped.wait(rule.delay)
            exchange.status = rule.status
            client.sendall(_answer(rule))
            _linger(client)
            return False
        upstream = socket.create_connection(self._target, timeout=_IO_TIMEOUT)
        self._track(upstream)
        try:
            return self._relay(client, reader, upstream, head, rule or Rule(), exchange, expect=expect)
        finally:  # half-close and drain: closing over an answer not read to its end would reset the target
            self._track(upstream, add=False)
            _linger(upstream)
            upstream.close()

    def _relay(self, client: socket.socket, reader: _Reader, upstream: socket.socket, head: bytes, rule: Rule,
               exchange: Exchange, *, expect: bool) -> bool:  # fmt: skip
        answers, sent = _Reader(upstream), _Budget(rule.reset_request_after)
        try:
            sent.send(upstream, head)
            answer = _final_head(answers, client) if expect else None  # None: the body comes now
            body_sent = answer is None
            if body_sent:
                _copy_body(reader, upstream, _framing(_parse(head)[2]), sent)
                answer = _final_head(answers, None)
        except _CutError:
            if rule.reset_request_after:  # the target got part of the request: it sees the abort too
                _reset(upstream)
            raise
        assert answer is not None
        exchange.status = int(_parse(answer)[1])
        self._stopped.wait(rule.delay)
        answer_headers = _parse(answer)[2]
        framing = _framing(answer_headers, exchange.method, exchange.status)
        back = _Budget(rule.reset_response_after)
        back.send(client, answer)
        try:
            _copy_body(
                answers, client, framing, back if rule.truncate_response is None else _Budget(rule.truncate_response)
            )
        except _CutError:
            if rule.truncate_response is None:
                raise
            _linger(client)
            return False
        return body_sent and framing is not None and answer_headers.get("connection", "").lower() != "close"

    def _track(self, sock: socket.socket, *, add: bool = True) -> None:
        with self._lock:
            (self._sockets.add if add else self._sockets.discard)(sock)


class _CutError(Exception):
    """A budget of bytes ran out: the connection is to be cut here."""


class _Budget:
    """Bytes still allowed through before the fault fires; None: unlimited."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit

    def send(self, sock: socket.socket | None, data: bytes) -> None:
        allowed = data if self.left is None else data[: self.left]
        if sock is not None and allowed:
            sock.sendall(allowed)
        if self.left is not None:
            self.left -= len(allowed)
            if len(allowed) < len(data):
                raise _CutError


class _Reader:
    """Buffered reads of one socket: up to a marker (a message head, a line), or some bytes."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock, self._buffer = sock, b""

    def until(self, marker: bytes) -> bytes | None:
        """Up to and including `marker`; None when the peer closed before sending anything."""
        while marker not in self._buffer:
            if not self._fill():
                if self._buffer:
                    raise EOFError("incomplete message")
                return None
        found, _, self._buffer = self._buffer.partition(marker)
        return found + marker

    def some(self, limit: int) -> bytes:
        if not self._buffer and not self._fill():
            raise EOFError
        data, self._buffer = self._buffer[:limit], self._buffer[limit:]
        return data

    def _fill(self) -> bool:
        data = self._sock.recv(65536)
        self._buffer += data
        return bool(data)


def _copy_body(source: _Reader, sink: socket.socket | None, framing: int | str | None, budget: _Budget) -> None:
    """Relay one body: `framing` is its length, "chunked", or None (until the peer closes)."""
    while framing == "chunked":
        line = source.until(b"\r\n") or b"0\r\n"
        budget.send(sink, line)
        if not (size := int(line.split(b";")[0].strip() or b"0", 16)):
            while (trailer := source.until(b"\r\n")) not in (None, b"\r\n"):
                budget.send(sink, trailer)
            return budget.send(sink, b"\r\n")
        _copy_body(source, sink, size + 2, budget)
    left = framing if isinstance(framing, int) else None
    while left is None or left > 0:
        try:
            data = source.some(65536 if left is None else min(left, 65536))
        except EOFError:
            if left is None:
                return None
            raise
        budget.send(sink, data)
        left = None if left is None else left - len(data)
    return None


def _final_head(answers: _Reader, client: socket.socket | None) -> bytes | None:
    """The target's final answer head, interim ones skipped; None when it asked `client` (given when it sent
    `Expect: 100-continue`) for the body with a 100 Continue, which is passed on."""
    while (answer := answers.until(b"\r\n\r\n")) is not None and int(_parse(answer)[1]) in (100, 102, 103):
        if client is not None and int(_parse(answer)[1]) == 100:
            client.sendall(answer)
            return None
    if answer is None:
        raise EOFError
    return answer


def _parse(head: bytes) -> tuple[str, str, dict[str, str]]:
    """The first line's first two words (method and target, or version and status) and the headers, lowercased."""
    first, *lines = head.decode("latin-1").split("\r\n")
    words = [*first.split(" "), ""]
    pairs = (line.partition(":") for line in lines)
    return words[0], words[1], {name.strip().lower(): value.strip() for name, colon, value in pairs if colon}


def _framing(headers: dict[str, str], method: str = "", status: int = 0) -> int | str | None:
    """How a body ends; a request's status is 0 and it has no body without a length."""
    if method == "HEAD" or status in (204, 304):
        return 0
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return "chunked"
    return int(headers["content-length"]) if "content-length" in headers else (None if status else 0)


def _answer(rule: Rule) -> bytes:
    headers = [("Content-Type", rule.content_type), ("Content-Length", len(rule.body)), ("Connection", "close")]
    lines = [f"HTTP/1.1 {rule.status} Injected", *(f"{k}: {v}" for k, v in [*headers, *rule.headers])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + rule.body


def _linger(sock: socket.socket) -> None:
    """Half-close, then read what the peer still sends for a moment: closing with unread data would reset the
    connection, and the peer might lose what it was sent or see an error it has no reason to."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(1.0)
        while sock.recv(65536):
            pass


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the peer reads ECONNRESET, not an answer."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
