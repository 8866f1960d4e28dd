"""urllib3's Retry that says so: one warning line for every retry it grants, for the Kubernetes API and DefectDojo.

Both clients retry in urllib3 (429 honouring Retry-After, 5xx, connection errors), not in a loop of our own; without
a word, an unreachable server is minutes of silence before the error. Each line names the call (method, server and
path: no query, which holds continue tokens and name filters, and no userinfo password), the cause (a status, with
its Retry-After, or the error), the attempt and the wait urllib3 will sleep. The record carries `event` and `fields`
for the CLI's reporter (exporter/cli/common.py). The last failure is not a retry: `Retry.increment` raises then, and
the caller's error says it.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import ClassVar, Self

from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from exporter.redact import redact_url, redact_urls


class ReportedRetry(Retry):
    """A Retry logging each retry to `logger` as `event`, the message starting with `server_name`.

    Subclasses set the three class attributes (urllib3 copies a Retry with `type(self)(...)`, so they stay).
    """

    server_name: ClassVar[str]
    event: ClassVar[str]
    logger: ClassVar[logging.Logger]

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)  # raises when exhausted
        attempt = len(retry.history)
        attempts = attempt + 1 + (retry.total if isinstance(retry.total, int) else 0)
        where = call_url(url, _pool)
        cause = self.error_cause(error) if error is not None else status_cause(response)
        wait = wait_seconds(retry, response)
        self.logger.warning(
            f"{self.server_name}: {method or 'GET'} {where} failed ({cause}), attempt {attempt} of {attempts}; "
            f"retrying in {wait:.1f} s",
            extra={"event": self.event,
                   "fields": {"method": method or "GET", "url": where, "cause": cause, "attempt": attempt,
                              "attempts": attempts, "wait_seconds": round(wait, 1)}},
        )  # fmt: skip
        return retry

    def error_cause(self, error: Exception) -> str:
        """The error's class and its words on one line (`NewConnectionError: ... Connection refused`), URLs
        redacted."""
        words = " ".join(str(error).split())
        return redact_urls(f"{type(error).__name__}: {words}" if words else type(error).__name__)[:300]


def call_url(url: str | None, pool: ConnectionPool | None) -> str:
    """Server and path of the request: `url` is the path, or the whole URL when a proxy carries the request."""
    path = (url or "").split("?")[0]
    if "://" not in path and pool is not None:
        path = f"{pool.scheme}://{pool.host}:{pool.port}{path}"
    return redact_url(path)


def status_cause(response: BaseHTTPResponse | None) -> str:
    if response is None:
        return "no answer"
    retry_after = response.headers.get("Retry-After")
    return f"HTTP {response.status}" + (f", Retry-After: {retry_after}" if retry_after else "")


def wait_seconds(retry: Retry, response: BaseHTTPResponse | None) -> float:
    """What urllib3's Retry.sleep will wait: a positive Retry-After when honoured, else the backoff."""
    if retry.respect_retry_after_header and response is not None:
        try:
            retry_after = retry.get_retry_after(response)
        except Urllib3Error:  # an unreadable Retry-After: sleep() raises it next, the wait is never reached
            retry_after = None
        if retry_after:
            return float(retry_after)
    return float(retry.get_backoff_time())
