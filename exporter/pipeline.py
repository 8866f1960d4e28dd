"""What a night is: get, upload (verify, archive, DefectDojo, retention), and run = get then upload.

In the cluster the getter and the uploader are two containers of one pod; locally `report-exporter run` does both
in one process. Both call these functions, so the two cannot drift apart: `run` is `get` and then, whatever the
run's status, `upload` of the run directory it wrote, exactly as the uploader container runs whenever the getter
container wrote a manifest. Each stage returns an outcome; the CLI maps outcomes to exit codes and knows nothing
of the order of operations.

Outcomes:
- complete: every step did all it should.
- partial: what was written is valid and says what is missing (a kind failed, DefectDojo held or refused a test,
  retention failed after a verified upload). Running again gives the same answer, so the CronJob does not retry.
- failed: nothing usable came out (no kind could be listed). Errors that stop a stage before it produced anything
  (an unreachable API or store, a configuration error) are raised as ExporterError instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exporter import metrics
from exporter.archive import keys
from exporter.archive.open import open_store
from exporter.archive.retention import RetentionPolicy
from exporter.archive.store import Store
from exporter.config import Settings
from exporter.errors import ExitCode, ExporterError, RunDirError
from exporter.progress import Reporter
from exporter.rundir.manifest import KindStatus
from exporter.summary import DojoFacts, NightFacts, Stage, night_summary, top_images
from exporter.uploader import UploadResult, prune, upload_run, verified_manifest

if TYPE_CHECKING:
    from exporter.dojo.sync import SyncResult


class Outcome(StrEnum):
    COMPLETE = "complete"
    PARTIAL = "partial"
    FAILED = "failed"

    @property
    def exit_code(self) -> ExitCode:
        """The documented exit code of a stage that ended with this outcome."""
        return _EXIT_CODES[self]


_EXIT_CODES = {Outcome.COMPLETE: ExitCode.OK, Outcome.PARTIAL: ExitCode.PARTIAL, Outcome.FAILED: ExitCode.FAILED}


def worst(*outcomes: Outcome) -> Outcome:
    """The outcome that says most: failed over partial over complete."""
    order = (Outcome.COMPLETE, Outcome.PARTIAL, Outcome.FAILED)
    return max(outcomes, key=order.index, default=Outcome.COMPLETE)


@dataclass(frozen=True)
class GetOutcome:
    """The getter's result: a run directory with its manifest (a getter that wrote no manifest raised instead)."""

    run_dir: Path
    manifest: dict[str, Any]
    outcome: Outcome
    summary: dict[str, Any] = field(default_factory=dict)  # exporter.summary: the getter's part of the night


@dataclass(frozen=True)
class UploadOutcome:
    """The uploader's result, stage by stage; `outcome` is the night's verdict once the runs were archived."""

    runs: tuple[UploadResult, ...]
    data: Outcome  # the archived runs themselves: partial when a manifest says a kind failed
    dojo: Outcome | None  # None: DefectDojo is not configured
    retention: Outcome | None  # None: retention was not applied (--no-prune)
    summary: dict[str, Any] = field(default_factory=dict)  # exporter.summary: the newest run's night, archived

    @property
    def outcome(self) -> Outcome:
        return worst(self.data, *(stage for stage in (self.dojo, self.retention) if stage is not None))


@dataclass(frozen=True)
class NightOutcome:
    """`run`: the getter's result and, when an archive is configured, the uploader's."""

    got: GetOutcome
    uploaded: UploadOutcome | None

    @property
    def outcome(self) -> Outcome:
        """The uploader's verdict, as the CronJob's main container reports it; the getter's without an archive."""
        return self.uploaded.outcome if self.uploaded is not None else self.got.outcome

    @property
    def summary(self) -> dict[str, Any]:
        return self.uploaded.summary if self.uploaded is not None else self.got.summary


def run_outcome(manifest: Mapping[str, Any]) -> Outcome:
    """A getter's outcome from its manifest: failed when no kind could be listed although some were served."""
    if manifest["status"] == "complete":
        return Outcome.COMPLETE
    attempted = [entry for entry in manifest["kinds"] if entry["status"] != KindStatus.ABSENT]
    if attempted and all(entry["status"] == KindStatus.FAILED for entry in attempted):
        return Outcome.FAILED
    return Outcome.PARTIAL


