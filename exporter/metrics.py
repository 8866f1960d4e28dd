"""A night's numbers as Prometheus metrics, pushed to a Pushgateway and/or written for node-exporter's textfile
collector.

The metrics are a pure function of the night's summary (`exporter.summary.night_summary`), so they can never
disagree with the summary table or `summary.json`. Every metric is a gauge of one night (no `_total`: nothing here
counts up across nights) and carries `cluster`. A value the night did not measure (DefectDojo or retention did not
run) is NaN rather than absent: a Pushgateway keeps every metric a push leaves out, so an absent value would show
the previous night's numbers as tonight's; comparisons with NaN are false, so no alert fires on it.

The one exception is `report_exporter_last_complete_night_timestamp_seconds`, the value the alerts key on: it is
set only by a complete night and left out otherwise, so it must survive the nights in between. The Pushgateway gets
a POST (`pushadd`: only the pushed metric names are replaced), and the textfile carries the previous file's value
over. Publishing never fails a night: a Pushgateway that is down or a file that cannot be written is one warning.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from prometheus_client import CollectorRegistry, pushadd_to_gateway, write_to_textfile
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import basic_auth_handler, default_handler
from prometheus_client.parser import text_string_to_metric_families

from exporter.dojo.statistics import SEVERITIES
from exporter.errors import ExporterError
from exporter.redact import redact_url, redact_urls

if TYPE_CHECKING:
    from exporter.config import Settings
    from exporter.progress import Reporter

LAST_COMPLETE_NIGHT = "report_exporter_last_complete_night_timestamp_seconds"
OUTCOMES = ("complete", "partial", "failed")
DOJO_RESULTS = (
    "reimported", "unchanged", "emptied", "held", "valve_held", "missing", "renamed", "not_moved", "failed",
)  # fmt: skip
FINDING_STATES = ("new", "closed", "reactivated", "active")
PUSH_TIMEOUT = 10.0  # seconds: a Pushgateway that drops packets must not hold the night's end for long

_CARRIED_OVER = (LAST_COMPLETE_NIGHT,)  # families a night without them takes from the previous textfile


class MetricsError(ExporterError):
    """The metrics could not be pushed or written; the night itself is unaffected."""


def night_registry(summary: Mapping[str, Any]) -> CollectorRegistry:
    """The night's metrics, from its summary document (the shape `night_summary` returns)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(tuple(night_families(summary))))
    return registry


def night_families(summary: Mapping[str, Any]) -> Iterator[Metric]:
    """Each metric family of the night, with `cluster` on every sample."""
    cluster = str(summary["cluster"])
    yield _outcome("report_exporter_night_outcome", "The night's outcome: 1 for the one it had, 0 for the others.",
                   cluster, [((), str(summary["outcome"]))])  # fmt: skip
    stages = summary.get("stages", {})
    yield _outcome("report_exporter_stage_outcome", "Each stage's outcome: 1 for the one it had, 0 for the others.",
                   cluster, [((name,), str(stage["outcome"])) for name, stage in stages.items()], "stage")  # fmt: skip
    yield _gauge("report_exporter_stage_duration_seconds", "How long each stage of the night took.", cluster,
                 [((name,), float(stage["seconds"])) for name, stage in stages.items()], "stage")  # fmt: skip
    kinds = summary.get("kinds", {})
    yield _gauge("report_exporter_objects", "Report objects read per kind (plural), by the kind's status.", cluster,
                 [((plural, str(kind["status"])), kind["objects"]) for plural, kind in kinds.items()],
                 "kind", "status")  # fmt: skip
    yield _gauge("report_exporter_run_bytes", "Bytes of the night's run directory (gzip JSON Lines).", cluster,
                 [((), sum(int(kind["bytes"]) for kind in kinds.values()))])  # fmt: skip
    yield _gauge("report_exporter_archived_bytes", "Bytes the night uploaded to the archive (NaN: not archived).",
                 cluster, [((), _measured(summary.get("archived_bytes")))])  # fmt: skip
    retention = summary.get("retention", {})
    yield _gauge("report_exporter_retention_deleted_runs", "Archived runs retention deleted (NaN: not applied).",
                 cluster, [((), _measured(retention.get("deleted_runs")))])  # fmt: skip
    yield from _dojo_families(summary, cluster)
    finished = _night_timestamp(summary)
    yield _gauge("report_exporter_night_timestamp_seconds", "When the night's reports were read (Unix time).",
                 cluster, [((), finished)])  # fmt: skip
    if summary["outcome"] == "complete":
        yield _gauge(LAST_COMPLETE_NIGHT, "When the reports of the last complete night were read (Unix time).",
                     cluster, [((), finished)])  # fmt: skip


