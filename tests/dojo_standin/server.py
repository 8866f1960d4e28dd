"""The HTTP side: a threaded server on 127.0.0.1 answering like DefectDojo behind its nginx.

Order of checks, as a request meets them in DefectDojo: nginx (``client_max_body_size`` -> 413 page), Django URL
resolution (unknown path -> 404 page; a known path without its trailing slash -> ``APPEND_SLASH`` 301, which a
client following it turns into a GET), DRF authentication and permissions, the method, the body parser (import
endpoints only take multipart), then the view. Authentication is ``REST_FRAMEWORK`` of ``settings.dist.py``:
Session first, then Basic, then Token, so a missing or wrong key is **403**, not 401 (DRF answers 401 only when
the *first* authentication class names a ``WWW-Authenticate`` scheme; ``token_auth_first=True`` gives the 401
of a deployment that lists TokenAuthentication first).
"""

from __future__ import annotations

import importlib
import json
import threading
import traceback
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.dojo_standin import api
from tests.dojo_standin.context import read_scan_request
from tests.dojo_standin.forms import ApiError, Form, detail, internal_error, json_object, parse_body
from tests.dojo_standin.importer import ParserModule, import_scan, reimport_scan
from tests.dojo_standin.records import JsonObject, Store
from tests.loopback_http import TrackingHandler, TrackingServer

NOT_AUTHENTICATED = "Authentication credentials were not provided."
NOT_PERMITTED = "You do not have permission to perform this action."
NOT_FOUND_PAGE = b"<h1>Not Found</h1><p>The requested resource was not found on this server.</p>"
_REASONS = {413: "Request Entity Too Large", 502: "Bad Gateway", 503: "Service Temporarily Unavailable",
            504: "Gateway Time-out"}  # fmt: skip


def nginx_page(status: int) -> bytes:
    """The error page nginx writes itself (no upstream body): what a proxy in front of DefectDojo answers."""
    title = f"{status} {_REASONS.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


@dataclass(frozen=True)
class RecordedRequest:
    """One request as a test may assert on it: the form without the file's bytes, and the status answered."""

    method: str
    path: str
    query: Mapping[str, str]
    form: Mapping[str, str | tuple[str, ...]]
    file_name: str | None
    file_size: int | None
    json: Any
    status: int


@dataclass
class _Fault:
    path: str
    status: int
    remaining: int
    after_processing: bool
    retry_after: int | None


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


