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

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from exporter.catalog import ReportKind
from exporter.kube.api import ApiStatusError, KubeApi

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


def iter_pages(api: KubeApi, query: ListQuery) -> Iterator[list[dict[str, Any]]]:
    """The items of each page in turn; raises ListExpiredError on 410, ApiStatusError on other failures."""
    path = collection_path(query.kind, query.namespace)
    token = ""
    while True:
        params = [("limit", str(query.page_size))]
        if query.label_selector:
            params.append(("labelSelector", query.label_selector))
        if query.full_spec:
            params.append(("resourceVersion", FULL_SPEC))
        if token:
            params.append(("continue", token))
        try:
            page = api.get_json(path, params)
        except ApiStatusError as exc:
            if exc.status == 410:
                raise ListExpiredError(exc.message) from None
            raise
        yield list(page.get("items") or [])
        token = str((page.get("metadata") or {}).get("continue") or "")
        if not token:
            return


def refuses_full_spec(exc: ApiStatusError) -> bool:
    """Whether an error means "this server does not know resourceVersion=fullSpec" (a CRD, an old storage)."""
    return exc.status in (400, 422, 500) and "resource" in exc.message.lower() and "version" in exc.message.lower()


def fill_payloads(
    api: KubeApi, kind: ReportKind, items: Sequence[dict[str, Any]], *, concurrency: int
) -> list[dict[str, Any]]:
    """Items with their report: those listed without it are fetched with a GET, a few at a time.

    Objects deleted between the list and the GET are dropped: they no longer exist in the cluster.
    """
    missing = [index for index, item in enumerate(items) if _lacks_payload(kind, item)]
    if not missing:
        return list(items)

    def fetch(index: int) -> dict[str, Any] | None:
        metadata = items[index].get("metadata") or {}
        try:
            return api.get_json(object_path(kind, metadata.get("namespace"), str(metadata.get("name"))))
        except ApiStatusError as exc:
            if exc.status == 404:
                return None
            raise

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"get-{kind.plural}") as pool:
        fetched = dict(zip(missing, pool.map(fetch, missing), strict=True))
    filled = []
    for index, item in enumerate(items):
        if index not in fetched:
            filled.append(item)
        elif (whole := fetched[index]) is not None:
            filled.append(whole)
    return filled


def _lacks_payload(kind: ReportKind, item: Mapping[str, Any]) -> bool:
    if not isinstance(item, Mapping) or not isinstance(item.get("metadata"), Mapping):
        return False
    annotations = item["metadata"].get("annotations") or {}
    if annotations.get("kubescape.io/status") == "too-large":
        return False  # stored without its report on purpose; a GET would return the same
    return not item.get(kind.payload_key)
