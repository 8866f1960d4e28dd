"""DefectDojo's REST API v2, the few calls the exporter makes: find the context, list tests, reimport a scan.

requests with urllib3's Retry (429 honouring Retry-After, 5xx, connection errors) through an HTTPAdapter, not a
loop of our own. Reimport is safe to retry: sending the same document twice leaves the test as one import would.
Each retry is logged as a warning (exporter/retries.py, shared with the Kubernetes side), so a
DefectDojo hiccup is a line per attempt, not minutes of silence. The API key travels only in the Authorization
header; no message, log line or exception carries it.

A circuit breaker bounds an outage: after `max_connection_failures` consecutive calls that failed although
retried (no connection, a timeout, a 5xx), the client makes no more calls for its life (one night) and every
further call fails at once with `DojoUnreachableError`. Without it each test waited out its own retries: 30 tests
against a DefectDojo that was down took minutes each, hours in all.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from exporter.config import DojoSettings
from exporter.errors import ConfigError, DojoError
from exporter.redact import redact_url
from exporter.retries import ReportedRetry

RETRY_STATUSES = (429, 500, 502, 503, 504)
UNAVAILABLE_STATUSES = (502, 503, 504)  # a proxy or load balancer without a DefectDojo behind it
TESTS_PAGE = 250
"""Tests per page when listing an engagement's tests: one call for all but the largest clusters."""

_log = logging.getLogger(__name__)


class DojoStatusError(DojoError):
    """DefectDojo answered a call with an error status (4xx, or a 5xx that outlived the retries)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class DojoUnreachableError(DojoError):
    """The circuit breaker is open: DefectDojo failed too many calls in a row, so this one was not made."""


class _Breaker:
    """Consecutive failures of retried calls; any answer below 500 closes the count again. Thread-safe."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._failures = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        with self._lock:
            return self._failures >= self.limit

    def failed(self) -> None:
        with self._lock:
            self._failures += 1

    def answered(self) -> None:
        with self._lock:
            if self._failures < self.limit:
                self._failures = 0


class _DojoRetry(ReportedRetry):
    """Each retry of a DefectDojo call, a warning line (event `dojo_retry`); the API key rides in a header, which
    nothing here reads."""

    server_name, event, logger = "DefectDojo", "dojo_retry", logging.getLogger(__name__)


@dataclass(frozen=True)
class TestContext:
    """Where one test's findings go, by name, as DefectDojo's auto_create_context finds or creates it."""

    product_type: str
    product: str
    engagement: str
    title: str
    scan_type: str
    service: str


