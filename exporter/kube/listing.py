"""Listing one kind page by page, and fetching whole objects where a list leaves the report out.

Lists are cluster-wide (`/apis/<g>/<v>/<plural>`) unless namespaces are named: one request walks every
namespace, which is what a nightly dump wants and what the ClusterRole grants. Pages (`limit` + `continue`) bound
memory by the page size, not by the cluster.

Kubescape's storage is an aggregated API server whose lists return only metadata, unless asked with
`resourceVersion=fullSpec` (kubescape/storage `pkg/registry/file/storage.go`, `GetList`/`prepareGetList`). Its
pages are not a snapshot, so an object may appear twice across pages: callers de-duplicate by namespace/name.
Objects still missing their report (older storage, or a server that refuses fullSpec) are fetched one by one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from exporter.catalog import ReportKind
from exporter.errors import KubeError
from exporter.kube.api import ApiStatusError, KubeApi
from exporter.kube.shallow import ShallowObject, decode_page

FULL_SPEC = "fullSpec"


class ListExpiredError(Exception):
    """The API answered 410 Gone: the continue token expired and the list must start over."""


@dataclass(frozen=True)
class ListQuery:
    """One listing of one kind: where, how big the pages, and which labels."""

    kind: ReportKind
    page_size: int
    label_selector: str = ""
    namespace: str | None = None
    full_spec: bool = False


def collection_path(kind: ReportKind, namespace: str | None = None) -> str:
    if namespace and kind.namespaced:
        return f"/apis/{kind.group}/{kind.version}/namespaces/{namespace}/{kind.plural}"
    return f"/apis/{kind.group}/{kind.version}/{kind.plural}"


def object_path(kind: ReportKind, namespace: str | None, name: str) -> str:
    return f"{collection_path(kind, namespace if kind.namespaced else None)}/{name}"


def iter_pages(api: KubeApi, query: ListQuery) -> Iterator[list[Any]]:
    """The items of each page in turn, as ShallowObjects (or as served, when an item is not an object).

    Raises ListExpiredError on 410, ApiStatusError on other failures, KubeError on a body that is not a list.
    """
    path = collection_path(query.kind, query.namespace)
    token = ""
    while True:
        params = [("limit", str(query.page_size))] if query.kind.paged else []  # catalog.ReportKind.paged
        if query.label_selector:
            params.append(("labelSelector", query.label_selector))
        if query.full_spec:
            params.append(("resourceVersion", FULL_SPEC))
        if token:
            params.append(("continue", token))
        try:
            body = api.get_bytes(path, params)
        except ApiStatusError as exc:
            if exc.status == 410:
                raise ListExpiredError(exc.message) from None
            raise
        try:
            page = decode_page(body)
        except ValueError as exc:
            raise KubeError(f"the Kubernetes API at {api.server} answered GET {path} with no list ({exc})") from None
        yield page.items
        token = page.continue_token
        if not token:
            return


def refuses_full_spec(exc: ApiStatusError) -> bool:
    """Whether an error means "this server does not know resourceVersion=fullSpec" (a CRD, an old storage)."""
    return exc.status in (400, 422, 500) and "resource" in exc.message.lower() and "version" in exc.message.lower()


@dataclass(frozen=True)
class FilledPage:
    """A page with the reports fetched; `unfetched` says which objects are kept as listed, and why."""

    items: list[Any]
    unfetched: dict[int, ApiStatusError]  # index in `items` -> why its report could not be fetched


def fill_payloads(api: KubeApi, kind: ReportKind, items: Sequence[Any], *, concurrency: int) -> FilledPage:
    """Items with their report: those listed without it are fetched with a GET, a few at a time.

    Objects deleted between the list and the GET are dropped: they no longer exist in the cluster. An object whose
    GET the API refuses (403, a 5xx after retries) is kept as listed and named in `unfetched`, so one unreadable
    report neither hides the rest of its kind nor passes for a report without findings. A lost connection is a
    KubeError: the API is gone, not one object.
    """
    missing = [index for index, item in enumerate(items) if _lacks_payload(kind, item)]
    if not missing:
        return FilledPage(list(items), {})

    def fetch(index: int) -> ShallowObject | ApiStatusError | None:
        item = items[index]
        path = object_path(kind, item.namespace, item.name)
        try:
            return ShallowObject.decode(api.get_bytes(path))
        except ApiStatusError as exc:
            return None if exc.status == 404 else exc
        except ValueError:
            raise KubeError(f"the Kubernetes API at {api.server} answered GET {path} with no object") from None

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"get-{kind.plural}") as pool:
        fetched = dict(zip(missing, pool.map(fetch, missing), strict=True))
    filled: list[Any] = []
    unfetched: dict[int, ApiStatusError] = {}
    for index, item in enumerate(items):
        whole = fetched.get(index, item)
        if isinstance(whole, ApiStatusError):
            unfetched[len(filled)] = whole
            filled.append(item)
        elif whole is not None:
            filled.append(whole)
    return FilledPage(filled, unfetched)


def _lacks_payload(kind: ReportKind, item: Any) -> bool:
    if not isinstance(item, ShallowObject) or item.metadata is None or not item.name:
        return False
    if item.annotation("kubescape.io/status") == "too-large":
        return False  # stored without its report on purpose; a GET would return the same
    return not item.has_object(kind.payload_key)
