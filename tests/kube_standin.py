"""An in-process HTTP stand-in for the slice of kube-apiserver that report-exporter talks to.

The product reaches the cluster through the official ``kubernetes`` client's ``ApiClient`` with raw GETs,
so the only honest seam for unit tests is the wire: this module serves discovery, paged lists and single
GETs the way kube-apiserver v1.34 does, and can inject the failures a real cluster produces (throttling,
an expired continue token, RBAC denial, an aggregated server that omits ``spec`` from lists, a kind
failing half-way).

Every Status message below is copied from the upstream function that writes it; the source is named next
to it. What the stand-in deliberately does not do (watch, writes, ``resourceVersion`` semantics other than
continue) answers with an explicit error instead of a silent approximation.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from tests.loopback_http import TrackingHandler, TrackingServer

JsonObject = dict[str, Any]
ResourceRef = tuple[str, str] | str
"""A resource as ``(plural, group)``, ``"plural.group"`` or a plural that only one served group uses."""

KUBE_GIT_VERSION = "v1.34.3"
DEFAULT_USER = "system:serviceaccount:report-exporter:report-exporter"

# k8s.io/apiserver pkg/endpoints/filters/authentication.go: apierrors.NewUnauthorized("Unauthorized")
UNAUTHORIZED_MESSAGE = "Unauthorized"
# apimachinery pkg/api/errors NewGenericServerResponse(404): the body every unknown path gets
NOT_FOUND_MESSAGE = "the server could not find the requested resource"
# k8s.io/apiserver pkg/server/filters/maxinflight.go and priority-and-fairness.go: tooManyRequests()
TOO_MANY_REQUESTS_MESSAGE = "Too many requests, please try again later."
# k8s.io/apiserver request timeout: apierrors.NewTimeoutError(<this>, 0) prefixes "Timeout: "
TIMEOUT_MESSAGE = "Timeout: request did not complete within requested timeout - context deadline exceeded"
# k8s.io/apiserver pkg/storage/etcd3/errors.go: inconsistentContinue (410 with a fresh continue token)
INCONSISTENT_CONTINUE_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token in this response "
    "to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent "
    "list - objects that were created, modified, or deleted between the time the first chunk was returned "
    "and now may show up in the list."
)
# k8s.io/apiserver pkg/storage/continue.go: the token's JSON carries this version under "v"
CONTINUE_TOKEN_VERSION = "meta.k8s.io/v1"
INTERNAL_ERROR_CAUSE = "etcdserver: request timed out"
SERVICE_UNAVAILABLE_MESSAGE = "service unavailable"
# kubescape/storage softwarecomposition.ResourceVersionFullSpec: the list mode that returns whole objects
FULL_SPEC = "fullSpec"
# kubescape/storage pkg/registry/file/storage.go saveObject: the annotation only the listed metadata carries
SYNC_CHECKSUM_ANNOTATION = "kubescape.io/sync-checksum"
# What kubescape/storage v0.0.220 puts in a list item's `spec` without fullSpec: the Go zero value of the kind's
# spec type, encoded (its lists hold only the ObjectMeta kept in SQLite). Recorded from the real server by
# scripts/check_kubescape_storage.py (docs/kubescape-storage.md); other kinds get their own spec zeroed.
LISTED_ZERO_SPECS: dict[str, JsonObject] = {
    "vulnerabilitymanifests": {
        "metadata": {"withRelevancy": False, "tool": {"name": "", "version": "", "databaseVersion": ""},
                     "report": {"createdAt": None}},
        "payload": {"matches": None, "source": None, "distro": {"name": "", "version": "", "idLike": None},
                    "descriptor": {"name": "", "version": "", "configuration": None, "db": None}},
    },
    "vulnerabilitymanifestsummaries": {
        "severities": {level: {"all": 0} for level in ("critical", "high", "medium", "low", "negligible", "unknown")},
        "vulnerabilitiesRef": {scope: {"namespace": "", "name": "", "kind": ""} for scope in ("all", "relevant")},
    },
    "workloadconfigurationscans": {"controls": None, "relatedObjects": None},
    "workloadconfigurationscansummaries": {
        "severities": {"critical": 0, "high": 0, "medium": 0, "low": 0, "unknown": 0},
        "controls": None,
    },
    **{
        plural: {
            "metadata": {"tool": {"name": "", "version": ""}, "report": {"createdAt": None}},
            "syft": {"artifacts": None, "artifactRelationships": None,
                     "source": {"id": "", "name": "", "version": "", "type": "", "metadata": None},
                     "distro": {"idLike": [""]}, "descriptor": {"name": "", "version": "", "configuration": None},
                     "schema": {"version": "", "url": ""}},
        }
        for plural in ("sbomsyfts", "sbomsyftfiltereds")
    },
}  # fmt: skip

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass(frozen=True)
class ServedResource:
    """One resource as a CRD (or an aggregated API server) would serve it at one version.

    ``list_items_carry_type`` exists because the real server differs by implementation: custom resources are
    unstructured and every list item keeps ``apiVersion``/``kind``; typed servers (built-in kinds, aggregated
    servers built on k8s.io/apiserver with Go types) leave them out of list items. Default: CRD behaviour.
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = ("get", "list", "watch")
    short_names: tuple[str, ...] = ()
    list_items_carry_type: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``plural.group`` as schema.GroupResource.String() prints it in messages (bare plural for core)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