def get(
    settings: Settings, out: Path, reporter: Reporter, *, source: Path | None = None, show_summary: bool = True
) -> GetOutcome:
    """The getter: the cluster (or the files at `source`) into a new run directory under `out`, manifest last.

    `show_summary`: report the getter's summary (off in `run` with an archive, whose uploader reports the night's).
    """
    # Imported here: the kubernetes client takes a third of a second to import, which `upload` should not pay.
    from exporter.getter import get_from_cluster, get_from_files  # noqa: PLC0415

    result = (
        get_from_files(settings, source, out, reporter)
        if source is not None
        else get_from_cluster(settings, out, reporter)
    )
    outcome = run_outcome(result.manifest)
    reporter.run_finished(result.manifest, str(result.run_dir), int(outcome.exit_code))
    facts = NightFacts(result.manifest, {"get": _got(result.manifest)},
                       top_images=top_images(result.run_dir, result.manifest))  # fmt: skip
    summary = night_summary(facts)
    if show_summary:
        reporter.night_summary(summary)
    return GetOutcome(result.run_dir, result.manifest, outcome, summary)


def upload(settings: Settings, directories: list[Path], reporter: Reporter, *, apply_retention: bool) -> UploadOutcome:
    """Archive each run (verified, manifest last), sync the newest into DefectDojo, then apply retention.

    A partial run is archived like a complete one: its manifest says which kinds failed, and DefectDojo holds their
    families. DefectDojo and retention run only after a verified upload, and their failure leaves it standing.
    The runs are checked against their manifests on a thread while the store is opened: hashing releases the GIL,
    so the check costs no wall time beside importing boto3 and building its client.

    A run directory that cannot be uploaded (no manifest: its getter died; files that do not match it) is skipped and
    named in a warning, and the others are uploaded, oldest first: one dead directory beside the getter's output must
    not stop every later night. Skipping makes the night partial; only nothing to upload fails it (RunDirError).
    """
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify") as checker:
        checks = [checker.submit(_checked_run, directory) for directory in directories]
        store = open_store(settings.archive)
        store.check()
        uploaded: list[tuple[Path, UploadResult]] = []
        skipped: list[RunDirError] = []
        for directory, check in zip(directories, checks, strict=True):  # each run as soon as it is verified
            manifest = check.result()
            if isinstance(manifest, RunDirError):
                skipped.append(manifest)
                continue
            uploaded.append((directory, upload_run(store, directory, max_concurrency=settings.archive.max_concurrency,
                                                   reporter=reporter, manifest=manifest)))  # fmt: skip
    if not uploaded:
        raise _nothing_uploaded(skipped)
    for problem in skipped:
        reporter.warning(f"skipped {problem}; the other run directories were uploaded; move this one away once "
                         "inspected", event="run_skipped")  # fmt: skip
    archived = time.monotonic()
    results = tuple(result for _, result in uploaded)
    data = worst(*(_archived_data(reporter, result) for result in results), *([Outcome.PARTIAL] if skipped else []))
    newest_dir, newest = uploaded[-1]
    dojo, synced = _to_dojo(settings, reporter, newest_dir, store) if settings.dojo.url else (None, None)
    dojo_done = time.monotonic()
    retention, deleted = _retention(settings, reporter, store, results) if apply_retention else (None, None)
    stages = {"get": _got(newest.manifest), "archive": Stage(data.value, archived - started)}
    if dojo is not None:
        stages["dojo"] = Stage(dojo.value, dojo_done - archived)
    if retention is not None:
        stages["retention"] = Stage(retention.value, time.monotonic() - dojo_done)
    facts = NightFacts(newest.manifest, stages, archived_bytes=sum(result.bytes for result in results),
                       dojo=_dojo_facts(synced), deleted_runs=deleted,
                       top_images=top_images(newest_dir, newest.manifest))  # fmt: skip
    summary = night_summary(facts)
    _archive_summary(store, newest, summary, reporter)
    _publish_report(store, newest.cluster, reporter)
    reporter.night_summary(summary)
    metrics.publish(settings, summary, reporter)
    return UploadOutcome(results, data, dojo, retention, summary)


