"""The stand-in's DefectDojo objects and the JSON API v2 renders for them.

Field names, defaults and the statistics block follow ``dojo/models.py`` (``STATS_FIELDS``, ``DEFAULT_STATS``,
``IMPORT_ACTIONS``, ``_get_statistics_for_queryset``) and the model serializers, trimmed to what a client can
reasonably read. Everything lives in one :class:`Store` that the server guards with a single lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

JsonObject = dict[str, Any]

# dojo/models.py Finding.SEVERITIES: the rank the importers compare against minimum_severity (lower is worse).
SEVERITY_RANK = {"Critical": 0, "High": 1, "Medium": 2, "Low": 3, "Info": 4}
# dojo/models.py SEVERITIES (from SEVERITY_CHOICES): the order DEFAULT_STATS lists them in.
SEVERITIES = ("Info", "Low", "Medium", "High", "Critical")
# dojo/models.py STATS_FIELDS without the trailing "total", which counts every finding.
STATS_FIELDS = ("active", "verified", "duplicate", "false_p", "out_of_scope", "is_mitigated", "risk_accepted")
# dojo/models.py IMPORT_ACTIONS labels: the keys of statistics.delta in a reimport response.
CREATED, CLOSED, REACTIVATED, UNTOUCHED = "created", "closed", "reactivated", "left untouched"
# The Development_Environment every import falls back to (setup_common_context: data.get("environment", ...)).
DEFAULT_ENVIRONMENT_ID = 1
# The user behind the stand-in's tokens; DefectDojo's fixtures create the admin as user 1.
USER_ID = 1


def utcnow() -> datetime:
    return datetime.now(UTC)


def stamp(value: datetime | None) -> str | None:
    """Django REST framework's DateTimeField output with USE_TZ and UTC: ISO 8601 with a ``Z``."""
    return value.isoformat().replace("+00:00", "Z") if value else None


@dataclass
class ProductType:
    id: int
    name: str
    description: str = ""
    critical_product: bool = False
    key_product: bool = False
    created: datetime = field(default_factory=utcnow)

    def to_json(self) -> JsonObject:
        return {
            "id": self.id, "name": self.name, "description": self.description,
            "critical_product": self.critical_product, "key_product": self.key_product,
            "updated": stamp(self.created), "created": stamp(self.created), "members": [USER_ID],
            "authorization_groups": [],
        }  # fmt: skip


@dataclass
class Product:
    id: int
    name: str
    description: str
    prod_type: int
    enable_simple_risk_acceptance: bool = False
    tags: list[str] = field(default_factory=list)
    created: datetime = field(default_factory=utcnow)

    def to_json(self, findings_count: int) -> JsonObject:
        return {
            "id": self.id, "findings_count": findings_count, "findings_list": [], "tags": list(self.tags),
            "product_meta": [], "name": self.name, "description": self.description, "created": stamp(self.created),
            "prod_numeric_grade": None, "business_criticality": None, "platform": None, "lifecycle": None,
            "origin": None, "user_records": None, "revenue": None, "external_audience": False,
            "internet_accessible": False, "enable_product_tag_inheritance": False,
            "enable_simple_risk_acceptance": self.enable_simple_risk_acceptance,
            "enable_full_risk_acceptance": True, "disable_sla_breach_notifications": False,
            "product_manager": None, "technical_contact": None, "team_manager": None, "prod_type": self.prod_type,
            "sla_configuration": 1, "regulations": [], "members": [USER_ID], "authorization_groups": [],
        }  # fmt: skip


