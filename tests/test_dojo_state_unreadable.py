"""A DefectDojo state the archive holds but cannot give back stops the sync before anything is sent.

The state is what keeps a split test's findings in their parts (plan.PartsBefore) and what the valve counts
closes against. Read as "no state" after a failed read (an outage, a read cut short), a night laid split tests out
as on a first night, moved findings between parts (DefectDojo closes them in one and opens them anew in another,
losing their triage) and then overwrote the state with tonight's tests alone. Only a state that is certainly absent
(the store answered, and it is not there) is a first night. A state that cannot be saved after the reimports costs
only a resend the next night.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.archive import keys
from exporter.archive.filestore import FileStore
from exporter.dojo.state import load_state
from exporter.errors import ArchiveError, DojoError
from tests.dojo_harness import TOKEN, Harness, cve, report
from tests.dojo_standin import DojoStandin

LIMIT = 4096
CVES = [cve(f"CVE-2024-{n:04d}", f"package-{n}") for n in range(40)]
MORE = [cve(f"CVE-2025-{n:04d}", f"package-{n}") for n in range(40, 80)]
STATE = keys.dojo_state_key("prod")


class RefusingState(FileStore):
    """A directory archive whose state object exists but cannot be read, as an S3 store failing every retry."""

    def get_bytes(self, key: str) -> bytes:
        if key == STATE:
            raise ArchiveError(f"cannot download s3://bucket/{key}: the S3 store stopped answering; check its health")
        return super().get_bytes(key)


@pytest.fixture
def dojo() -> Iterator[DojoStandin]:
    with DojoStandin(token=TOKEN, proxy_max_body_bytes=LIMIT + 2048) as standin:
        yield standin


def web(*vulnerabilities: dict[str, Any]) -> dict[str, Any]:
    return report("shop", "web-6d4cf56db6", *vulnerabilities)


def test_a_state_that_cannot_be_read_sends_nothing_closes_nothing_and_is_kept(harness: Harness) -> None:
    harness.sync([web(*CVES)], max_document_bytes=LIMIT)
    harness.sync([web(*CVES, *MORE)], max_document_bytes=LIMIT)  # grown: the parts kept by the state, not by count
    saved = harness.store.get_bytes(STATE)
    harness.store = RefusingState(harness.store.url)
    harness.dojo.clear_requests()
    with pytest.raises(DojoError, match=r"^cannot read the DefectDojo state, nothing was sent: .*stopped answering"):
        harness.sync([web(*CVES[1:], *MORE)], max_document_bytes=LIMIT)
    assert harness.dojo.requests == [], "not one call: no reimport without the state"
    assert len(harness.dojo.findings(active=True)) == 80
    assert FileStore(harness.store.url).get_bytes(STATE) == saved, "the state is not overwritten"


def test_without_the_state_the_grown_split_would_move_findings(harness: Harness) -> None:
    """Why a failed read must not be taken for a first night: the same night from an empty state moves findings."""
    harness.sync([web(*CVES)], max_document_bytes=LIMIT)
    harness.sync([web(*CVES, *MORE)], max_document_bytes=LIMIT)
    where = {f["title"]: f["test"] for f in harness.dojo.findings()}
    kept = harness.sync([web(*CVES, *MORE)], max_document_bytes=LIMIT)
    assert kept.reimported == [] and harness.dojo.findings(active=False) == []
    harness.store.delete([STATE])
    harness.sync([web(*CVES, *MORE)], max_document_bytes=LIMIT)
    moved = [f for f in harness.dojo.findings() if f["title"] in where and f["test"] != where[f["title"]]]
    assert moved or harness.dojo.findings(active=False), "an empty state lays the test out as a first night"


def test_a_state_that_is_not_json_is_an_error_naming_what_to_do(tmp_path: Path) -> None:
    store = FileStore(tmp_path.as_uri())
    store.put_bytes(b'{"schema_version": 1, "tests": {"trivy-op', STATE)
    with pytest.raises(DojoError, match=r"is not JSON .*restore it from a backup of the bucket, or delete it"):
        load_state(store, "prod")


def test_a_state_certainly_absent_is_a_first_night(tmp_path: Path) -> None:
    assert load_state(FileStore(tmp_path.as_uri()), "prod").tests == {}
    assert load_state(None, "prod").tests == {}


class RefusingSave(FileStore):
    """A directory archive that takes every object but the state, as an S3 store failing the state's PUT."""

    def put_bytes(self, data: bytes, key: str) -> None:
        if key == STATE:
            raise ArchiveError(f"cannot upload s3://bucket/{key}: the S3 store answered 500 InternalError")
        super().put_bytes(data, key)


def test_a_state_that_cannot_be_saved_costs_a_resend_and_closes_or_doubles_nothing(harness: Harness) -> None:
    """The reimports DefectDojo accepted stand; the state keeps the night before. The next night finds the grown
    test's new placement again (by hash, from the same state) and sends it once more: nothing closed, nothing
    opened twice, and the night after sends nothing."""
    harness.sync([web(*CVES)], max_document_bytes=LIMIT)
    working = harness.store
    harness.store = RefusingSave(working.url)
    with pytest.raises(ArchiveError, match="500 InternalError"):
        harness.sync([web(*CVES, *MORE)], max_document_bytes=LIMIT)
    placed = {f["title"]: (f["id"], f["test"]) for f in harness.dojo.findings()}
    harness.store = working
    again = harness.sync([web(*CVES, *MORE)], max_document_bytes=LIMIT)
    assert again.reimported and again.failed == []
    assert {f["title"]: (f["id"], f["test"]) for f in harness.dojo.findings()} == placed
    assert len(placed) == 80 and len(harness.dojo.findings(active=True)) == 80
    assert harness.sync([web(*CVES, *MORE)], max_document_bytes=LIMIT).reimported == []