@dataclass(frozen=True)
class RecordedRequest:
    """What a test may assert about a request: the stand-in records every authenticated and refused one."""

    method: str
    path: str
    query: Mapping[str, str]
    status: int  # 0: the connection was reset instead of answered
    at: float = 0.0  # time.monotonic() when the request was answered, to measure waits between retries


class Fault:
    """A handle on one injected fault, so a test can lift it (``remove()``) or see whether it still fires."""

    def __init__(self, owner: KubeStandin, resource: tuple[str, str], times: int | None) -> None:
        self._owner = owner
        self.resource = resource
        self._remaining = times

    @property
    def active(self) -> bool:
        return self in self._owner._faults and (self._remaining is None or self._remaining > 0)

    def remove(self) -> None:
        self._owner._remove_fault(self)

    def _consume(self) -> None:
        if self._remaining is not None:
            self._remaining -= 1


class _StatusFault(Fault):
    def __init__(
        self,
        owner: KubeStandin,
        resource: tuple[str, str],
        times: int | None,
        *,
        status: int,
        retry_after: int | None,
        message: str | None,
        body: Literal["status", "text"],
        only_page: int | None,
        first_page: int | None,
    ) -> None:
        super().__init__(owner, resource, times)
        self.status, self.retry_after, self.message, self.body = status, retry_after, message, body
        self.only_page, self.first_page = only_page, first_page

    def matches(self, call: _Call) -> bool:
        if self.only_page is None and self.first_page is None:
            return True
        if call.verb != "list" or call.page is None:
            return False
        if self.only_page is not None:
            return call.page == self.only_page
        return call.page >= (self.first_page or 1)


class _ExpireFault(Fault):
    pass


class _ResetFault(Fault):
    """Reset the connection instead of answering continue pages (page 2 on) of one resource's lists."""

    def matches(self, call: _Call) -> bool:
        return call.verb == "list" and bool(call.query.get("continue"))


class _Forbid(Fault):
    def __init__(
        self,
        owner: KubeStandin,
        resource: tuple[str, str],
        verb: str,
        allowed: frozenset[str],
    ) -> None:
        super().__init__(owner, resource, None)
        self.verb, self.allowed_namespaces = verb, allowed


class _StripSpec(Fault):
    def __init__(self, owner: KubeStandin, resource: tuple[str, str], *, honour_full_spec: bool) -> None:
        super().__init__(owner, resource, None)
        self.honour_full_spec = honour_full_spec


class _DropContinue(Fault):
    pass


@dataclass(frozen=True)
class _Call:
    resource: ServedResource
    verb: str
    namespace: str
    name: str
    query: Mapping[str, str]
    page: int | None


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


class _BadRequestError(Exception):
    pass


_RESET = _Reply(0, b"")
"""Not an answer: the handler resets the connection (``KubeStandin.reset_continue``)."""