@dataclass
class Engagement:
    id: int
    name: str | None
    product: int
    target_start: date
    target_end: date
    engagement_type: str = "Interactive"
    status: str = ""
    deduplication_on_engagement: bool = False
    source_code_management_uri: str | None = None
    description: str | None = None
    version: str | None = None
    build_id: str | None = None
    commit_hash: str | None = None
    branch_tag: str | None = None
    active: bool = True
    tags: list[str] = field(default_factory=list)
    created: datetime = field(default_factory=utcnow)
    updated: datetime = field(default_factory=utcnow)

    def to_json(self) -> JsonObject:
        return {
            "id": self.id, "tags": list(self.tags), "name": self.name, "description": self.description,
            "version": self.version, "first_contacted": None, "target_start": self.target_start.isoformat(),
            "target_end": self.target_end.isoformat(), "reason": None, "updated": stamp(self.updated),
            "created": stamp(self.created), "active": self.active, "tracker": None, "test_strategy": None,
            "threat_model": True, "api_test": True, "pen_test": True, "check_list": True, "status": self.status,
            "progress": "threat_model", "tmodel_path": "none", "done_testing": False,
            "engagement_type": self.engagement_type, "build_id": self.build_id, "commit_hash": self.commit_hash,
            "branch_tag": self.branch_tag, "source_code_management_uri": self.source_code_management_uri,
            "deduplication_on_engagement": self.deduplication_on_engagement, "lead": USER_ID, "requester": None,
            "preset": None, "report_type": None, "product": self.product, "build_server": None,
            "source_code_management_server": None, "orchestration_engine": None, "notes": [], "files": [],
            "risk_acceptance": [],
        }  # fmt: skip


@dataclass
class Test:
    id: int
    engagement: int
    scan_type: str
    test_type: int
    title: str | None
    target_start: datetime
    target_end: datetime
    percent_complete: int = 50
    version: str | None = None
    build_id: str | None = None
    commit_hash: str | None = None
    branch_tag: str | None = None
    tags: list[str] = field(default_factory=list)
    created: datetime = field(default_factory=utcnow)
    updated: datetime = field(default_factory=utcnow)

    def to_json(self) -> JsonObject:
        return {
            "id": self.id, "tags": list(self.tags), "test_type_name": self.scan_type, "finding_groups": [],
            "scan_type": self.scan_type, "title": self.title, "description": None,
            "target_start": stamp(self.target_start), "target_end": stamp(self.target_end),
            "estimated_time": None, "actual_time": None, "percent_complete": self.percent_complete,
            "updated": stamp(self.updated), "created": stamp(self.created), "version": self.version,
            "build_id": self.build_id, "commit_hash": self.commit_hash, "branch_tag": self.branch_tag,
            "engagement": self.engagement, "lead": USER_ID, "test_type": self.test_type,
            "environment": DEFAULT_ENVIRONMENT_ID, "api_scan_configuration": None, "notes": [], "files": [],
        }  # fmt: skip


