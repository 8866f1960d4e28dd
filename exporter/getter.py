"""The getter: every catalog kind from the cluster (or from files) into a new run directory, manifest last.

A kind that fails does not stop the others: it is recorded as `failed` with its error and whatever was listed
before the failure stays on disk for inspection. Only credentials that do not work, or an API that cannot be
reached at all, stop a run before it starts. When a kind's connection breaks, the API is asked for /version: if it
answers, only that kind failed (a proxy resetting one kind's pages) and the next kinds are listed; if it does not,
the API was lost half-way and the remaining kinds are marked failed without trying them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exporter import __version__, catalog, normalize, selectors
from exporter.catalog import Family, ReportKind
from exporter.config import FilterSettings, KubeSettings, Settings
from exporter.errors import KubeError
from exporter.filesource import FileScan, iter_report_objects
from exporter.kube import discovery, listing
from exporter.kube.api import ApiStatusError, KubeApi, connect
from exporter.kube.readahead import read_ahead
from exporter.kube.shallow import ShallowObject
from exporter.progress import Reporter
from exporter.rundir import layout
from exporter.rundir.manifest import KindResult, KindStatus, RunInfo, build_manifest
from exporter.rundir.writer import KindWriter, json_line, write_manifest
from exporter.secretmask import mask_secret_report


@dataclass(frozen=True)
class GetResult:
    run_dir: Path
    manifest: dict[str, Any]


def get_from_cluster(
    settings: Settings,
    out_dir: Path,
    reporter: Reporter,
    *,
    connector: Callable[[KubeSettings], KubeApi] = connect,
) -> GetResult:
    """List every selected kind from the Kubernetes API into `out_dir/<run_id>/`."""
    started = datetime.now(UTC)
    api = connector(settings.kube)
    try:
        version = discovery.server_version(api)
        kinds = catalog.select(settings.filters.kinds, settings.filters.exclude_kinds)
        availability = discovery.discover(api, kinds)
        run_dir = _new_run_dir(out_dir, started)
        reporter.info(
            f"run {run_dir.name}: listing {len(kinds)} kinds from {api.server}",
            event="run_started",
            run_id=run_dir.name,
            run_dir=str(run_dir),
        )
        results: list[KindResult] = []
        lost: str | None = None
        for kind in kinds:
            state = availability[kind]
            if lost is not None:
                result = KindResult(kind, KindStatus.FAILED, error=f"not listed: {lost}")
            elif state.error is not None:
                result = KindResult(kind, KindStatus.FAILED, error=state.error)
            elif not state.served:
                result = KindResult(kind, KindStatus.ABSENT)
            else:
                result, broken = _collect_kind(api, kind, run_dir, settings, reporter)
                lost = None if broken is None else _api_gone(api, kind, reporter)
            _report_result(reporter, result)
            results.append(result)
    finally:
        api.close()
    source = {"type": "kubernetes", "server": api.server}
    return _finish(run_dir, _run_info(run_dir, settings, started, source, kubernetes_version=version), results)


def get_from_files(settings: Settings, source: Path, out_dir: Path, reporter: Reporter) -> GetResult:
    """Read report objects from files into `out_dir/<run_id>/`; kinds the files do not hold are `absent`."""
    started = datetime.now(UTC)
    kinds = catalog.select(settings.filters.kinds, settings.filters.exclude_kinds)
    matches = selectors.parse(settings.filters.label_selector)
    run_dir = _new_run_dir(out_dir, started)
    reporter.info(
        f"run {run_dir.name}: reading reports from {source}",
        event="run_started",
        run_id=run_dir.name,
        run_dir=str(run_dir),
    )
    sinks: dict[ReportKind, _KindSink] = {}
    scan = FileScan()
    try:
        for kind, obj in iter_report_objects(source, scan):
            if kind not in kinds or not matches(_labels(obj)):
                continue
            if kind not in sinks:
                sinks[kind] = _KindSink(run_dir, kind, settings, reporter, only_namespaces=True)
            sinks[kind].accept(obj)
    except BaseException:
        for sink in sinks.values():  # close the files; without a manifest the run stays incomplete
            sink.finish(KindStatus.FAILED)
        raise
    results = [
        sinks[kind].finish(KindStatus.COMPLETE) if kind in sinks else KindResult(kind, KindStatus.ABSENT)
        for kind in kinds
    ]
    for result in results:
        _report_result(reporter, result)
    for problem in scan.unreadable:
        reporter.error(f"cannot read {problem}; fix or remove the file", event="unreadable_input")
    if scan.ignored:
        reporter.info(
            f"ignored {sum(scan.ignored.values())} objects of kinds outside the catalog",
            event="ignored_objects",
            ignored=scan.ignored,
        )
    info = _run_info(run_dir, settings, started, {"type": "files", "path": str(source)}, scan=scan)
    return _finish(run_dir, info, results)


class _KindSink:
    """One kind's objects on their way to disk: normalised, filtered, de-duplicated, checked, written."""

    def __init__(
        self,
        run_dir: Path,
        kind: ReportKind,
        settings: Settings,
        reporter: Reporter,
        *,
        only_namespaces: bool,
    ) -> None:
        self.kind = kind
        self._writer = KindWriter(run_dir, kind)
        filters = settings.filters
        self._include = set(filters.namespaces) if only_namespaces and kind.namespaced else set()
        self._exclude = set(filters.exclude_namespaces) if kind.namespaced else set()
        self._strict = settings.strict
        # Only exposed secrets are decoded to be masked; every other kind keeps the fast path (shallow.py).
        self._mask = settings.mask_secrets and kind.family is Family.EXPOSED_SECRET
        self._reporter = reporter
        self.restarts = 0
        self._reset()
        reporter.kind_started(kind.plural)

    def _reset(self) -> None:
        self._seen: set[tuple[str, str]] = set()
        self.malformed: list[str] = []
        self.warnings: list[str] = []
        self.unfetched: list[str] = []
        self.masked = 0

    def accept(self, item: Any, *, unfetched: ApiStatusError | None = None) -> None:
        """Filter, de-duplicate, check and write one object: a ShallowObject from a cluster, a dict from files.

        `unfetched`: the object is kept as listed because the GET of its report failed; the kind then fails.
        """
        check: Callable[[ReportKind], normalize.Checks]
        line: Callable[[ReportKind], bytes]
        describe: Callable[[], str]
        if self._mask:
            item = self._masked(item)
        if isinstance(item, ShallowObject):
            namespace, name = item.namespace, item.name
            check, line, describe = item.check, item.line, item.describe
        elif isinstance(item, Mapping):
            obj = normalize.normalize(self.kind, item)
            metadata = obj["metadata"] if isinstance(obj.get("metadata"), Mapping) else {}
            namespace, name = str(metadata.get("namespace") or ""), str(metadata.get("name") or "")
            check = functools.partial(normalize.check, obj=obj)
            line = functools.partial(_object_line, obj)
            describe = functools.partial(normalize.describe, obj)
        else:
            self.malformed.append(f"a list item that is not an object ({type(item).__name__}) was skipped")
            return
        if namespace in self._exclude or (self._include and namespace not in self._include):
            return
        key = (namespace, name or f"#{self._writer.objects}")
        if key in self._seen:
            return
        self._seen.add(key)
        checks = check(self.kind)
        if unfetched is not None:
            self.unfetched.append(f"{describe()}: {_failure_message(self.kind, unfetched)}")
        elif checks.warnings:
            (self.malformed if self._strict else self.warnings).append(f"{describe()}: {'; '.join(checks.warnings)}")
        if checks.malformed:
            self.malformed.append(f"{describe()}: {'; '.join(checks.malformed)}")
        self._writer.write_line(line(self.kind))

    def _masked(self, item: Any) -> Any:
        """The object with its uncensored secrets masked (exporter/secretmask.py), counted for the kind's log line."""
        key = self.kind.payload_key
        if isinstance(item, ShallowObject):
            report, masked = mask_secret_report(item.value(key))
            item = item.replaced(key, report) if masked else item
        elif isinstance(item, Mapping):
            report, masked = mask_secret_report(item.get(key))
            item = {**item, key: report} if masked else item
        else:
            masked = 0
        self.masked += masked
        return item

    def page_done(self) -> None:
        self._reporter.kind_advanced(self.kind.plural, self._writer.objects)

    def restart(self) -> None:
        """Forget what was written: the kind's listing starts over."""
        self._writer.restart()
        self._reset()

    def finish(self, status: KindStatus, error: str | None = None) -> KindResult:
        """The kind's result; objects whose report could not be fetched fail a kind that was listed completely."""
        written = self._writer.close()
        if self.masked:
            self._reporter.info(
                f"{self.kind.plural}: masked {self.masked} exposed secrets that the scanner had not censored "
                "(mask_secrets)",
                event="secrets_masked", kind=self.kind.plural, masked=self.masked,
            )  # fmt: skip
        if self.unfetched and status is KindStatus.COMPLETE:
            status = KindStatus.FAILED
            error = (
                f"{len(self.unfetched)} of {written.objects} objects are archived as listed, without their report, "
                f"because fetching it failed (first: {self.unfetched[0]})"
            )
        return KindResult(
            self.kind, status, written, error, tuple(self.malformed), self.restarts,
            warnings=tuple(self.warnings), unfetched=tuple(self.unfetched),
        )  # fmt: skip