class DojoClient:
    def __init__(self, settings: DojoSettings, *, api_key: str) -> None:
        if not settings.url:
            raise DojoError("DefectDojo is not configured: set DD_URL and DD_API_KEY")
        self._base_url = settings.url.rstrip("/")
        self.url = redact_url(self._base_url)  # what messages show: never the password of DD_URL's userinfo
        self._settings = settings
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Token {api_key}"
        self._session.headers["Accept"] = "application/json"
        self._session.verify = str(settings.ca_bundle) if settings.ca_bundle else settings.verify_tls
        retry = _DojoRetry(
            total=settings.retries,
            backoff_factor=settings.backoff_factor,
            backoff_max=60,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET", "POST", "PATCH"}),  # PATCH only sets a test's title: safe to repeat
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=max(4, settings.concurrency))
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self.calls = 0  # requests sent (retries not counted): the benchmark's measure of work
        self._calls_lock = threading.Lock()
        self._breaker = _Breaker(settings.max_connection_failures)

    @property
    def unreachable(self) -> bool:
        """True once the breaker opened: nothing more is sent to DefectDojo by this client."""
        return self._breaker.open

    def unreachable_reason(self) -> str:
        return f"not sent: DefectDojo at {self.url} unreachable after {self._breaker.limit} consecutive failures"

    def close(self) -> None:
        self._session.close()

    def find(self, path: str, *, limit: int = 100, **filters: Any) -> list[dict[str, Any]]:
        """Every result of a filtered list endpoint (`products/?name=...`), following pagination."""
        results: list[dict[str, Any]] = []
        params: dict[str, Any] | None = {**filters, "limit": limit}
        url: str | None = f"{self._base_url}/api/v2/{path}"
        while url:
            page = self._call("GET", url, f"list {path}", params=params)
            found, url, params = page.get("results"), page.get("next"), None  # no `results`: not a page either
            if (
                not isinstance(found, list)
                or not all(isinstance(item, dict) for item in found)
                or not (url is None or isinstance(url, str))
            ):
                raise DojoError(
                    f"DefectDojo at {self.url} answered list {path} with JSON that is not a page of results"
                )
            results.extend(found)
        return results

    def tests_named(self, context: TestContext) -> list[dict[str, Any]]:
        """The tests that already hold this context's findings, oldest first (empty when none exist yet)."""
        engagement = self.engagement_id(context.product, context.engagement)
        if engagement is None:
            return []
        tests = self.find("tests/", engagement=engagement, title=context.title)
        return sorted((t for t in tests if t.get("title") == context.title), key=lambda test: int(test["id"]))

    def engagement_id(self, product_name: str, engagement_name: str) -> int | None:
        """The id of the engagement with these names, None when the product or the engagement does not exist.

        `products/?name=` matches names *containing* the text, hence the exact comparison of what comes back.
        """
        products = self.find("products/", name=product_name)
        product = next((p for p in products if p.get("name") == product_name), None)
        if product is None:
            return None
        engagements = self.find("engagements/", product=product["id"], name=engagement_name)
        engagement = next((e for e in engagements if e.get("name") == engagement_name), None)
        return int(engagement["id"]) if engagement is not None else None

    def engagement_tests(self, engagement_id: int) -> dict[int, str] | None:
        """Test id -> title of every test of the engagement; None when the engagement does not exist.

        One call for up to TESTS_PAGE tests: what checks that the tests a state promises still exist. DefectDojo's
        `engagement` filter is a model choice, so an id that names no engagement answers 400, not an empty page.
        """
        try:
            tests = self.find("tests/", limit=TESTS_PAGE, engagement=engagement_id)
        except DojoStatusError as exc:
            if exc.status in (400, 404):
                return None
            raise
        return {int(test["id"]): str(test.get("title")) for test in tests}

    def reimport(self, context: TestContext, document: bytes, *, test_id: int | None) -> dict[str, Any]:
        """Reimport a complete snapshot of one test, closing what it no longer holds (for its service only)."""
        form: dict[str, Any] = {
            "scan_type": context.scan_type,
            "service": context.service,
            "close_old_findings": "true",
            "minimum_severity": self._settings.minimum_severity,
            "active": "true",
            "verified": "false",
        }
        if test_id is not None:
            form["test"] = str(test_id)
        else:
            form.update(
                product_type_name=context.product_type,
                product_name=context.product,
                engagement_name=context.engagement,
                test_title=context.title,
                auto_create_context="true" if self._settings.auto_create_context else "false",
            )
        files = {"file": (f"{context.scan_type.replace(' ', '-').lower()}.json", document, "application/json")}
        answer = self._call("POST", f"{self._base_url}/api/v2/reimport-scan/", f"reimport {context.title!r}",
                            data=form, files=files)  # fmt: skip
        if not isinstance(answer.get("test_id", answer.get("test")), int):
            raise DojoError(
                f"DefectDojo at {self.url} answered the reimport of {context.title!r} with JSON that names "
                "no test: not a reimport result, so it is not taken as imported; sent again next run"
            )
        return answer

    def _call(self, method: str, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        if self._breaker.open:
            raise DojoUnreachableError(self.unreachable_reason())
        with self._calls_lock:
            self.calls += 1
        timeout = (min(self._settings.connect_timeout, self._settings.timeout), self._settings.timeout)
        try:
            response = self._session.request(method, url, timeout=timeout, **kwargs)
        except requests.exceptions.SSLError:
            raise DojoError(
                f"TLS verification of DefectDojo at {self.url} failed; "
                "set dojo.ca_bundle (REPORT_EXPORTER_DD_CA_BUNDLE)"
            ) from None
        except requests.exceptions.RequestException as exc:
            self._breaker.failed()
            raise DojoError(f"cannot reach DefectDojo at {self.url} ({type(exc).__name__}); check DD_URL and the "
                            "network policy; the archive is not affected") from None  # fmt: skip
        if response.status_code in UNAVAILABLE_STATUSES:
            self._breaker.failed()
        else:  # any other answer, a 500 included, comes from a DefectDojo that is up: one document's problem
            self._breaker.answered()
        return self._body(response, what)

    def _body(self, response: requests.Response, what: str) -> dict[str, Any]:
        """The JSON answer, or the error a person can act on."""
        if response.status_code == 401 or _rejected_key(response):
            raise DojoError(f"DefectDojo at {self.url} rejected the API key ({response.status_code}); check DD_API_KEY")
        if response.status_code == 403:
            raise DojoError(f"DefectDojo at {self.url} refused to {what} (403): the API key's user lacks permission; "
                            "give it the Writer role on the product type (or Global Importer)")  # fmt: skip
        if response.status_code == 413:
            raise DojoError(f"DefectDojo at {self.url} refused to {what}: the document is too large (413); lower "
                            "dojo.max_document_bytes below DD_SCAN_FILE_MAX_SIZE")  # fmt: skip
        if response.status_code >= 400:
            detail = " ".join(response.text.split())[:300]
            raise DojoStatusError(f"DefectDojo at {self.url} could not {what}: HTTP {response.status_code}: {detail}",
                                  status=response.status_code)  # fmt: skip
        try:
            body = response.json()
        except ValueError:
            raise DojoError(f"DefectDojo at {self.url} answered {what} with non-JSON") from None
        return body if isinstance(body, dict) else {"results": body}

    def rename_test(self, test_id: int, title: str) -> None:
        """Give a test the title the templates now plan (`PATCH tests/<id>/`, TestSerializer's `title`).

        Why rename rather than import anew: a test cannot move (Test.engagement is not editable), but its title can
        change in place, so its findings keep their ids, history and triage, and no second copy is ever opened.
        """
        self._call("PATCH", f"{self._base_url}/api/v2/tests/{test_id}/", f"rename test {test_id} to {title!r}",
                   json={"title": title})  # fmt: skip

    def holds_findings_of(self, test_id: int, service: str) -> bool:
        """Whether a test holds a finding of this service: a test the exporter fed, whatever its title now.

        The service is the test's identity (`<cluster>/<test key>`), set on every finding it sends, so a test with
        one of them is the exporter's even when an analyst retitled it; one without is another's (a DefectDojo
        rebuilt from scratch hands out the same ids again).
        """
        page = self._call("GET", f"{self._base_url}/api/v2/findings/", f"list the findings of test {test_id}",
                          params={"test": test_id, "service": service, "limit": 1})  # fmt: skip
        return bool(page.get("count") or page.get("results"))


# DRF's words for a key it does not take (TokenAuthentication; NotAuthenticated when no key reached it). Each is a
# key to fix, not a role to grant: a malformed key told "lacks permission" would send the operator to grant one.
_KEY_REJECTIONS = frozenset(
    {
        "Invalid token.",  # no such key
        "User inactive or deleted.",  # the key's user was deactivated
        "Invalid token header. No credentials provided.",  # an empty key
        "Invalid token header. Token string should not contain spaces.",  # pasted with its `Token ` prefix
        "Invalid token header. Token string should not contain invalid characters.",  # older DRF: not ASCII
        "Authentication credentials were not provided.",  # no Authorization header reached DefectDojo
    }
)


def _rejected_key(response: requests.Response) -> bool:
    """DefectDojo answers a bad or missing key with 403 (Session auth comes first in its DRF settings), not 401."""
    if response.status_code != 403:
        return False
    try:
        detail = str(response.json().get("detail", ""))
    except (ValueError, AttributeError):
        return False
    return detail in _KEY_REJECTIONS


def resolve_api_key(settings: DojoSettings) -> str:
    """The API key from DD_API_KEY or a mounted file; never printed."""
    if settings.api_key is not None:
        return settings.api_key.get_secret_value()
    if settings.api_key_file is not None:
        try:
            return settings.api_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read dojo.api_key_file {settings.api_key_file}: {exc.strerror}") from None
    raise ConfigError("DefectDojo is configured (DD_URL) but has no API key: set DD_API_KEY or dojo.api_key_file")