class DojoStandin:
    """A running stand-in DefectDojo (plain http): construct it, use ``url``, ``close()`` it (or ``with``).

    ``parser`` is a module-like object with ``parse``/``hash_code``/``dedupe_key`` (and optionally
    ``ParserError``); without one, ``tests.dojo_parsers`` is imported when the first scan arrives. ``token`` may
    import, ``read_only_token`` may only read (403 on every write). ``max_file_size_mb`` is
    ``DD_SCAN_FILE_MAX_SIZE`` (400 above it); ``proxy_max_body_bytes`` is an nginx ``client_max_body_size``
    in front (413 above it, None for no proxy limit).
    """

    def __init__(
        self,
        *,
        parser: ParserModule | None = None,
        token: str = "test-token",
        read_only_token: str = "read-only-token",
        max_file_size_mb: float = 100,
        proxy_max_body_bytes: int | None = None,
        token_auth_first: bool = False,
        scan_types: Collection[str] | None = None,
    ) -> None:
        self._parser = parser
        self._tokens = {token: True, read_only_token: False}
        self.max_file_size_mb = max_file_size_mb
        self.proxy_max_body_bytes = proxy_max_body_bytes
        self._token_auth_first = token_auth_first
        self._scan_types = scan_types
        self._lock = threading.RLock()
        self._store = Store()
        self._requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._import_failures: list[int] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port: int = self._start(0)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> DojoStandin:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening, cut kept-alive connections and join the serving thread."""
        self.down()

    def down(self) -> None:
        """Refuse connections (nothing listens on the port) until ``up()``; state is kept."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join(timeout=5)

    def up(self) -> None:
        """Listen again on the same port, with the same objects."""
        if self._server is None:
            self._start(self.port)

    def _start(self, port: int) -> int:
        server = self._server = _Server(self, port)
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="dojo-standin", daemon=True
        )
        self._thread.start()
        return int(server.server_address[1])

    def fail_next(
        self, path: str, status: int, times: int = 1, *, after_processing: bool = False, retry_after: int | None = None
    ) -> None:
        """Answer the next ``times`` requests to ``path`` with ``status`` (nginx's page for 502/503/504).

        By default the request never reaches DefectDojo; ``after_processing`` lets it do its work first and loses
        the answer, as a gateway timing out on a slow import does (a retry then imports twice).
        """
        with self._lock:
            self._faults.append(_Fault(path, status, times, after_processing, retry_after))

    def import_fails_after_creating_test(self, times: int = 1, status: int = 500) -> None:
        """The next imports create their test and then fail (``status``), leaving the empty test behind.

        DefectDojo creates the test before parsing and does not roll it back (``parse_findings_static_test_type``);
        a parser error, a worker killed mid-import or a database error after that point all end like this.
        """
        with self._lock:
            self._import_failures.extend([status] * times)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request so far, oldest first (faults and refusals included)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the requests so far, so a test can assert on what one step sends."""
        with self._lock:
            self._requests.clear()

    def findings(
        self,
        product: int | str | None = None,
        engagement: int | str | None = None,
        test: int | None = None,
        active: bool | None = None,
    ) -> list[JsonObject]:
        """Findings as the API renders them, by id; ``product``/``engagement`` take an id or a name."""
        with self._lock:
            store = self._store
            selected = []
            for finding in sorted(store.findings.values(), key=lambda f: f.id):
                found_test = store.tests[finding.test]
                found_engagement = store.engagements[found_test.engagement]
                found_product = store.products[found_engagement.product]
                if not _matches(product, found_product.id, found_product.name):
                    continue
                if not _matches(engagement, found_engagement.id, found_engagement.name):
                    continue
                if (test is None or finding.test == test) and (active is None or finding.active is active):
                    selected.append(finding.to_json())
            return selected

    def tests(self, engagement: int | None = None) -> list[JsonObject]:
        """Tests as the API renders them, by id, optionally of one engagement."""
        with self._lock:
            tests = sorted(self._store.tests.values(), key=lambda t: t.id)
            return [t.to_json() for t in tests if engagement is None or t.engagement == engagement]

    def engagements(self, product: int | None = None) -> list[JsonObject]:
        """Engagements as the API renders them, by id, optionally of one product."""
        with self._lock:
            engagements = sorted(self._store.engagements.values(), key=lambda e: e.id)
            return [e.to_json() for e in engagements if product is None or e.product == product]

    def products(self) -> list[JsonObject]:
        """Products as the API renders them (with their finding counts), by id."""
        with self._lock:
            return [api.get_object(self._store, "products", pid) for pid in sorted(self._store.products)]

    def product_types(self) -> list[JsonObject]:
        """Product types as the API renders them, by id."""
        with self._lock:
            return [t.to_json() for _, t in sorted(self._store.product_types.items())]

    def _handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        with self._lock:
            parts = urlsplit(target)
            query = parse_qs(parts.query, keep_blank_values=True)
            forms: list[Form] = []
            fault = self._take_fault(parts.path)
            if fault is not None and not fault.after_processing:
                reply = _fault_reply(fault)
            else:
                reply = self._answer_safely(method, parts.path, parts.query, query, headers, body, forms)
                if fault is not None:
                    reply = _fault_reply(fault)
            form = forms[-1] if forms else Form()
            self._requests.append(
                RecordedRequest(
                    method=method,
                    path=parts.path,
                    query={name: values[-1] for name, values in query.items()},
                    form=form.recorded(),
                    file_name=form.files["file"].name if "file" in form.files else None,
                    file_size=len(form.files["file"].content) if "file" in form.files else None,
                    json=form.json_body,
                    status=reply.status,
                )
            )
            return reply

    def _answer_safely(
        self,
        method: str,
        path: str,
        query_string: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        forms: list[Form],
    ) -> _Reply:
        try:
            return self._answer(method, path, query_string, query, headers, body, forms)
        except ApiError as error:
            return _error_reply(error)
        except Exception:
            # A stand-in bug: DefectDojo's 500 body, plus the traceback so the failing test shows it.
            payload = {"message": internal_error().body["message"], "standin_traceback": traceback.format_exc()}
            return _Reply(500, json.dumps(payload).encode())

    def _answer(
        self,
        method: str,
        path: str,
        query_string: str,
        query: dict[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        forms: list[Form],
    ) -> _Reply:
        if self.proxy_max_body_bytes is not None and len(body) > self.proxy_max_body_bytes:
            return _Reply(413, nginx_page(413), "text/html")
        route = _route(path)
        if route is None:
            if not path.endswith("/") and _route(path + "/") is not None:
                # CommonMiddleware with APPEND_SLASH: a permanent redirect, which clients follow as a GET
                location = path + "/" + (f"?{query_string}" if query_string else "")
                return _Reply(301, b"", "text/html; charset=utf-8", (("Location", location),))
            return _Reply(404, NOT_FOUND_PAGE, "text/html")
        can_write = self._authenticate(headers.get("Authorization", ""))
        if method not in ("GET", "HEAD", "OPTIONS") and not can_write:
            raise detail(403, NOT_PERMITTED)
        content_type = headers.get("Content-Type", "")
        if route[0] in ("import-scan", "reimport-scan") and body and not content_type.startswith("multipart/form-data"):
            # ImportScanView / ReImportScanView: parser_classes = [MultiPartParser]
            raise detail(415, f'Unsupported media type "{content_type.split(";")[0]}" in request.')
        form = parse_body(content_type, body) if body else Form()
        forms.append(form)
        status, payload = self._view(method, route, query, form, f"http://{headers.get('Host', '127.0.0.1')}{path}")
        if status == 204:
            return _Reply(204, b"")
        return _Reply(status, json.dumps(payload, separators=(",", ":")).encode())

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.path == path and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _authenticate(self, header: str) -> bool:
        """DRF's authenticators in DefectDojo's order; True for the import token, False for the read-only one."""
        words = header.split()
        failure = NOT_AUTHENTICATED
        if words and words[0].lower() == "basic":
            failure = "Invalid username/password."
        elif words and words[0].lower() == "token":
            if len(words) == 1:
                failure = "Invalid token header. No credentials provided."
            elif len(words) > 2:
                failure = "Invalid token header. Token string should not contain spaces."
            elif words[1] in self._tokens:
                return self._tokens[words[1]]
            else:
                failure = "Invalid token."
        error = detail(401 if self._token_auth_first else 403, failure)
        if self._token_auth_first:
            error.headers.append(("WWW-Authenticate", "Token"))
        raise error

    def _view(
        self, method: str, route: tuple[str, int | None], query: dict[str, list[str]], form: Form, page_url: str
    ) -> tuple[int, Any]:
        collection, object_id = route
        if collection in ("import-scan", "reimport-scan"):
            if method != "POST":
                raise api.method_not_allowed(method, ("POST",))
            return 201, self._scan(form, reimport=collection == "reimport-scan")
        allowed = api.allowed_methods(collection, detail_view=object_id is not None)
        if method not in allowed:
            raise api.method_not_allowed(method, allowed)
        if method == "GET":
            if object_id is None:
                return 200, api.list_objects(self._store, collection, query, page_url)
            return 200, api.get_object(self._store, collection, object_id)
        if method == "POST":
            return 201, api.create_object(self._store, collection, json_object(form))
        assert object_id is not None
        if method == "DELETE":
            api.delete_object(self._store, collection, object_id)
            return 204, None
        return 200, api.patch_object(self._store, collection, object_id, json_object(form))

    def _scan(self, form: Form, *, reimport: bool) -> JsonObject:
        request = read_scan_request(
            form, self._store, reimport=reimport, max_file_size_mb=self.max_file_size_mb, scan_types=self._scan_types
        )
        parser = self._parser or _default_parser()
        runner = reimport_scan if reimport else import_scan
        return runner(self._store, parser, request, fail_after_test=self._next_import_failure)

    def _next_import_failure(self) -> ApiError | None:
        """Called by the importer right after it created the test: the injected failure, if one is due."""
        if not self._import_failures:
            return None
        status = self._import_failures.pop(0)
        return internal_error() if status == 500 else ApiError(status, nginx_page(status), content_type="text/html")


def _default_parser() -> ParserModule:
    try:
        module: Any = importlib.import_module("tests.dojo_parsers")
    except ImportError as exc:
        message = f"dojo stand-in: no parser given and tests.dojo_parsers is missing ({exc})"
        raise ApiError(500, {"message": message}) from exc
    parser: ParserModule = module
    return parser


def _matches(wanted: int | str | None, object_id: int, name: str | None) -> bool:
    if wanted is None:
        return True
    return wanted == object_id if isinstance(wanted, int) else wanted == name


def _route(path: str) -> tuple[str, int | None] | None:
    parts = path.split("/")
    if len(parts) < 5 or parts[:3] != ["", "api", "v2"] or parts[-1] != "":
        return None
    names = parts[3:-1]
    if len(names) == 1 and names[0] in ("import-scan", "reimport-scan", *api.COLLECTIONS):
        return names[0], None
    if len(names) == 2 and names[0] in api.COLLECTIONS and names[1].isdigit():
        return names[0], int(names[1])
    return None


def _error_reply(error: ApiError) -> _Reply:
    body = error.body if isinstance(error.body, bytes) else json.dumps(error.body, separators=(",", ":")).encode()
    return _Reply(error.status, body, error.content_type, tuple(error.headers))


def _fault_reply(fault: _Fault) -> _Reply:
    headers = (("Retry-After", str(fault.retry_after)),) if fault.retry_after is not None else ()
    if fault.status in (502, 503, 504):
        return _Reply(fault.status, nginx_page(fault.status), "text/html", headers)
    if fault.status == 429:
        wait = fault.retry_after or 1
        body = {"detail": f"Request was throttled. Expected available in {wait} seconds."}
        return _Reply(429, json.dumps(body).encode(), headers=headers)
    return _Reply(fault.status, json.dumps({"message": internal_error().body["message"]}).encode(), headers=headers)


class _Server(TrackingServer):
    def __init__(self, standin: DojoStandin, port: int) -> None:
        self.standin = standin
        super().__init__(port, _Handler)


class _Handler(TrackingHandler):
    server: _Server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        body = self._read_body()
        headers = {name: value for name, value in self.headers.items()}
        reply = self.server.standin._handle(method, self.path, headers, body)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Vary", "Accept, Cookie")
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def log_message(self, message_format: str, *args: Any) -> None:
        """Silent: tests assert on ``DojoStandin.requests``, not on stderr."""