def _collect_kind(
    api: KubeApi, kind: ReportKind, run_dir: Path, settings: Settings, reporter: Reporter
) -> tuple[KindResult, str | None]:
    """One kind, restarting on 410; returns its result and, if its connection broke (KubeError), why."""
    sink = _KindSink(run_dir, kind, settings, reporter, only_namespaces=False)
    full_spec = kind.list_omits_payload
    while True:
        try:
            _list_into(api, kind, sink, settings, full_spec=full_spec)
            return sink.finish(KindStatus.COMPLETE), None
        except listing.ListExpiredError:
            if sink.restarts >= settings.kube.max_list_restarts:
                error = f"the list expired (410 Gone) {sink.restarts + 1} times; raise kube.page_size or retry"
                return sink.finish(KindStatus.FAILED, error), None
            sink.restarts += 1
            sink.restart()
        except ApiStatusError as exc:
            if full_spec and listing.refuses_full_spec(exc):
                full_spec = False  # a CRD or an older storage: list plainly, GET what lacks its report
                sink.restart()
                continue
            return sink.finish(KindStatus.FAILED, _failure_message(kind, exc)), None
        except KubeError as exc:
            return sink.finish(KindStatus.FAILED, str(exc)), str(exc)


def _api_gone(api: KubeApi, failed: ReportKind, reporter: Reporter) -> str | None:
    """After `failed` lost its connection: None when the API still answers (any HTTP status), else why it is gone.

    One probe, with the client's retries: an API that is really gone costs one more round of them, then the
    remaining kinds are failed at once instead of each waiting out its own.
    """
    try:
        api.get_json("/version")
    except ApiStatusError:
        pass  # an answer, if not a welcome one: the server is there
    except KubeError as exc:
        return str(exc)
    reporter.warning(
        f"{failed.plural} lost its connection, but the Kubernetes API at {api.server} still answers: listing the "
        "other kinds",
        event="api_still_reachable", kind=failed.plural,
    )  # fmt: skip
    return None