class KubeStandin:
    """A running stand-in kube-apiserver on 127.0.0.1 (plain http): construct it, use ``url``, ``close()`` it.

    State is guarded by one lock and every request is answered under it, so tests may add objects, inject
    faults and read ``requests`` from any thread while clients are paging.
    """

    def __init__(
        self, resources: Iterable[ServedResource] = (), *, token: str = "test-token", user: str = DEFAULT_USER
    ) -> None:
        self._resources = tuple(resources)
        self._token, self._user = token, user
        self._lock = threading.RLock()
        self._revision = 1
        self._history: dict[tuple[str, str], list[tuple[int, dict[str, JsonObject]]]] = {
            (r.group, r.plural): [(0, {})] for r in self._resources
        }
        self._faults: list[Fault] = []
        self._token_pages: dict[str, int] = {}
        self._requests: list[RecordedRequest] = []
        self._server = _Server(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="kube-standin",
            daemon=True,
        )
        self._thread.start()

    def __enter__(self) -> KubeStandin:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, cut kept-alive client connections (so no handler thread lingers) and join."""
        if not self._thread.is_alive():
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def add_objects(self, plural_group: ResourceRef, objects: Iterable[JsonObject]) -> None:
        """Store objects as given (deep-copied); each object is one write, as in etcd, and bumps the revision.

        Like etcd's MVCC, the previous contents stay readable at their revision, so a continue token keeps
        paging through the list as it was when its first page was served.
        """
        resource = self._resolve(plural_group)
        with self._lock:
            history = self._history[(resource.group, resource.plural)]
            contents = dict(history[-1][1])
            for obj in objects:
                contents[_object_key(obj, resource)] = copy.deepcopy(obj)
                self._revision += 1
            history.append((self._revision, contents))

    def write_kubeconfig(
        self,
        path: str | Path,
        *,
        token: str | None = None,
        context: str = "standin",
    ) -> Path:
        """Write a kubeconfig (JSON is valid YAML) that points the kubernetes client at this stand-in."""
        target = Path(path)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": context,
            "preferences": {},
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": self._token if token is None else token}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        }
        target.write_text(json.dumps(config, indent=2), encoding="utf-8")
        return target

    def fail(
        self,
        plural: ResourceRef,
        status: int,
        *,
        times: int = 1,
        retry_after: int | None = None,
        on_page: int | None = None,
        message: str | None = None,
        body: Literal["status", "text"] = "status",
    ) -> Fault:
        """Answer the next ``times`` requests for this resource (or list page ``on_page``) with ``status``.

        ``body="text"`` sends what the real server sends where a filter, not a handler, refuses: a 429 from
        priority-and-fairness or max-in-flight is ``text/plain`` with ``Retry-After``, not a Status. The real
        server always sets ``Retry-After`` on such a 429; pass ``retry_after`` to do the same.
        """
        fault = _StatusFault(
            self,
            self._key(plural),
            times,
            status=status,
            retry_after=retry_after,
            message=message,
            body=body,
            only_page=on_page,
            first_page=None,
        )
        return self._add_fault(fault)

    def fail_after_pages(
        self, plural: ResourceRef, pages: int, status: int = 500, *, times: int | None = None
    ) -> Fault:
        """Let the first ``pages`` list pages through and fail every later one (``times`` of them, or all)."""
        fault = _StatusFault(
            self,
            self._key(plural),
            times,
            status=status,
            retry_after=None,
            message=None,
            body="status",
            only_page=None,
            first_page=pages + 1,
        )
        return self._add_fault(fault)

    def reset_continue(self, plural: ResourceRef, *, times: int | None = None) -> Fault:
        """Reset the TCP connection (RST, no HTTP answer) on list requests carrying a continue token, ``times`` of
        them or all: a proxy or load balancer that drops long-lived list connections of one kind. Its first pages and
        every other resource are served as usual."""
        return self._add_fault(_ResetFault(self, self._key(plural), times))

    def expire_continue(self, plural: ResourceRef, *, times: int = 1) -> Fault:
        """Answer the next request carrying a continue token with 410 Expired, as after an etcd compaction."""
        return self._add_fault(_ExpireFault(self, self._key(plural), times))

    def forbid(
        self,
        plural: ResourceRef,
        verb: str = "list",
        *,
        allowed_namespaces: Iterable[str] = (),
    ) -> Fault:
        """Deny ``verb`` as RBAC would; ``allowed_namespaces`` model RoleBindings granting it there."""
        return self._add_fault(_Forbid(self, self._key(plural), verb, frozenset(allowed_namespaces)))

    def drop_continue_token(self, plural: ResourceRef) -> Fault:
        """Cut a list at its ``limit`` without a continue token: the list looks whole and is not.

        kubescape/storage before v0.0.289 serves its computed per-namespace summaries (VulnerabilitySummary,
        ConfigurationScanSummary) this way: ``GetList`` applies the caller's ``limit`` to the per-workload summaries
        it aggregates and drops their continue token (docs/kubescape-storage.md, seen on v0.0.220).
        """
        return self._add_fault(_DropContinue(self, self._key(plural), None))

    def strip_spec_in_list(self, plural: ResourceRef, *, honour_full_spec: bool = True) -> Fault:
        """Serve this resource as kubescape's aggregated storage does: lists leave the report out, a GET is whole.

        kubescape/storage ``pkg/registry/file/storage.go`` (``GetListWithConn``) lists the metadata it keeps in
        SQLite, so each item's ``spec`` is there but holds the Go zero value of its type (``LISTED_ZERO_SPECS``:
        zeros, empty strings, nulls; not absent), and its annotations gain ``kubescape.io/sync-checksum``, which a
        GET does not show. Lists carrying ``resourceVersion=fullSpec`` return whole objects, on every page,
        continue token or not; ``honour_full_spec=False`` models an older storage that ignores it. Its list
        metadata has neither ``resourceVersion`` nor ``remainingItemCount``, and every full page has a continue
        token, the last one too (the next page is then empty). Seen on the real server (v0.0.220) behind
        kube-apiserver by scripts/check_kubescape_storage.py.
        """
        return self._add_fault(_StripSpec(self, self._key(plural), honour_full_spec=honour_full_spec))

    def clear_faults(self, plural: ResourceRef | None = None) -> None:
        with self._lock:
            key = None if plural is None else self._key(plural)
            self._faults = [f for f in self._faults if key is not None and f.resource != key]

    def _add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def _remove_fault(self, fault: Fault) -> None:
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)

    def _key(self, ref: ResourceRef) -> tuple[str, str]:
        resource = self._resolve(ref)
        return resource.group, resource.plural

    def _resolve(self, ref: ResourceRef) -> ServedResource:
        if isinstance(ref, tuple):
            found = [r for r in self._resources if (r.plural, r.group) == ref]
        else:
            found = [r for r in self._resources if ref in (r.plural, r.qualified)]
        if len({(r.group, r.plural) for r in found}) != 1:
            raise ValueError(f"{ref!r} names {'no' if not found else 'more than one'} served resource")
        return found[0]

    def _handle(self, method: str, target: str, authorization: str) -> _Reply:
        split = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        with self._lock:
            # Any exception here is a stand-in bug: answer it as a 500 rather than dropping the connection.
            try:
                reply = self._respond(split.path, query, authorization)
            except Exception as error:
                reply = _status_reply(500, f"Internal error occurred: {error}", causes=str(error))
            self._requests.append(RecordedRequest(method, split.path, query, reply.status, time.monotonic()))
        return reply

    def _respond(self, path: str, query: Mapping[str, str], authorization: str) -> _Reply:
        if authorization != f"Bearer {self._token}":
            return _status_reply(401, UNAUTHORIZED_MESSAGE)
        parts = [p for p in path.split("/") if p]
        if parts in (["version"], ["api"], ["apis"]):
            return _json_reply(self._discovery_root(parts[0]))
        if len(parts) == 2 and parts[0] == "apis":
            group_doc = self._group_document(parts[1])
            return _json_reply(group_doc) if group_doc else _not_found()
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return _not_found()
        served = {r.plural: r for r in self._resources if (r.group, r.version) == (group, version)}
        if not served and not (group == "" and version == "v1"):
            return _not_found()
        if not rest:
            return _json_reply(_resource_list(group, version, served.values()))
        call = _route(served, rest, query)
        if call is None:
            return _not_found()
        if call.verb == "list":
            token = query.get("continue", "")
            page = self._token_pages.get(token) if token else 1
            call = _Call(call.resource, "list", call.namespace, "", query, page)
        return self._serve(call)

    def _discovery_root(self, which: str) -> JsonObject:
        if which == "version":
            return _version_document()
        if which == "api":
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": self.url.removeprefix("http://")}
                ],
            }
        groups = sorted({r.group for r in self._resources if r.group})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self._group_entry(g) for g in groups]}

    def _group_document(self, group: str) -> JsonObject | None:
        if not any(r.group == group for r in self._resources if r.group):
            return None
        return {"kind": "APIGroup", "apiVersion": "v1", **self._group_entry(group)}

    def _group_entry(self, group: str) -> JsonObject:
        versions = _by_kube_priority({r.version for r in self._resources if r.group == group})
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": entries, "preferredVersion": entries[0]}

    def _serve(self, call: _Call) -> _Reply:
        resource = call.resource
        key = (resource.group, resource.plural)
        if call.verb not in resource.verbs:
            return _status_reply(
                405,
                f'{call.verb} is not supported on resources of kind "{resource.qualified}"',
                group=resource.group,
                kind=resource.plural,
            )
        for fault in self._active(key, _Forbid):
            if fault.verb == call.verb and call.namespace not in fault.allowed_namespaces:
                return _forbidden(resource, call, self._user)
        if call.verb == "watch":
            return _status_reply(400, "watch is not served by the kube stand-in")
        for fault in self._active(key, _StatusFault):
            if fault.matches(call):
                fault._consume()
                return _injected(fault)
        for fault in self._active(key, _ResetFault):
            if fault.matches(call):
                fault._consume()
                return _RESET
        if call.verb == "get":
            return self._get(call)
        if call.query.get("continue"):
            for fault in self._active(key, _ExpireFault):
                fault._consume()
                return self._expired(call)
        try:
            aggregated = self._active(key, _StripSpec)
            full_spec = call.query.get("resourceVersion") == FULL_SPEC
            strip = any(not (full_spec and fault.honour_full_spec) for fault in aggregated)
            reply = self._list(call, strip_spec=strip, aggregated=bool(aggregated))
            return self._without_continue(reply) if self._active(key, _DropContinue) else reply
        except _BadRequestError as error:
            return _status_reply(400, str(error))

    @staticmethod
    def _without_continue(reply: _Reply) -> _Reply:
        body = json.loads(reply.body)
        body.get("metadata", {}).pop("continue", None)
        body.get("metadata", {}).pop("remainingItemCount", None)
        return replace(reply, body=json.dumps(body).encode())

    def _active(self, key: tuple[str, str], kind: type[Any]) -> list[Any]:
        return [f for f in self._faults if isinstance(f, kind) and f.resource == key and f.active]

    def _get(self, call: _Call) -> _Reply:
        resource = call.resource
        key = f"{call.namespace}/{call.name}" if resource.namespaced else call.name
        obj = self._history[(resource.group, resource.plural)][-1][1].get(key)
        if obj is None:
            return _status_reply(
                404,
                f'{resource.qualified} "{call.name}" not found',
                name=call.name,
                group=resource.group,
                kind=resource.plural,
            )
        return _json_reply(
            {**obj, "apiVersion": resource.api_version, "kind": resource.kind},
            sort_keys=resource.list_items_carry_type,
        )

    def _list(self, call: _Call, *, strip_spec: bool, aggregated: bool = False) -> _Reply:
        resource, query = call.resource, call.query
        matches = _selector(query.get("labelSelector", ""), query.get("fieldSelector", ""), resource)
        limit = _limit(query.get("limit", ""))
        prefix = f"{call.namespace}/" if call.namespace else ""
        start, revision = prefix, self._revision
        requested = query.get("resourceVersion", "")
        if requested and not aggregated and not requested.isdigit():
            # apiserver pkg/storage/etcd3 ParseResourceVersion, wrapped by storage.ValidateListOptions
            raise _BadRequestError(
                f'invalid resource version: resourceVersion: Invalid value: "{requested}": '
                f'strconv.ParseUint: parsing "{requested}": invalid syntax'
            )
        if query.get("continue"):
            if query.get("resourceVersion", "") not in ("", "0") and not aggregated:
                raise _BadRequestError("specifying resource version is not allowed when using continue")
            relative_start, token_revision = _decode_continue(query["continue"])
            start = prefix + relative_start
            revision = token_revision if token_revision > 0 else self._revision
        contents = _at_revision(self._history[(resource.group, resource.plural)], revision)
        in_range = (k for k in sorted(contents) if k.startswith(prefix) and k >= start)
        selected = [k for k in in_range if matches(contents[k])]
        page = selected[:limit] if limit else selected
        # kubescape/storage's lists (GetListWithConn) carry no resourceVersion nor remainingItemCount, and a
        # continue token whenever a page is full, so a list that ends on a full page ends with an empty one.
        metadata: JsonObject = {} if aggregated else {"resourceVersion": str(revision)}
        if len(page) < len(selected) or (aggregated and page and len(page) == limit):
            token = _encode_continue(page[-1][len(prefix) :] + "\x00", revision)
            metadata["continue"] = token
            if not aggregated and not query.get("labelSelector") and not query.get("fieldSelector"):
                metadata["remainingItemCount"] = len(selected) - len(page)
            if call.page is not None:
                self._token_pages[token] = call.page + 1
        items = [_list_item(contents[k], resource, strip_spec=strip_spec) for k in page]
        body = {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.api_version,
            "metadata": metadata,
            "items": items,
        }
        return _json_reply(body, sort_keys=resource.list_items_carry_type)

    def _expired(self, call: _Call) -> _Reply:
        """410 as etcd3's handleCompactedErrorForPaging writes it, with a token at revision -1 (latest)."""
        try:
            relative_start, _ = _decode_continue(call.query["continue"])
        except _BadRequestError as error:
            return _status_reply(400, str(error))
        token = _encode_continue(relative_start, -1)
        if call.page is not None:
            self._token_pages[token] = call.page
        return _status_reply(410, INCONSISTENT_CONTINUE_MESSAGE, continue_token=token)


