"""A thin, raw JSON client over the official kubernetes client's connection handling.

The kubernetes package does what is hard to get right (kubeconfig, contexts, exec and token plugins, in-cluster
service account, TLS); its typed models are skipped: pages are fetched raw (`_preload_content=False`) and parsed
with `json`, which keeps a page of large custom resources cheap and avoids the models' dict conversions.

Retries of 429 (honouring Retry-After), 5xx and connection errors are urllib3's `Retry`, installed in the
client's pool manager, not a loop of our own. Each retry is logged as a warning (exporter/retries.py), which the CLI
shows as a log line: an unreachable API is a line per attempt, not half a minute of silence before the error.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from exporter.config import KubeSettings
from exporter.errors import ConfigError, KubeError
from exporter.redact import redact_url, redact_urls
from exporter.retries import ReportedRetry

RETRY_STATUSES = (429, 500, 502, 503, 504)
BACKOFF_MAX_SECONDS = 30.0


@dataclass
class ApiStatusError(Exception):
    """A non-2xx answer after retries, with the fields of the API's Status object."""

    status: int
    reason: str
    message: str
    path: str

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.reason} on GET {self.path}: {self.message}"


class KubeApi:
    """GETs JSON documents from one API server."""

    def __init__(self, api_client: k8s_client.ApiClient, *, timeout: float) -> None:
        self._client = api_client
        self._timeout = timeout

    @property
    def server(self) -> str:
        """The API server's URL as messages and the manifest show it: a kubeconfig's userinfo without password."""
        return redact_url(str(self._client.configuration.host))

    def get_json(self, path: str, query: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
        """GET `path` and parse the body; raises ApiStatusError or KubeError (unreachable)."""
        return self._parse("GET", path, self._call("GET", path, query=query))

    def get_bytes(self, path: str, query: Sequence[tuple[str, str]] = ()) -> bytes:
        """GET `path` and return the body unparsed (list pages: exporter/kube/shallow.py decodes them)."""
        return self._call("GET", path, query=query)

    def post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a JSON document (reviews only: the exporter writes nothing else to the API)."""
        return self._parse("POST", path, self._call("POST", path, body=body))

    def _call(
        self, method: str, path: str, *, query: Sequence[tuple[str, str]] = (), body: dict[str, Any] | None = None
    ) -> bytes:
        try:
            response = self._client.call_api(
                path,
                method,
                query_params=list(query),
                header_params={"Accept": "application/json", "Content-Type": "application/json"},
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _return_http_data_only=True,
                _request_timeout=self._timeout,
            )
            raw: bytes = response.data
        except ApiException as exc:
            if exc.status == 0:  # the client's wrapper for TLS errors
                raise KubeError(f"TLS error talking to the Kubernetes API at {self.server}: {exc.reason}") from None
            raise _status_error(exc, path) from None
        except urllib3.exceptions.HTTPError as exc:
            raise KubeError(
                f"cannot reach the Kubernetes API at {self.server} ({_root_cause(exc)}); "
                "check the kubeconfig/context, the network policy and that the API server is up"
            ) from None
        return raw

    def _parse(self, method: str, path: str, raw: bytes) -> dict[str, Any]:
        try:
            document = parse_json(raw)
        except ValueError:
            raise KubeError(f"the Kubernetes API at {self.server} answered {method} {path} with non-JSON") from None
        if not isinstance(document, dict):
            raise KubeError(f"the Kubernetes API at {self.server} answered {method} {path} with a non-object")
        return document

    def close(self) -> None:
        self._client.close()


def connect(settings: KubeSettings) -> KubeApi:
    """An API client in-cluster (service account) or from a kubeconfig and context, with retries installed."""
    configuration = k8s_client.Configuration()
    try:
        if _use_in_cluster(settings):
            k8s_config.load_incluster_config(client_configuration=configuration)
        else:
            _check_kubeconfig(settings)
            k8s_config.load_kube_config(
                config_file=str(settings.kubeconfig) if settings.kubeconfig else None,
                context=settings.context,
                client_configuration=configuration,
                persist_config=False,
            )
    except (ConfigException, OSError, TypeError) as exc:
        raise KubeError(
            f"cannot load Kubernetes credentials: {_one_line(str(exc))}; set KUBECONFIG or kube.kubeconfig "
            "(and kube.context), or run in a pod with a service account"
        ) from None
    configuration.retries = _KubeRetry(
        total=settings.retries,
        connect=settings.retries,
        read=settings.retries,
        status=settings.retries,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        backoff_factor=settings.backoff_factor,
        backoff_max=BACKOFF_MAX_SECONDS,
        backoff_jitter=0.2 if settings.backoff_factor else 0.0,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    configuration.connection_pool_maxsize = max(4, settings.fetch_concurrency + 1)
    return KubeApi(k8s_client.ApiClient(configuration), timeout=settings.request_timeout)


_log = logging.getLogger(__name__)


class _KubeRetry(ReportedRetry):
    """Each retry of a Kubernetes API call, a warning line (event `kube_retry`)."""

    server_name, event, logger = "Kubernetes API", "kube_retry", _log

    def error_cause(self, error: Exception) -> str:
        return _root_cause(error)


def _check_kubeconfig(settings: KubeSettings) -> None:
    """A ConfigError naming a kubeconfig that is not there, and which setting named it: the kubernetes client
    would only say "Invalid kube-config file. No configuration found." As kubectl does, a list of files
    (`KUBECONFIG=a:b`) is fine as long as one of them exists."""
    if settings.kubeconfig is None:
        return
    paths = [Path(part) for part in str(settings.kubeconfig).split(os.pathsep) if part]
    if any(path.is_file() for path in paths):
        return
    origin = settings.origin("kubeconfig")
    named_by = {"command line": "--kubeconfig"}.get(origin, origin)
    if origin.startswith("config file"):
        named_by = f"kube.kubeconfig in {origin}"
    problem = "is not a file" if any(path.exists() for path in paths) else "does not exist"
    raise ConfigError(
        f"kubeconfig {settings.kubeconfig} (from {named_by}) {problem}; point --kubeconfig, KUBECONFIG or "
        "kube.kubeconfig at a kubeconfig file, or unset them to use ~/.kube/config or the pod's service account"
    )


def parse_json(body: bytes) -> Any:
    """orjson parses several times faster than json; json still takes what orjson refuses (integers > 64 bit)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def _use_in_cluster(settings: KubeSettings) -> bool:
    if settings.in_cluster is not None:
        return settings.in_cluster
    if settings.kubeconfig or settings.context:
        return False
    token = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and token.is_file()


def _status_error(exc: ApiException, path: str) -> ApiStatusError:
    """The Status object's message when the API sent one, else the HTTP reason and start of the body."""
    reason = str(exc.reason or "")
    message = ""
    body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else str(exc.body or "")
    try:
        status = json.loads(body)
        if isinstance(status, dict):
            message = str(status.get("message") or "")
            reason = str(status.get("reason") or reason)
    except ValueError:
        message = _one_line(body)[:200]
    return ApiStatusError(int(exc.status or 0), reason, message, path)


def _root_cause(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return _one_line(str(reason if reason is not None else exc))


def _one_line(text: str) -> str:
    return " ".join(redact_urls(text).split())
