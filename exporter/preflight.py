"""`report-exporter check`: before the first night, ask every system the run will need whether it will work.

Each check is one line with a verdict, so a person reads the table and knows what to fix: the API permissions for
every catalog kind (SelfSubjectAccessReview: what RBAC would answer, without listing anything), writing, reading
and deleting a probe object in the archive, and the DefectDojo key. Nothing is changed in the cluster or in
DefectDojo; the probe object is removed again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from exporter import catalog
from exporter.catalog import ReportKind
from exporter.config import KubeSettings, Settings
from exporter.errors import ExporterError
from exporter.redact import redact_url

if TYPE_CHECKING:
    from exporter.kube.api import KubeApi

OK, FAILED, SKIPPED = "ok", "FAILED", "skipped"
REVIEW_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


@dataclass(frozen=True)
class CheckLine:
    system: str
    what: str
    verdict: str
    detail: str = ""


def run_checks(settings: Settings, *, connector: Callable[[KubeSettings], KubeApi] | None = None) -> list[CheckLine]:
    """Every check, in the order a run needs them; one failing check never hides the others."""
    return [*_kube_checks(settings, connector), *_archive_checks(settings), *_dojo_checks(settings)]


def _kube_checks(settings: Settings, connector: Callable[[KubeSettings], KubeApi] | None) -> Iterator[CheckLine]:
    if connector is None:
        from exporter.kube.api import connect  # noqa: PLC0415 - the kubernetes client loads on use

        connector = connect
    try:
        api = connector(settings.kube)
    except ExporterError as exc:
        yield CheckLine("kubernetes", "credentials", FAILED, str(exc))
        return
    try:
        for kind in catalog.select(settings.filters.kinds, settings.filters.exclude_kinds):
            for verb in ("list", "get"):
                yield _access(api, kind, verb)
    except ExporterError as exc:
        yield CheckLine("kubernetes", "API", FAILED, str(exc))
    finally:
        api.close()


def _access(api: KubeApi, kind: ReportKind, verb: str) -> CheckLine:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"group": kind.group, "resource": kind.plural, "verb": verb}},
    }
    from exporter.kube.api import ApiStatusError  # noqa: PLC0415 - the kubernetes client loads on use

    what = f"{verb} {kind.resource}"
    try:
        status: dict[str, Any] = api.post_json(REVIEW_PATH, review).get("status") or {}
    except ApiStatusError as exc:
        return CheckLine("kubernetes", what, FAILED, str(exc))
    if status.get("allowed"):
        return CheckLine("kubernetes", what, OK)
    reason = status.get("reason") or status.get("evaluationError") or "RBAC denies it"
    return CheckLine("kubernetes", what, FAILED, f"{reason}; apply cronjob/rbac.yaml")


def _archive_checks(settings: Settings) -> Iterator[CheckLine]:
    if not settings.archive.destination:
        yield CheckLine("archive", "destination", SKIPPED, "REPORT_EXPORTER_ARCHIVE is not set")
        return
    from exporter.archive.open import open_store  # noqa: PLC0415 - boto3 loads only for an s3:// destination

    key = f"{settings.cluster}/.report-exporter-probe-{secrets.token_hex(4)}"
    data = b"report-exporter check\n"
    steps: list[tuple[str, Callable[[], object]]] = []
    try:
        store = open_store(settings.archive)
    except ExporterError as exc:
        yield CheckLine("archive", settings.archive.destination, FAILED, str(exc))
        return
    steps = [
        ("bucket and credentials", store.check),
        ("write a probe object", lambda: store.put_bytes(data, key)),
        ("read it back", lambda: _same(store.get_bytes(key), data)),
        ("delete it", lambda: store.delete([key])),
    ]
    for what, step in steps:
        try:
            step()
        except ExporterError as exc:
            yield CheckLine("archive", what, FAILED, str(exc))
            return
        yield CheckLine("archive", what, OK, store.url if what == "bucket and credentials" else "")


def _dojo_checks(settings: Settings) -> Iterator[CheckLine]:
    if not settings.dojo.url:
        yield CheckLine("defectdojo", "url", SKIPPED, "DD_URL is not set: findings will not be imported")
        return
    from exporter.dojo.client import DojoClient, resolve_api_key  # noqa: PLC0415 - requests loads on use

    try:
        client = DojoClient(settings.dojo, api_key=resolve_api_key(settings.dojo))
        try:
            client.find("product_types/", name=settings.dojo.product_type)
        finally:
            client.close()
    except ExporterError as exc:
        yield CheckLine("defectdojo", "API key", FAILED, str(exc))
        return
    yield CheckLine("defectdojo", "API key", OK, redact_url(settings.dojo.url))


def _same(found: bytes, expected: bytes) -> None:
    if found != expected:
        raise ExporterError("the probe object read back differs from what was written")