class StandinFactory:
    """Makes stand-ins for one test and closes every one afterwards: what a pytest fixture yields."""

    def __init__(self) -> None:
        self._made: list[KubeStandin] = []

    def __call__(
        self, resources: Iterable[ServedResource] = (), *, token: str = "test-token", user: str = DEFAULT_USER
    ) -> KubeStandin:
        standin = KubeStandin(resources, token=token, user=user)
        self._made.append(standin)
        return standin

    def close_all(self) -> None:
        for standin in self._made:
            standin.close()
        self._made.clear()


class _Server(TrackingServer):
    def __init__(self, standin: KubeStandin) -> None:
        self.standin = standin
        super().__init__(0, _Handler)


class _Handler(TrackingHandler):
    server: _Server

    def do_GET(self) -> None:
        reply = self.server.standin._handle("GET", self.path, self.headers.get("Authorization", ""))
        if reply is _RESET:
            # SO_LINGER with a zero timeout makes close() send RST: the client reads ECONNRESET, not an answer
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Audit-Id", str(uuid.uuid4()))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, message_format: str, *args: Any) -> None:
        """Silent: tests assert on ``KubeStandin.requests``, not on stderr."""


def _route(served: Mapping[str, ServedResource], rest: list[str], query: Mapping[str, str]) -> _Call | None:
    if len(rest) in (1, 2):
        namespace, plural, name = "", rest[0], rest[1] if len(rest) == 2 else ""
    elif len(rest) in (3, 4) and rest[0] == "namespaces":
        namespace, plural, name = rest[1], rest[2], rest[3] if len(rest) == 4 else ""
    else:
        return None
    resource = served.get(plural)
    if resource is None or (bool(namespace) != resource.namespaced and (namespace or name)):
        return None
    verb = "get" if name else "watch" if query.get("watch") in ("true", "1") else "list"
    return _Call(resource, verb, namespace, name, query, None)