def publish(settings: Settings, summary: Mapping[str, Any], reporter: Reporter) -> None:
    """Push the night's metrics and/or write them to a file, as `settings.metrics` says; never raises.

    Each destination is independent: a Pushgateway that is down does not keep the file from being written.
    """
    options = settings.metrics
    if options.pushgateway is None and options.file is None:
        return
    try:
        registry = night_registry(summary)
        cluster = str(summary["cluster"])
    except (KeyError, TypeError, ValueError) as exc:  # a summary of another schema: a bug to report, not a crash
        reporter.warning(f"could not compute the night's metrics from its summary ({type(exc).__name__}: {exc}); "
                         "the night's outcome is unaffected", event="metrics_failed")  # fmt: skip
        return
    gateway, path = options.pushgateway, options.file
    if gateway is not None:
        shown = redact_url(gateway)
        _attempt(reporter, lambda: push(registry, gateway, job=options.job, cluster=cluster, timeout=options.timeout),
                 done=(f"metrics pushed to {shown} (job={options.job}, cluster={cluster})", "metrics_pushed"),
                 failed=(f"could not push the night's metrics to {shown}", "metrics_push_failed"))  # fmt: skip
    if path is not None:
        _attempt(reporter, lambda: _write_and_report(registry, path, reporter),
                 done=(f"metrics written to {path}", "metrics_written"),
                 failed=(f"could not write the night's metrics to {path}", "metrics_file_failed"))  # fmt: skip


def push(
    registry: CollectorRegistry, gateway_url: str, *, job: str, cluster: str, timeout: float = PUSH_TIMEOUT
) -> None:
    """POST the registry to the Pushgateway's group {job, cluster}; raises MetricsError (URL without password).

    POST (`pushadd`), not PUT: only the metric names pushed tonight are replaced, so the last complete night's
    timestamp, which only a complete night pushes, stays in the group. The cluster in the grouping key keeps the
    nights of several clusters apart. Credentials in the URL (`https://user:pass@host`) are sent as Basic auth.
    """
    url, handler = _without_credentials(gateway_url)
    try:
        pushadd_to_gateway(url, job=job, registry=registry, grouping_key={"cluster": cluster}, timeout=timeout,
                           handler=handler)  # fmt: skip
    except Exception as exc:  # urllib raises OSError subclasses, http.client others; all mean "not pushed"
        raise MetricsError(f"{type(exc).__name__}: {redact_urls(str(exc))}") from None


def write_textfile(registry: CollectorRegistry, path: Path) -> tuple[str, ...]:
    """Write the registry to `path` atomically (a temporary file renamed), for node-exporter's textfile collector.

    A night without the last complete night's timestamp (partial, failed) keeps the one the previous file holds, as
    the Pushgateway does. Returns notes worth a warning (a previous file that could not be read, so nothing was
    carried over); raises OSError when the file cannot be written.
    """
    tonight = {family.name for family in registry.collect()}
    carried, notes = _previous_families(path, [name for name in _CARRIED_OVER if name not in tonight])
    source: CollectorRegistry = registry
    if carried:
        source = CollectorRegistry(auto_describe=False)
        source.register(_Families((*registry.collect(), *carried)))
    write_to_textfile(str(path), source)
    return notes


def _dojo_families(summary: Mapping[str, Any], cluster: str) -> Iterator[Metric]:
    dojo = summary.get("dojo")
    tests = dojo.get("tests", {}) if dojo is not None else {}
    yield _gauge("report_exporter_dojo_tests", "DefectDojo tests by what the night did with them (NaN: no sync).",
                 cluster, [((result,), _measured(tests.get(result, 0) if dojo is not None else None))
                           for result in DOJO_RESULTS], "result")  # fmt: skip
    yield _gauge("report_exporter_dojo_api_calls", "DefectDojo API calls the night made (NaN: no sync).", cluster,
                 [((), _measured(dojo.get("calls") if dojo is not None else None))])  # fmt: skip
    findings = summary.get("findings")
    counts = {state: findings.get(state, {}) for state in FINDING_STATES} if findings is not None else None
    yield _gauge("report_exporter_findings", "DefectDojo findings by severity: new, closed and reactivated by the "
                 "night's imports, active after them (NaN: no sync).", cluster,
                 [((severity, state), _measured(counts[state].get(severity, 0) if counts is not None else None))
                  for state in FINDING_STATES for severity in SEVERITIES], "severity", "state")  # fmt: skip