def _checked_run(directory: Path) -> dict[str, Any] | RunDirError:
    """The verified manifest of a run directory, or why it cannot be uploaded."""
    try:
        return verified_manifest(directory)
    except RunDirError as problem:
        return problem


def _nothing_uploaded(skipped: list[RunDirError]) -> RunDirError:
    """One line for a night with nothing to upload: the one cause, or the first few of many."""
    advice = "run `report-exporter get` for a new run"
    if len(skipped) == 1:
        return RunDirError(f"{skipped[0]}; {advice}")
    shown = "; ".join(str(problem) for problem in skipped[:3])
    more = f"; and {len(skipped) - 3} more" if len(skipped) > 3 else ""
    return RunDirError(f"none of {len(skipped)} run directories could be uploaded: {shown}{more}; {advice}")


def run(
    settings: Settings,
    out: Path,
    reporter: Reporter,
    *,
    source: Path | None = None,
    apply_retention: bool = True,
    written: Callable[[Path], None] | None = None,
) -> NightOutcome:
    """The night in one process: get, then upload the run directory whatever its status, as the CronJob does.

    `written` is told the run directory as soon as it is complete on disk, so a caller can name it even when the
    upload then fails: the local run is what the next attempt uploads.
    """
    got = get(settings, out, reporter, source=source, show_summary=not settings.archive.destination)
    if written is not None:
        written(got.run_dir)
    if not settings.archive.destination:
        reporter.info(f"no archive destination configured: the run stays in {got.run_dir}", event="no_archive")
        metrics.publish(settings, got.summary, reporter)  # without an uploader, the getter's verdict is the night's
        return NightOutcome(got, None)
    return NightOutcome(got, upload(settings, [got.run_dir], reporter, apply_retention=apply_retention))


def sync_dojo(settings: Settings, reporter: Reporter, run_dir: Path, *, store: Store | None) -> Outcome:
    """One run into DefectDojo: complete, or partial when a family or a mass close was held or a test not sent."""
    return _sync(settings, reporter, run_dir, store=store)[0]


def _sync(settings: Settings, reporter: Reporter, run_dir: Path, *, store: Store | None) -> tuple[Outcome, SyncResult]:
    from exporter.dojo.client import DojoClient, resolve_api_key  # noqa: PLC0415 - requests loads on use
    from exporter.dojo.sync import sync_run  # noqa: PLC0415

    client = DojoClient(settings.dojo, api_key=resolve_api_key(settings.dojo))
    try:
        result = sync_run(run_dir, settings.dojo, client, reporter, store=store)
    finally:
        client.close()
    reporter.info(_dojo_summary(result), event="dojo_finished", calls=result.calls, reimported=len(result.reimported),
                  unchanged=len(result.unchanged), emptied=len(result.emptied), held=len(result.held),
                  valve_held=len(result.valve_held), missing=len(result.missing), renamed=len(result.renamed),
                  not_moved=len(result.not_moved), failed=len(result.failed), findings_new=result.findings.new,
                  findings_closed=result.findings.closed, findings_active=result.findings.active)  # fmt: skip
    return (Outcome.PARTIAL if result.failed or result.held or result.valve_held else Outcome.COMPLETE), result


def _archived_data(reporter: Reporter, result: UploadResult) -> Outcome:
    """A run archived with failed kinds is partial data: say so, and which kinds, in the uploader's own log."""
    failed = [entry["plural"] for entry in result.manifest["kinds"] if entry["status"] == KindStatus.FAILED]
    if result.manifest.get("status") == "complete":
        return Outcome.COMPLETE
    reporter.warning(
        f"run {result.run_id} is partial and archived as such: "
        + (f"failed kinds {', '.join(failed)}" if failed else "malformed objects or unreadable inputs")
        + "; see `report-exporter runs show` for the errors",
        event="run_partial", run_id=result.run_id, failed_kinds=failed,
    )  # fmt: skip
    return Outcome.PARTIAL