def _object_key(obj: JsonObject, resource: ServedResource) -> str:
    """The etcd key below the resource prefix: ``namespace/name`` or ``name``; lists are ordered by it."""
    metadata = obj.get("metadata") or {}
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not name:
        raise ValueError(f"{resource.qualified} object without metadata.name: {obj!r}")
    if resource.namespaced != bool(namespace):
        scope = "needs" if resource.namespaced else "must not have"
        raise ValueError(f"{resource.qualified} {name!r} {scope} metadata.namespace")
    return f"{namespace}/{name}" if namespace else str(name)


def _at_revision(history: list[tuple[int, dict[str, JsonObject]]], revision: int) -> dict[str, JsonObject]:
    return next(contents for rev, contents in reversed(history) if rev <= revision)


def _list_item(obj: JsonObject, resource: ServedResource, *, strip_spec: bool) -> JsonObject:
    item = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    if strip_spec:
        metadata = dict(item.get("metadata") or {})
        checksum = hashlib.sha256(json.dumps(obj.get("spec"), sort_keys=True).encode()).hexdigest()
        metadata["annotations"] = {**(metadata.get("annotations") or {}), SYNC_CHECKSUM_ANNOTATION: checksum}
        zero = LISTED_ZERO_SPECS.get(resource.plural)
        item.update(metadata=metadata, spec=copy.deepcopy(zero) if zero is not None else _zeroed(obj.get("spec")))
    if resource.list_items_carry_type:
        item.update(apiVersion=resource.api_version, kind=resource.kind)
    return item