def _outcome(
    name: str, documentation: str, cluster: str, subjects: Iterable[tuple[tuple[str, ...], str]], *labels: str
) -> GaugeMetricFamily:
    """An enum-style gauge: per subject, one sample per possible outcome, 1 for the one it had."""
    family = GaugeMetricFamily(name, documentation, labels=["cluster", *labels, "outcome"])
    for values, outcome in subjects:
        for possible in OUTCOMES:
            family.add_metric([cluster, *values, possible], 1.0 if possible == outcome else 0.0)
    return family


def _gauge(
    name: str, documentation: str, cluster: str, samples: Iterable[tuple[tuple[str, ...], float]], *labels: str
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["cluster", *labels])
    for values, value in samples:
        family.add_metric([cluster, *values], float(value))
    return family


def _measured(value: Any) -> float:
    """A count the night measured, or NaN when the stage that measures it did not run."""
    return math.nan if value is None else float(value)


def _night_timestamp(summary: Mapping[str, Any]) -> float:
    """The manifest's finished_at (`2026-11-23T02:03:04.000000Z`): when the night's reports were read."""
    return datetime.fromisoformat(str(summary["finished_at"]).replace("Z", "+00:00")).timestamp()


class _Families:
    """A collector of fixed families: the registry's view of one night, built once."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = tuple(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def _previous_families(path: Path, names: list[str]) -> tuple[list[Metric], tuple[str, ...]]:
    """The families `names` as the previous textfile at `path` holds them, and notes on why none could be read."""
    if not names:
        return [], ()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], ()
    except OSError as exc:
        return [], (f"could not read the previous metrics file {path} ({exc.strerror}): nothing carried over",)
    try:
        families = [family for family in text_string_to_metric_families(text) if family.name in names]
    except ValueError as exc:
        return [], (f"the previous metrics file {path} is not valid ({exc}): nothing carried over",)
    return [_as_gauge(family) for family in families], ()


def _as_gauge(family: Metric) -> GaugeMetricFamily:
    labels = sorted({label for sample in family.samples for label in sample.labels})
    gauge = GaugeMetricFamily(family.name, family.documentation, labels=labels)
    for sample in family.samples:
        gauge.add_metric([sample.labels.get(label, "") for label in labels], sample.value)
    return gauge


def _without_credentials(gateway_url: str) -> tuple[str, Callable[..., Callable[[], None]]]:
    """The URL without userinfo, and a handler that sends the userinfo as Basic auth (urllib would not)."""
    parts = urlsplit(gateway_url)
    if "@" not in parts.netloc:
        return gateway_url, default_handler
    userinfo, _, host = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")

    def handler(**request: Any) -> Callable[[], None]:
        return basic_auth_handler(**request, username=unquote(username), password=unquote(password))

    return urlunsplit(parts._replace(netloc=host)), handler


def _write_and_report(registry: CollectorRegistry, path: Path, reporter: Reporter) -> None:
    for note in write_textfile(registry, path):
        reporter.warning(note, event="metrics_file_previous_unreadable")


def _attempt(reporter: Reporter, action: Callable[[], None], *, done: tuple[str, str], failed: tuple[str, str]) -> None:
    """Run one publishing step; any failure is one warning line, since metrics never decide a night's outcome."""
    (failure, event) = failed
    try:
        action()
    except MetricsError as exc:
        reason = str(exc)
    except OSError as exc:
        reason = exc.strerror or str(exc)
    except Exception as exc:  # metrics must never turn a night into a crash
        reason = f"{type(exc).__name__}: {redact_urls(str(exc))}"
    else:
        reporter.info(done[0], event=done[1])
        return
    reporter.warning(f"{failure}: {reason}; the night's outcome is unaffected", event=event)