def _list_into(api: KubeApi, kind: ReportKind, sink: _KindSink, settings: Settings, *, full_spec: bool) -> None:
    namespaces: Iterable[str | None] = (
        settings.filters.namespaces if settings.filters.namespaces and kind.namespaced else [None]
    )
    for namespace in namespaces:
        query = listing.ListQuery(
            kind, settings.kube.page_size, settings.filters.label_selector, namespace, full_spec=full_spec
        )
        for listed in read_ahead(listing.iter_pages(api, query)):
            page = (
                listing.fill_payloads(api, kind, listed, concurrency=settings.kube.fetch_concurrency)
                if kind.list_omits_payload
                else listing.FilledPage(listed, {})
            )
            for index, item in enumerate(page.items):
                sink.accept(item, unfetched=page.unfetched.get(index))
            sink.page_done()


def _object_line(obj: Mapping[str, Any], kind: ReportKind) -> bytes:
    return json_line(obj)


def _failure_message(kind: ReportKind, exc: ApiStatusError) -> str:
    if exc.status == 403:
        verb = "list" if exc.path.endswith(f"/{kind.plural}") else "get"
        return (
            f"forbidden to {verb} {kind.resource}: the exporter's identity lacks the RBAC verb {verb!r} on "
            f"resource {kind.plural!r} in API group {kind.group!r}; apply cronjob/rbac.yaml ({exc.message})"
        )
    return f"listing {kind.resource} failed: {exc}"


def _report_result(reporter: Reporter, result: KindResult) -> None:
    objects = result.written.objects if result.written else 0
    details = [result.error] if result.error else []
    if result.malformed:
        details.append(f"{len(result.malformed)} malformed objects kept (first: {result.malformed[0]})")
    if result.warnings:
        details.append(f"{len(result.warnings)} objects archived with a warning (first: {result.warnings[0]})")
    reporter.kind_finished(result.kind.plural, result.status.value, objects, "; ".join(details))


def _run_info(
    run_dir: Path,
    settings: Settings,
    started: datetime,
    source: dict[str, str],
    *,
    kubernetes_version: str | None = None,
    scan: FileScan | None = None,
) -> RunInfo:
    return RunInfo(
        run_id=run_dir.name,
        cluster=settings.cluster,
        started_at=started,
        finished_at=datetime.now(UTC),
        exporter_version=__version__,
        kubernetes_version=kubernetes_version,
        source=source,
        filters=_filters_record(settings.filters),
        ignored=scan.ignored if scan else {},
        unreadable=tuple(scan.unreadable) if scan else (),
    )


def _finish(run_dir: Path, info: RunInfo, results: list[KindResult]) -> GetResult:
    manifest = build_manifest(info, results)
    write_manifest(run_dir, manifest)
    return GetResult(run_dir, manifest)


def _new_run_dir(out_dir: Path, started: datetime) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    run_dir = out_dir / layout.new_run_id(started)
    run_dir.mkdir()
    return run_dir


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    metadata = obj.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, Mapping) else None
    return {str(key): str(value) for key, value in labels.items()} if isinstance(labels, Mapping) else {}


def _filters_record(filters: FilterSettings) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in filters.model_dump().items()}