def _zeroed(value: Any) -> Any:
    """A value of the same shape with every leaf zeroed, as Go encodes a zero struct: lists become null."""
    if isinstance(value, dict):
        return {key: _zeroed(inner) for key, inner in value.items()}
    if isinstance(value, list) or value is None:
        return None
    return type(value)()


def _limit(raw: str) -> int:
    if not raw:
        return 0
    try:
        return max(int(raw), 0)
    except ValueError:
        raise _BadRequestError(f'invalid limit "{raw}"') from None


def _encode_continue(start: str, revision: int) -> str:
    """k8s.io/apiserver storage.EncodeContinue: unpadded URL-safe base64 of {"v","rv","start"} JSON."""
    raw = json.dumps({"v": CONTINUE_TOKEN_VERSION, "rv": revision, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[str, int]:
    """storage.DecodeContinue's checks, worded "invalid continue token: continue key is not valid: ..."."""
    prefix, version = "invalid continue token: continue key is not valid", CONTINUE_TOKEN_VERSION
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise _BadRequestError(f"{prefix}: {error}") from None
    if not isinstance(decoded, dict) or decoded.get("v") != CONTINUE_TOKEN_VERSION:
        found = decoded.get("v") if isinstance(decoded, dict) else None
        raise _BadRequestError(f"{prefix}: server does not recognize this encoded version {found!r}")
    if not isinstance(decoded.get("rv"), int) or decoded["rv"] == 0:
        raise _BadRequestError(f"{prefix}: incorrect encoded start resourceVersion (version {version})")
    if not decoded.get("start"):
        raise _BadRequestError(f"{prefix}: encoded start key empty (version {version})")
    return str(decoded["start"]), decoded["rv"]


_LABEL_TERM = re.compile(
    r"^(?:(?P<absent>!)\s*(?P<akey>[\w./-]+)|(?P<key>[\w./-]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[\w.-]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<values>[^()]*)\))?)$"
)
_FIELD_TERM = re.compile(r"^(?P<field>[\w.]+)\s*(?P<op>==|=|!=)\s*(?P<value>[^,]*)$")


def _selector(
    label_selector: str,
    field_selector: str,
    resource: ServedResource,
) -> Callable[[JsonObject], bool]:
    """Label (equality and set-based) and field selectors, ANDed; a CR supports only metadata fields."""
    tests = [_label_test(term) for term in _terms(label_selector)]
    tests += [_field_test(term, resource) for term in _terms(field_selector)]
    return lambda obj: all(test(obj) for test in tests)


def _terms(selector: str) -> list[str]:
    return [t.strip() for t in re.split(r",(?![^()]*\))", selector) if t.strip()]


def _label_test(term: str) -> Callable[[JsonObject], bool]:
    match = _LABEL_TERM.match(term)
    if match is None:
        raise _BadRequestError(f"unable to parse requirement: {term!r}")

    def labels(obj: JsonObject) -> Mapping[str, str]:
        return (obj.get("metadata") or {}).get("labels") or {}

    if match["absent"]:
        return lambda obj: match["akey"] not in labels(obj)
    key = match["key"]
    if match["setop"]:
        values = {v.strip() for v in match["values"].split(",")}
        if match["setop"] == "in":
            return lambda obj: key in labels(obj) and labels(obj)[key] in values
        return lambda obj: labels(obj).get(key) not in values
    if match["op"] == "!=":
        return lambda obj: labels(obj).get(key) != match["value"]
    if match["op"]:
        return lambda obj: labels(obj).get(key) == match["value"]
    return lambda obj: key in labels(obj)


def _field_test(term: str, resource: ServedResource) -> Callable[[JsonObject], bool]:
    match = _FIELD_TERM.match(term)
    if match is None:
        raise _BadRequestError(f"invalid field selector: {term!r}")
    field = match["field"]
    if field not in ("metadata.name", "metadata.namespace") or (
        field == "metadata.namespace" and not resource.namespaced
    ):
        raise _BadRequestError(f"field label not supported: {field}")
    attribute, negate = field.removeprefix("metadata."), match["op"] == "!="
    return lambda obj: ((obj.get("metadata") or {}).get(attribute, "") == match["value"]) != negate


def _by_kube_priority(versions: Iterable[str]) -> list[str]:
    """The order of apimachinery's version.CompareKubeAwareVersionStrings: GA, beta, alpha, then others."""
    kube, other = [], []
    for version in versions:
        match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
        if match:
            stage = {"alpha": 0, "beta": 1}.get(match[2] or "", 2)
            kube.append(((stage, int(match[1]), int(match[3] or 0)), version))
        else:
            other.append(version)
    return [v for _, v in sorted(kube, reverse=True)] + sorted(other)


def _resource_list(group: str, version: str, resources: Iterable[ServedResource]) -> JsonObject:
    entries = []
    for r in resources:
        entry: JsonObject = {
            "name": r.plural,
            "singularName": r.kind.lower(),
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": list(r.verbs),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        entries.append(entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": entries,
    }


def _version_document() -> JsonObject:
    """/version as v1.34 prints it; the version fields are meaningful, the build fields placeholders."""
    return {
        "major": "1",
        "minor": "34",
        "emulationMajor": "1",
        "emulationMinor": "34",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "33",
        "gitVersion": KUBE_GIT_VERSION,
        "gitCommit": "0" * 40,
        "gitTreeState": "clean",
        "buildDate": "2025-12-01T00:00:00Z",
        "goVersion": "go1.24.11",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def _forbidden(resource: ServedResource, call: _Call, user: str) -> _Reply:
    """apiserver responsewriters.Forbidden: forbiddenMessage(attributes) wrapped by apierrors.NewForbidden."""
    scope = f'in the namespace "{call.namespace}"' if call.namespace else "at the cluster scope"
    who = f'User "{user}" cannot {call.verb} resource "{resource.plural}"'
    reason = f'{who} in API group "{resource.group}" {scope}'
    subject = f'{resource.qualified} "{call.name}"' if call.name else resource.qualified
    return _status_reply(
        403, f"{subject} is forbidden: {reason}", name=call.name, group=resource.group, kind=resource.plural
    )


def _injected(fault: _StatusFault) -> _Reply:
    code = fault.status
    retry = (("Retry-After", str(fault.retry_after)),) if fault.retry_after is not None else ()
    if code == 500:
        cause = fault.message or INTERNAL_ERROR_CAUSE
        message = f"Internal error occurred: {cause}"
    else:
        default = {429: TOO_MANY_REQUESTS_MESSAGE, 503: SERVICE_UNAVAILABLE_MESSAGE, 504: TIMEOUT_MESSAGE}
        cause, message = "", fault.message or default.get(code, HTTPStatus(code).phrase)
    if fault.body == "text":
        return _Reply(
            code,
            f"{message}\n".encode(),
            "text/plain; charset=utf-8",
            (("X-Content-Type-Options", "nosniff"), *retry),
        )
    reply = _status_reply(
        code,
        message,
        causes=cause,
        retry_after=fault.retry_after,
        empty_details=code in (429, 504),
    )
    return _Reply(reply.status, reply.body, reply.content_type, retry)


def _not_found() -> _Reply:
    return _status_reply(404, NOT_FOUND_MESSAGE, empty_details=True)


def _status_reply(
    code: int,
    message: str,
    *,
    name: str = "",
    group: str = "",
    kind: str = "",
    causes: str = "",
    retry_after: int | None = None,
    continue_token: str = "",
    empty_details: bool = False,
) -> _Reply:
    """A metav1.Status in the field order the apiserver's JSON serializer writes, empty fields omitted."""
    details: JsonObject = {k: v for k, v in (("name", name), ("group", group), ("kind", kind)) if v}
    if causes:
        details["causes"] = [{"message": causes}]
    if retry_after:
        details["retryAfterSeconds"] = retry_after
    body: JsonObject = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {"continue": continue_token} if continue_token else {},
        "status": "Failure",
        "message": message,
        "reason": _REASONS.get(code, "Unknown"),
    }
    if details or empty_details:
        body["details"] = details
    body["code"] = code
    return _json_reply(body, status=code)


def _json_reply(body: JsonObject, *, status: int = 200, sort_keys: bool = False) -> _Reply:
    """JSON plus newline as the apiserver's encoder writes it; unstructured (CR) bodies have sorted keys."""
    return _Reply(status, (json.dumps(body, sort_keys=sort_keys, separators=(",", ":")) + "\n").encode())