def _to_dojo(settings: Settings, reporter: Reporter, run_dir: Path, store: Store) -> tuple[Outcome, SyncResult | None]:
    """The newest run into DefectDojo; its failure is reported and leaves the verified archive standing.

    Any failure, not only the expected ones: retention runs after this, and a DefectDojo answer no one foresaw
    must not keep the archive from being pruned night after night.
    """
    try:
        return _sync(settings, reporter, run_dir, store=store)
    except ExporterError as exc:
        reporter.error(f"DefectDojo import failed, the run is archived: {exc}", event="dojo_failed")
    except Exception as exc:  # reported with its type; the night goes on to retention
        reporter.error(f"DefectDojo import failed unexpectedly, the run is archived: {type(exc).__name__}: {exc}",
                       event="dojo_failed")  # fmt: skip
    return Outcome.PARTIAL, None


def _retention(
    settings: Settings, reporter: Reporter, store: Store, uploaded: tuple[UploadResult, ...]
) -> tuple[Outcome, int]:
    """Retention per cluster, protecting the runs just uploaded; a failure leaves the upload standing. Returns the
    outcome and how many runs were deleted."""
    policy = RetentionPolicy.from_settings(settings.archive.retention)
    outcome, deleted = Outcome.COMPLETE, 0
    for cluster in sorted({result.cluster for result in uploaded}):
        protect = tuple(result.run_id for result in uploaded if result.cluster == cluster)
        try:
            _, pruned = prune(store, cluster, policy, reporter, dry_run=False, protect=protect)
        except ExporterError as exc:
            reporter.error(f"retention failed after a verified upload: {exc}", event="prune_failed")
            outcome = Outcome.PARTIAL
            continue
        deleted += len(pruned.deleted_runs) if pruned is not None else 0
    return outcome, deleted


def _publish_report(store: Store, cluster: str, reporter: Reporter) -> None:
    """The cluster's report page beside its runs, rebuilt from the archived summaries; a warning if it fails."""
    from exporter.report_page import publish_report  # noqa: PLC0415 - the page's renderer loads only here

    try:
        publish_report(store, cluster)
    except ExporterError as exc:
        reporter.warning(f"the report page was not updated: {exc}", event="report_not_published")


def _got(manifest: Mapping[str, Any]) -> Stage:
    """The getter's stage, from its manifest: what the uploader container knows of it."""
    started, finished = (datetime.fromisoformat(str(manifest[key]).replace("Z", "+00:00"))
                         for key in ("started_at", "finished_at"))  # fmt: skip
    return Stage(run_outcome(manifest).value, (finished - started).total_seconds())


def _dojo_facts(result: SyncResult | None) -> DojoFacts | None:
    if result is None:
        return None
    tests = {"reimported": len(result.reimported), "unchanged": len(result.unchanged), "emptied": len(result.emptied),
             "held": len(result.held), "valve_held": len(result.valve_held), "missing": len(result.missing),
             "renamed": len(result.renamed), "not_moved": len(result.not_moved),
             "failed": len(result.failed)}  # fmt: skip
    findings = result.findings
    return DojoFacts(tests, result.calls, findings.new, findings.closed, findings.reactivated, findings.active,
                     findings.active_by_scope)  # fmt: skip


def _archive_summary(store: Store, newest: UploadResult, summary: Mapping[str, Any], reporter: Reporter) -> None:
    """summary.json beside the run's manifest: written after it, so a run is complete without it; its failure is a
    warning, the run stands."""
    try:
        store.put_bytes(json.dumps(summary, indent=1).encode(), keys.summary_key(newest.cluster, newest.run_id))
    except ExporterError as exc:
        reporter.warning(f"the night's summary was not archived: {exc}", event="summary_not_archived")


def _dojo_summary(result: SyncResult) -> str:
    missing = f", {len(result.missing)} found gone from DefectDojo" if result.missing else ""
    missing += f", {len(result.renamed)} renamed to new templates" if result.renamed else ""
    missing += f", {len(result.not_moved)} left in their old engagement" if result.not_moved else ""
    return (
        f"DefectDojo: {len(result.reimported)} tests reimported{missing}, {len(result.unchanged)} unchanged "
        f"(skipped), {len(result.emptied)} emptied scopes closed, {len(result.held)} families held back, "
        f"{len(result.valve_held)} tests held by the mass-close valve, {len(result.failed)} failed; "
        f"{result.calls} API calls"
    )
