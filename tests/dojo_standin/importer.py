"""Import and reimport, step for step as DefectDojo's importers run them.

Sources (``dojo/importers/``): ``DefaultImporter.process_scan`` / ``parse_findings_static_test_type`` (the test
is created *before* the report is parsed, so a parser failure leaves an empty test behind) and
``close_old_findings``; ``DefaultReImporter.process_scan`` / ``_process_findings_internal`` /
``process_matched_finding`` / ``close_old_findings``; ``BaseImporter.parse_findings_static_test_type`` (a
``ValueError`` from the parser becomes a Django ``ValidationError``: 400) and ``mitigate_finding``.

Parsing is not done here: a parser object (``tests.dojo_parsers`` or a test's fake) supplies ``parse``,
``hash_code`` and ``dedupe_key``; the stand-in stores both keys and matches on ``dedupe_key``, which stands for
whatever ``DEDUPLICATION_ALGORITHM_PER_PARSER`` picks for the scan type (hash_code or unique_id_from_tool).

Which existing finding a reimported one matches (DefectDojo 7cfa159a, ``dojo/importers/default_reimporter.py``
``_process_findings_internal`` lines 336-367 and 416, ``match_finding_to_candidate_reimport`` line 693,
``add_new_finding_to_candidates``; ``dojo/finding/deduplication.py`` ``find_candidates_for_deduplication_hash``
line 392 and ``deduplication_ordering_key`` line 548):
the report's findings are handled in ``deduplication_ordering_key`` order (since 78738cd9, PR #15222); each takes
the lowest-id finding of the test with its key, whatever that finding's status (a mitigated one is reactivated),
and a finding the reimport creates is a candidate for the findings after it. Every other finding with that key is
left unmatched, so close_old_findings closes it (DefectDojo issue #9290).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, Protocol

from tests.dojo_standin.context import (
    ScanRequest,
    below_minimum,
    get_or_create_engagement,
    target_engagement,
    target_product,
    target_test,
)
from tests.dojo_standin.forms import ApiError, detail, django_validation_error, internal_error
from tests.dojo_standin.records import (
    CLOSED,
    CREATED,
    REACTIVATED,
    SEVERITY_RANK,
    UNTOUCHED,
    USER_ID,
    Engagement,
    Finding,
    JsonObject,
    Store,
    Test,
    statistics,
    utcnow,
)


class ParserModule(Protocol):
    """What the stand-in needs from a parser module (``tests/dojo_parsers.py`` satisfies it as a module)."""

    def parse(self, scan_type: str, content: bytes) -> list[Any]: ...

    def hash_code(self, scan_type: str, finding: Any) -> str: ...

    def dedupe_key(self, scan_type: str, finding: Any) -> str: ...


@dataclass
class _Parsed:
    finding: Any
    hash_code: str
    dedupe_key: str


@dataclass
class _Outcome:
    new: list[Finding] = field(default_factory=list)
    reactivated: list[Finding] = field(default_factory=list)
    closed: list[Finding] = field(default_factory=list)
    untouched: list[Finding] = field(default_factory=list)


def import_scan(
    store: Store, parser: ParserModule, request: ScanRequest, *, fail_after_test: Callable[[], ApiError | None]
) -> JsonObject:
    """POST /api/v2/import-scan/: find or create the engagement, then always a new test."""
    engagement = get_or_create_engagement(store, request)
    test = _run_import(store, parser, request, engagement, close_old=request.close_old_findings, fail=fail_after_test)
    return _response(store, request, test, {"after": store.test_statistics(test.id)})


def reimport_scan(
    store: Store, parser: ParserModule, request: ScanRequest, *, fail_after_test: Callable[[], ApiError | None]
) -> JsonObject:
    """POST /api/v2/reimport-scan/: into the test found by id or name, else (auto_create_context) a new import."""
    product = target_product(store, request)
    test = target_test(store, request, target_engagement(store, request, product))
    if test is not None:
        before = store.test_statistics(test.id)
        outcome = _reimport_into(store, parser, request, test)
        delta = {
            CREATED: statistics(outcome.new),
            CLOSED: statistics(outcome.closed),
            REACTIVATED: statistics(outcome.reactivated),
            UNTOUCHED: statistics(outcome.untouched),
        }
        return _response(
            store, request, test, {"before": before, "delta": delta, "after": store.test_statistics(test.id)}
        )
    if not request.auto_create_context:
        raise detail(404, "A test could not be found!")
    engagement = get_or_create_engagement(store, request)
    # ReImportScanSerializer.process_scan: a brand-new test must not close findings of other tests (PR #14396).
    test = _run_import(store, parser, request, engagement, close_old=False, fail=fail_after_test)
    return _response(store, request, test, {"after": store.test_statistics(test.id)})


def _response(store: Store, request: ScanRequest, test: Test, stats: JsonObject) -> JsonObject:
    engagement = store.engagements[test.engagement]
    product = store.products[engagement.product]
    return {
        **request.echo(),
        "test": test.id,
        "test_id": test.id,
        "engagement_id": engagement.id,
        "product_id": product.id,
        "product_type_id": product.prod_type,
        "statistics": stats,
    }


def _run_import(
    store: Store,
    parser: ParserModule,
    request: ScanRequest,
    engagement: Engagement,
    *,
    close_old: bool,
    fail: Callable[[], ApiError | None],
) -> Test:
    scan_time = _scan_time(request)
    test = Test(
        id=store.next_id("test"),
        engagement=engagement.id,
        scan_type=request.scan_type,
        test_type=store.test_type_id(request.scan_type),
        title=request.test_title,
        target_start=scan_time,
        target_end=scan_time,
        version=request.version,
        build_id=request.build_id,
        commit_hash=request.commit_hash,
        branch_tag=request.branch_tag,
        tags=list(request.tags),
    )
    store.tests[test.id] = test  # Test.objects.create happens before parsing: nothing rolls it back below
    if (failure := fail()) is not None:
        raise failure
    for parsed in _parse(parser, request):
        finding = _new_finding(store, test, parsed, request)
        store.findings[finding.id] = finding
    if close_old:
        _close_old_findings_on_import(store, request, test)
    test.percent_complete = 100
    return test


def _reimport_into(store: Store, parser: ParserModule, request: ScanRequest, test: Test) -> _Outcome:
    parsed_findings = sorted(
        _parse(parser, request), key=lambda parsed: deduplication_ordering_key(parsed.finding, parsed.hash_code)
    )
    # _process_findings_internal: only findings with the same service (or none, when none is sent) may be closed.
    in_test = sorted(store.findings_of_test(test.id), key=lambda finding: finding.id)
    originals = [f for f in in_test if (f.service == request.service if request.service is not None else not f.service)]
    candidates: dict[str, list[Finding]] = {}
    for existing in in_test:
        candidates.setdefault(existing.dedupe_key, []).append(existing)
    outcome, unchanged = _Outcome(), []
    for parsed in parsed_findings:
        matches = candidates.get(parsed.dedupe_key)  # ascending ids: match_finding_to_candidate_reimport sorts by id
        if not matches:
            finding = _new_finding(store, test, parsed, request)
            store.findings[finding.id] = finding
            candidates.setdefault(finding.dedupe_key, []).append(finding)
            outcome.new.append(finding)
            continue
        existing = matches[0]
        if existing.false_p or existing.out_of_scope or existing.risk_accepted:
            # process_matched_special_status_finding: a report never carries those flags, so only an inactive
            # risk acceptance is kept as unchanged; a false positive is neither unchanged nor reactivated.
            if existing.risk_accepted and not existing.active:
                unchanged.append(existing)
        elif existing.is_mitigated:
            if request.do_not_reactivate:
                # Like the real note, left once however often the finding is skipped.
                skipped = f"Finding has skipped reactivation from {request.scan_type} re-upload with user decision "
                _note(existing, skipped + "do_not_reactivate.", once=True)
            else:
                _reactivate(existing, request)
                outcome.reactivated.append(existing)
        else:
            unchanged.append(existing)
    to_mitigate = [f for f in originals if f not in outcome.reactivated and f not in unchanged]
    outcome.untouched = [f for f in dict.fromkeys(unchanged) if f not in to_mitigate and f not in outcome.new]
    if request.close_old_findings:
        for finding in to_mitigate:
            if not finding.mitigated or not finding.is_mitigated:
                _mitigate(finding, request, f"Mitigated by {test.scan_type} re-upload.")
                outcome.closed.append(finding)
    _update_test(test, request)
    return outcome


def deduplication_ordering_key(finding: Any, hash_code: str | None) -> tuple[str, str, str, int, str, int]:
    """``deduplication_ordering_key`` of an unsaved finding (no id yet, so the last element is always 0).

    Intra-report duplicates then resolve the same way whatever order the scanner wrote them in: the first in this
    order is created (or matched), the later ones match it. Python's sort is stable, as upstream relies on.
    """
    line = getattr(finding, "line", None)
    return (
        hash_code or "",
        getattr(finding, "unique_id_from_tool", None) or "",
        getattr(finding, "file_path", None) or "",
        line if line is not None else -1,
        finding.title or "",
        0,
    )


def _close_old_findings_on_import(store: Store, request: ScanRequest, test: Test) -> None:
    """``DefaultImporter.close_old_findings``: same test type, other tests in the engagement (or product), open or
    risk accepted, not in the new report, and with the sent service (or without one when none is sent)."""
    new_keys = {f.dedupe_key for f in store.findings_of_test(test.id) if not f.is_mitigated}
    engagement = store.engagements[test.engagement]
    for finding in sorted(store.findings.values(), key=lambda f: f.id):
        if finding.test == test.id or finding.test_type != test.test_type or finding.dedupe_key in new_keys:
            continue
        if not (finding.active or finding.risk_accepted):
            continue
        if request.close_old_findings_product_scope:
            in_scope = store.finding_in(finding, product=engagement.product)
        else:
            in_scope = store.finding_in(finding, engagement=engagement.id)
        same_service = finding.service == request.service if request.service is not None else not finding.service
        if in_scope and same_service:
            _mitigate(
                finding,
                request,
                f'This Finding has been automatically closed by the Test: \n "{test.title}"\n'
                "\n\nThis is because this Finding is not present anymore in recent scans.",
            )


def _parse(parser: ParserModule, request: ScanRequest) -> list[_Parsed]:
    """Parse, sanitize severities, drop those below ``minimum_severity``, apply the service, compute the keys."""
    content = request.upload.content if request.upload else b""
    parser_error = getattr(parser, "ParserError", ValueError)
    try:
        raw = list(parser.parse(request.scan_type, content))
    except (parser_error, ValueError) as exc:
        # BaseImporter.parse_findings_static_test_type: ValueError -> django ValidationError -> 400 {"message"}
        raise django_validation_error(str(exc)) from exc
    except Exception as exc:
        # Anything else (a KeyError on an unexpected document) reaches the handler unhandled: 500.
        raise internal_error() from exc
    parsed: list[_Parsed] = []
    for finding in raw:
        severity = _sanitize_severity(finding.severity)
        if below_minimum(severity, request.minimum_severity):
            continue
        changes: dict[str, Any] = {}
        if severity != finding.severity:
            changes["severity"] = severity
        if request.service is not None:
            changes["service"] = request.service  # set before the hash: HASH_CODE_FIELDS_ALWAYS = ["service"]
        prepared = _replace(finding, changes) if changes else finding
        try:
            keys = parser.hash_code(request.scan_type, prepared), parser.dedupe_key(request.scan_type, prepared)
        except Exception as exc:
            raise internal_error() from exc
        parsed.append(_Parsed(prepared, *keys))
    return parsed


def _sanitize_severity(severity: str) -> str:
    """``BaseImporter.sanitize_severity``: Info-ish spellings become Info; anything else unknown is a KeyError."""
    if severity in SEVERITY_RANK:
        return severity
    if str(severity).lower().startswith("info") or str(severity).lower() == "none":
        return "Info"
    raise internal_error()


def _replace(finding: Any, changes: dict[str, Any]) -> Any:
    if dataclasses.is_dataclass(finding) and not isinstance(finding, type):
        return dataclasses.replace(finding, **changes)
    clone = copy.copy(finding)
    for name, value in changes.items():
        object.__setattr__(clone, name, value)
    return clone


def _new_finding(store: Store, test: Test, parsed: _Parsed, request: ScanRequest) -> Finding:
    source = parsed.finding
    return Finding(
        id=store.next_id("finding"),
        test=test.id,
        test_type=test.test_type,
        title=source.title,
        severity=source.severity,
        date=(request.scan_date or utcnow().date()),
        hash_code=parsed.hash_code,
        dedupe_key=parsed.dedupe_key,
        description=source.description or "",
        mitigation=source.mitigation,
        references=source.references,
        component_name=source.component_name,
        component_version=source.component_version,
        vuln_id_from_tool=source.vuln_id_from_tool,
        unique_id_from_tool=source.unique_id_from_tool,
        vulnerability_ids=tuple(source.vulnerability_ids or ()),
        file_path=source.file_path,
        service=source.service,
        static_finding=bool(source.static_finding),
        dynamic_finding=bool(source.dynamic_finding),
        active=True if request.active is None else request.active,
        verified=False if request.verified is None else request.verified,
    )


def _reactivate(finding: Finding, request: ScanRequest) -> None:
    """``process_matched_mitigated_finding``: un-mitigate; a duplicate stays inactive and unverified."""
    finding.mitigated, finding.is_mitigated, finding.mitigated_by = None, False, None
    if finding.duplicate:
        finding.active, finding.verified = False, False
    else:
        finding.active = True
        if request.verified is not None:
            finding.verified = request.verified
    finding.last_status_update = utcnow()
    _note(finding, f"Re-activated by {request.scan_type} re-upload.")


def _mitigate(finding: Finding, request: ScanRequest, message: str) -> None:
    """``BaseImporter.mitigate_finding``: inactive, mitigated at the scan date, a note saying why."""
    finding.active, finding.is_mitigated = False, True
    if finding.mitigated is None:
        finding.mitigated = _scan_time(request)
    finding.mitigated_by = USER_ID
    finding.last_status_update = utcnow()
    _note(finding, message)


def _note(finding: Finding, entry: str, *, once: bool = False) -> None:
    if not (once and entry in finding.notes):
        finding.notes.append(entry)


def _update_test(test: Test, request: ScanRequest) -> None:
    """``update_timestamps`` / ``update_test_meta`` / ``update_test_tags``: only what was sent replaces."""
    test.target_end = max(test.target_end, _scan_time(request))
    for name in ("version", "build_id", "branch_tag", "commit_hash"):
        if getattr(request, name) is not None:
            setattr(test, name, getattr(request, name))
    if request.tags:
        test.tags = list(request.tags)
    test.percent_complete = 100
    test.updated = utcnow()


def _scan_time(request: ScanRequest) -> datetime:
    if request.scan_date is None:
        return utcnow()
    return datetime.combine(request.scan_date, time.min, tzinfo=utcnow().tzinfo)