@dataclass(eq=False)
class Finding:
    """A row: compared and hashed by identity, as the importers' sets of model instances effectively are."""

    id: int
    test: int
    test_type: int
    title: str
    severity: str
    date: date
    hash_code: str
    dedupe_key: str
    description: str = ""
    mitigation: str | None = None
    references: str | None = None
    component_name: str | None = None
    component_version: str | None = None
    vuln_id_from_tool: str | None = None
    unique_id_from_tool: str | None = None
    vulnerability_ids: tuple[str, ...] = ()
    file_path: str | None = None
    service: str | None = None
    static_finding: bool = False
    dynamic_finding: bool = True
    active: bool = True
    verified: bool = False
    false_p: bool = False
    duplicate: bool = False
    out_of_scope: bool = False
    risk_accepted: bool = False
    under_review: bool = False
    is_mitigated: bool = False
    mitigated: datetime | None = None
    mitigated_by: int | None = None
    notes: list[str] = field(default_factory=list)
    created: datetime = field(default_factory=utcnow)
    last_status_update: datetime = field(default_factory=utcnow)

    def to_json(self) -> JsonObject:
        return {
            "id": self.id, "tags": [], "request_response": {"req_resp": []}, "accepted_risks": [],
            "push_to_jira": False, "finding_meta": [], "finding_groups": [],
            "vulnerability_ids": [{"vulnerability_id": value} for value in self.vulnerability_ids],
            "reporter": USER_ID, "title": self.title, "date": self.date.isoformat(), "cwe": 0, "url": None,
            "severity": self.severity, "description": self.description, "mitigation": self.mitigation,
            "impact": None, "steps_to_reproduce": None, "severity_justification": None,
            "references": self.references, "active": self.active, "verified": self.verified,
            "false_p": self.false_p, "duplicate": self.duplicate, "out_of_scope": self.out_of_scope,
            "risk_accepted": self.risk_accepted, "under_review": self.under_review,
            "last_status_update": stamp(self.last_status_update), "under_defect_review": False,
            "is_mitigated": self.is_mitigated, "thread_id": 0, "mitigated": stamp(self.mitigated),
            "numerical_severity": f"S{SEVERITY_RANK[self.severity]}", "param": None, "payload": None,
            "hash_code": self.hash_code, "line": None, "file_path": self.file_path,
            "component_name": self.component_name, "component_version": self.component_version,
            "static_finding": self.static_finding, "dynamic_finding": self.dynamic_finding,
            "created": stamp(self.created), "scanner_confidence": None,
            "unique_id_from_tool": self.unique_id_from_tool, "vuln_id_from_tool": self.vuln_id_from_tool,
            "nb_occurences": None, "publish_date": None, "service": self.service, "test": self.test,
            "duplicate_finding": None, "review_requested_by": None, "defect_review_requested_by": None,
            "mitigated_by": self.mitigated_by, "last_reviewed": stamp(self.created), "last_reviewed_by": USER_ID,
            "sonarqube_issue": None, "endpoints": [], "reviewers": [], "files": [], "found_by": [self.test_type],
            "notes": [{"id": index + 1, "entry": entry} for index, entry in enumerate(self.notes)],
        }  # fmt: skip


def statistics(findings: Iterable[Finding]) -> JsonObject:
    """``_get_statistics_for_queryset``: per lower-cased severity and in total, how many findings carry each flag."""
    stats: JsonObject = {severity.lower(): dict.fromkeys((*STATS_FIELDS, "total"), 0) for severity in SEVERITIES}
    stats["total"] = dict.fromkeys((*STATS_FIELDS, "total"), 0)
    for finding in findings:
        for bucket in (stats[finding.severity.lower()], stats["total"]):
            bucket["total"] += 1
            for flag in STATS_FIELDS:
                bucket[flag] += int(getattr(finding, flag))
    return stats


class Store:
    """Every object by id, ids handed out as a database sequence would (never reused, ascending)."""

    def __init__(self) -> None:
        self.product_types: dict[int, ProductType] = {}
        self.products: dict[int, Product] = {}
        self.engagements: dict[int, Engagement] = {}
        self.tests: dict[int, Test] = {}
        self.findings: dict[int, Finding] = {}
        self.test_types: dict[str, int] = {}
        self._sequences: dict[str, int] = {}

    def next_id(self, kind: str) -> int:
        self._sequences[kind] = self._sequences.get(kind, 0) + 1
        return self._sequences[kind]

    def test_type_id(self, name: str) -> int:
        """``get_or_create_test_type``: the importer creates the Test_Type named after the scan type on first use."""
        if name not in self.test_types:
            self.test_types[name] = self.next_id("test_type")
        return self.test_types[name]

    def findings_of_test(self, test_id: int) -> list[Finding]:
        return [finding for finding in self.findings.values() if finding.test == test_id]

    def product_of_test(self, test: Test) -> Product:
        return self.products[self.engagements[test.engagement].product]

    def test_statistics(self, test_id: int) -> JsonObject:
        """``Test.statistics``: the statistics of every finding in the test."""
        return statistics(self.findings_of_test(test_id))

    def finding_in(self, finding: Finding, *, product: int | None = None, engagement: int | None = None) -> bool:
        test = self.tests[finding.test]
        if engagement is not None and test.engagement != engagement:
            return False
        return product is None or self.engagements[test.engagement].product == product
