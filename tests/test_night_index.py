"""exporter.archive.night_index: the report page's index of nights is a cache the archive's listing overrules.

Each test archives literal nights (tests/report_fixtures.py) with their manifests, publishes the page, and then
changes the archive behind the index's back: a run pruned, a run added without a row, the index deleted or damaged,
a summary rewritten, a read that fails. The page must always be the one built from every summary, and only the runs
the index lacks may be read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from exporter.archive import keys
from exporter.archive.filestore import FileStore
from exporter.archive.night_index import (
    INDEX_VERSION,
    ListedRun,
    Stamp,
    decode_index,
    index_key,
    listed_runs,
    read_nights,
    save_index,
)
from exporter.archive.runs import list_runs
from exporter.archive.store import Store, StoredObject
from exporter.archive.summaries import read_summaries
from exporter.errors import ArchiveError
from exporter.report import render_report
from exporter.report_page import build_report, publish_report
from tests.archive_helpers import moto_s3
from tests.report_fixtures import (
    CLUSTER,
    GENERATED_AT,
    NIGHT_1,
    NIGHT_2,
    NIGHT_3,
    NIGHT_4_ID,
    NIGHT_5,
    NIGHT_6,
    NIGHT_7_ID,
    night,
)
from tests.swift_service import OLD_VERSION, SwiftS3, start_swift

INDEX = "prod-eu/nights.json"
PAGE = "prod-eu/report.html"


class SpyStore(FileStore):
    """A directory archive that records every object read, and fails the reads (or writes) it is told to."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.read: list[str] = []
        self.failing: set[str] = set()

    def get_bytes(self, key: str) -> bytes:
        self.read.append(key)
        if key in self.failing:
            raise ArchiveError(f"the store refused {key} (injected)")
        return super().get_bytes(key)

    def put_bytes(self, data: bytes, key: str) -> None:
        if key in self.failing:
            raise ArchiveError(f"the store refused to write {key} (injected)")
        super().put_bytes(data, key)


@pytest.fixture
def store(tmp_path: Path) -> SpyStore:
    archive = SpyStore((tmp_path / "archive").as_uri())
    archive.check()
    return archive


def manifest(run_id: str, failed: tuple[str, ...] = ()) -> dict[str, Any]:
    kinds = [{"plural": "vulnerabilityreports", "kind": "VulnerabilityReport", "status": "complete"}]
    kinds += [{"plural": plural, "kind": plural, "status": "failed", "error": "403"} for plural in failed]
    return {"run_id": run_id, "cluster": CLUSTER, "status": "partial" if failed else "complete", "kinds": kinds}


def archive_night(store: Store, run_id: str, summary: dict[str, Any] | None, *, finished: bool = True) -> None:
    """A run as the uploader leaves it: a report file, the manifest (unless still uploading), then the summary."""
    store.put_bytes(b"\x1f\x8b", keys.run_file_key(CLUSTER, run_id, "reports/aquasecurity.github.io/x.jsonl.gz"))
    if finished:
        failed = tuple(summary["failed_kinds"]) if summary else ()
        store.put_bytes(json.dumps(manifest(run_id, failed)).encode(), keys.manifest_key(CLUSTER, run_id))
    if summary is not None:
        store.put_bytes(json.dumps(summary).encode(), keys.summary_key(CLUSTER, run_id))


def archive_fixture_nights(store: Store) -> None:
    """Nights 1 to 7: night 3 and 6 partial, night 4 without a summary, night 7 still uploading."""
    for summary in (NIGHT_1, NIGHT_2, NIGHT_3):
        archive_night(store, summary["run_id"], summary)
    archive_night(store, NIGHT_4_ID, None)
    for summary in (NIGHT_5, NIGHT_6):
        archive_night(store, summary["run_id"], summary)
    archive_night(store, NIGHT_7_ID, None, finished=False)


def page_from_summaries(store: Store) -> str:
    """The page as it was built before the index: every manifest and every summary read."""
    return render_report(CLUSTER, read_summaries(store, CLUSTER), list_runs(store, CLUSTER), generated_at=GENERATED_AT)


def publish(store: SpyStore) -> str:
    store.read.clear()
    publish_report(store, CLUSTER, now=GENERATED_AT)
    return store.get_bytes(PAGE).decode()


def stored_rows(store: Store) -> dict[str, Any]:
    return {row["trend"]["run_id"]: row for row in json.loads(store.get_bytes(INDEX))["nights"]}


def test_the_index_lives_beside_the_page_outside_the_runs() -> None:
    assert index_key("prod") == "prod/nights.json"
    assert not index_key("prod").startswith(keys.cluster_runs_prefix("prod")), "retention never sees it"


def test_index_rows_hold_each_nights_numbers_and_its_manifests_status(store: SpyStore) -> None:
    archive_fixture_nights(store)
    publish(store)
    rows = stored_rows(store)
    assert list(rows) == [NIGHT_1["run_id"], NIGHT_2["run_id"], NIGHT_3["run_id"], NIGHT_4_ID, NIGHT_5["run_id"],
                          NIGHT_6["run_id"], NIGHT_7_ID]  # fmt: skip
    sixth = rows[NIGHT_6["run_id"]]
    assert sixth["trend"] == {
        "run_id": "20261122T020000Z-0f06", "summarized": True, "outcome": "partial",
        "active": [3, 21, 39, 11, 2], "new": [0, 2, 2, 0, 0], "closed": [0, 0, 1, 1, 0],
        "namespaces": {"shop": 34, "payments": 21, "kube-system": 12, "monitoring": 4, "cluster": 5},
    }  # fmt: skip
    assert sixth["partial"] is True and sixth["failed_kinds"] == ["configauditreports", "rbacassessmentreports"]
    assert rows[NIGHT_1["run_id"]]["trend"]["active"] == [4, 22, 41, 12, 3]
    assert "partial" not in rows[NIGHT_1["run_id"]], "complete is the default, left out"
    assert rows[NIGHT_4_ID]["trend"] == {"run_id": NIGHT_4_ID}, "no summary: no numbers, not zeros"
    assert "manifest" not in rows[NIGHT_7_ID] and "summary" not in rows[NIGHT_7_ID]


def test_the_page_from_the_index_is_the_page_from_every_summary(store: SpyStore) -> None:
    archive_fixture_nights(store)
    expected = page_from_summaries(store)
    assert publish(store) == expected, "cold: the index is built"
    assert publish(store) == expected, "warm: the index is used"
    assert build_report(store, CLUSTER, now=GENERATED_AT) == expected
    nights = read_nights(store, CLUSTER)
    assert nights.runs == list_runs(store, CLUSTER)
    assert [(trend.run_id, trend.findings("active")) for trend in nights.trends][-3:] == [
        (NIGHT_5["run_id"], {"critical": 3, "high": 19, "medium": 38, "low": 12, "info": 2}),
        (NIGHT_6["run_id"], {"critical": 3, "high": 21, "medium": 39, "low": 11, "info": 2}),
        (NIGHT_7_ID, None),
    ]
    assert nights.latest == (NIGHT_6["run_id"], NIGHT_6) and not nights.stale


def test_a_warm_night_reads_the_index_and_the_newest_summary_only(store: SpyStore) -> None:
    archive_fixture_nights(store)
    publish(store)
    publish(store)
    assert sorted(store.read) == sorted([INDEX, keys.summary_key(CLUSTER, NIGHT_6["run_id"]), PAGE])


def test_a_run_without_a_row_is_read_and_only_it(store: SpyStore) -> None:
    archive_fixture_nights(store)
    publish(store)
    eighth = night("20261124T020000Z-1b08", "complete", (2, 20, 39, 11, 2), (0, 1, 0, 0, 0), (1, 2, 0, 0, 0),
                   {"shop": (1, 9, 18, 5, 1), "payments": (1, 6, 10, 2, 0)})  # fmt: skip
    archive_night(store, eighth["run_id"], eighth)  # a night that archived its summary, then failed before the page
    page = publish(store)
    assert sorted(store.read) == sorted([INDEX, keys.manifest_key(CLUSTER, eighth["run_id"]),
                                         keys.summary_key(CLUSTER, eighth["run_id"]), PAGE])  # fmt: skip
    assert page == page_from_summaries(store)
    assert "last summarized night 20261124T020000Z-1b08" in page
    assert stored_rows(store)[eighth["run_id"]]["trend"]["active"] == [2, 20, 39, 11, 2]


def test_a_pruned_run_leaves_the_index_and_the_page(store: SpyStore) -> None:
    archive_fixture_nights(store)
    publish(store)
    pruned = NIGHT_2["run_id"]
    store.delete([stored.key for stored in store.list(keys.run_prefix(CLUSTER, pruned))])
    page = publish(store)
    assert store.read == [INDEX, keys.summary_key(CLUSTER, NIGHT_6["run_id"]), PAGE], "nothing else is read"
    assert pruned not in stored_rows(store) and pruned not in page
    assert page == page_from_summaries(store)


def test_a_run_whose_manifest_is_gone_is_incomplete_whatever_its_row_says(store: SpyStore) -> None:
    archive_fixture_nights(store)
    publish(store)
    store.delete([keys.manifest_key(CLUSTER, NIGHT_5["run_id"])])
    nights = read_nights(store, CLUSTER)
    (fifth,) = [run for run in nights.runs if run.run_id == NIGHT_5["run_id"]]
    assert fifth.status == "incomplete"
    assert publish(store) == page_from_summaries(store)


@pytest.mark.parametrize(
    "stored",
    [
        b"{not json",
        b"[]",
        json.dumps({"version": INDEX_VERSION + 1, "cluster": CLUSTER, "nights": []}).encode(),
        json.dumps({"version": INDEX_VERSION, "cluster": "prod-us", "nights": []}).encode(),
        json.dumps({"version": INDEX_VERSION, "cluster": CLUSTER,
                    "nights": [{"trend": {"run_id": NIGHT_1["run_id"], "active": [1, 2, 3, 4, -5]}}]}).encode(),
        json.dumps({"version": INDEX_VERSION, "cluster": CLUSTER,
                    "nights": [{"trend": {"run_id": NIGHT_1["run_id"]}, "partial": True}]}).encode(),
    ],
    ids=["not-json", "not-an-object", "newer-version", "other-cluster", "negative-count", "partial-without-manifest"],
)  # fmt: skip
def test_a_corrupt_index_is_rebuilt_with_a_warning(
    store: SpyStore, stored: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    archive_fixture_nights(store)
    expected = page_from_summaries(store)
    store.put_bytes(stored, INDEX)
    with caplog.at_level(logging.WARNING):
        assert publish(store) == expected
    assert "the index of nights prod-eu/nights.json is not used" in caplog.text
    assert len(stored_rows(store)) == 7, "rebuilt and stored"


def test_a_missing_index_is_rebuilt_without_a_warning(store: SpyStore, caplog: pytest.LogCaptureFixture) -> None:
    archive_fixture_nights(store)
    publish(store)
    built = stored_rows(store)
    store.delete([INDEX])
    with caplog.at_level(logging.WARNING):
        publish(store)
    assert stored_rows(store) == built and caplog.text == ""


def test_a_rewritten_summary_is_read_again(store: SpyStore) -> None:
    archive_fixture_nights(store)
    publish(store)
    fixed = {**NIGHT_3, "outcome": "complete", "failed_kinds": []}
    store.put_bytes(json.dumps(fixed, indent=2).encode(), keys.summary_key(CLUSTER, NIGHT_3["run_id"]))
    publish(store)
    assert stored_rows(store)[NIGHT_3["run_id"]]["trend"]["outcome"] == "complete"
    assert keys.summary_key(CLUSTER, NIGHT_3["run_id"]) in store.read


def test_a_summary_that_fails_to_read_is_shown_missing_and_never_remembered(store: SpyStore) -> None:
    archive_fixture_nights(store)
    third = keys.summary_key(CLUSTER, NIGHT_3["run_id"])
    store.failing.add(third)
    publish(store)
    assert NIGHT_3["run_id"] not in stored_rows(store), "a failed read is not cached"
    assert read_nights(store, CLUSTER).trends[2].summarized is False
    store.failing.clear()
    assert publish(store) == page_from_summaries(store)
    assert third in store.read and stored_rows(store)[NIGHT_3["run_id"]]["trend"]["summarized"] is True


def test_the_newest_summary_unreadable_now_falls_back_to_the_night_before(store: SpyStore) -> None:
    archive_fixture_nights(store)
    publish(store)
    store.failing.add(keys.summary_key(CLUSTER, NIGHT_6["run_id"]))
    nights = read_nights(store, CLUSTER)
    assert nights.latest == (NIGHT_5["run_id"], NIGHT_5)
    assert NIGHT_6["run_id"] not in {row.run_id for row in nights.rows} and nights.stale


def test_an_index_that_cannot_be_stored_is_a_warning_and_the_page_is_published(
    store: SpyStore, caplog: pytest.LogCaptureFixture
) -> None:
    archive_fixture_nights(store)
    store.failing.add(INDEX)
    with caplog.at_level(logging.WARNING):
        page = publish(store)
    assert page == page_from_summaries(store)
    assert "the index of nights prod-eu/nights.json was not stored" in caplog.text


def test_the_last_of_two_writers_wins_and_the_loser_s_run_is_read_back(store: SpyStore) -> None:
    archive_fixture_nights(store)
    publish(store)
    before = read_nights(store, CLUSTER)  # writer A reads, then writer B archives a night and publishes
    eighth = night("20261124T020000Z-1b08", "complete", (2, 20, 39, 11, 2), (0, 0, 0, 0, 0), (0, 0, 0, 0, 0), {})
    archive_night(store, eighth["run_id"], eighth)
    publish(store)
    save_index(store, CLUSTER, before.rows)  # A stores last, without B's night
    assert eighth["run_id"] not in stored_rows(store)
    assert publish(store) == page_from_summaries(store)
    assert keys.summary_key(CLUSTER, eighth["run_id"]) in store.read and eighth["run_id"] in stored_rows(store)


def test_report_reads_the_index_but_writes_nothing(store: SpyStore) -> None:
    archive_fixture_nights(store)
    page = build_report(store, CLUSTER, absolute_links=True, now=GENERATED_AT)
    assert f'href="{store.url}/prod-eu/runs/2026/11/22/20261122T020000Z-0f06/manifest.json"' in page
    assert not [stored for stored in store.list("prod-eu/") if not stored.key.startswith("prod-eu/runs/")]


def test_decode_index_reads_what_encode_wrote(store: SpyStore) -> None:
    archive_fixture_nights(store)
    rows = read_nights(store, CLUSTER).rows
    save_index(store, CLUSTER, rows)
    assert tuple(decode_index(store.get_bytes(INDEX), CLUSTER).values()) == rows


@pytest.fixture
def moto_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Store]:
    import boto3

    from exporter.archive.s3store import S3Store
    from exporter.config import ArchiveSettings

    with moto_s3(monkeypatch, tmp_path):
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="archive")
        yield S3Store(ArchiveSettings(destination="s3://archive/nightly", region="us-east-1", max_attempts=1))


def test_the_index_on_s3_moto(moto_store: Store) -> None:
    archive_fixture_nights(moto_store)
    expected = page_from_summaries(moto_store)
    for _ in range(2):  # cold, then warm
        publish_report(moto_store, CLUSTER, now=GENERATED_AT)
        assert moto_store.get_bytes(PAGE).decode() == expected
    moto_store.delete([keys.manifest_key(CLUSTER, NIGHT_1["run_id"]), keys.summary_key(CLUSTER, NIGHT_1["run_id"])])
    moto_store.delete([stored.key for stored in moto_store.list(keys.run_prefix(CLUSTER, NIGHT_1["run_id"]))])
    publish_report(moto_store, CLUSTER, now=GENERATED_AT)
    assert NIGHT_1["run_id"] not in stored_rows(moto_store)
    assert moto_store.get_bytes(PAGE).decode() == page_from_summaries(moto_store)


def test_stamps_are_the_listings_size_and_time(store: SpyStore) -> None:
    archive_night(store, NIGHT_1["run_id"], NIGHT_1)
    (listed,) = [s for s in store.list("prod-eu/") if s.key == keys.summary_key(CLUSTER, NIGHT_1["run_id"])]
    publish(store)
    row = stored_rows(store)[NIGHT_1["run_id"]]
    assert row["summary"] == [listed.size, listed.last_modified.isoformat()]
    assert datetime.fromisoformat(row["summary"][1]).tzinfo == UTC


def test_the_listing_gives_each_run_its_size_and_the_stamps_of_its_manifest_and_summary() -> None:
    at = datetime(2026, 11, 23, 3, tzinfo=UTC)
    later = datetime(2026, 11, 23, 4, tzinfo=UTC)
    run_a, run_b = "20261122T020000Z-0f06", "20261123T020000Z-1a07"
    listing = [
        StoredObject(f"prod-eu/runs/2026/11/22/{run_a}/manifest.json", 10, at),
        StoredObject(f"prod-eu/runs/2026/11/22/{run_a}/reports/g/p.jsonl.gz", 100, later),
        StoredObject(f"prod-eu/runs/2026/11/22/{run_a}/summary.json", 20, at),
        StoredObject(f"prod-eu/runs/2026/11/22/{run_a}x/manifest.json", 1, at),  # not a run id
        StoredObject(f"prod-eu/runs/2026/11/23/{run_a}/summary.json", 5, at),  # another day's folder: not its summary
        StoredObject(f"prod-eu/runs/2026/11/23/{run_b}/reports/g/p.jsonl.gz", 7, at),
        StoredObject(f"prod-eu2/runs/2026/11/23/{run_b}/manifest.json", 3, at),  # another cluster
        StoredObject("prod-eu/report.html", 1000, at),
    ]
    stamp = at.isoformat()
    assert listed_runs(listing, CLUSTER) == [
        ListedRun(run_a, 135, later, Stamp(10, stamp), Stamp(20, stamp)),
        ListedRun(run_b, 7, at, None, None),
    ]


@pytest.fixture(scope="module", params=["swift_http", "swift_https_old"])
def swift(request: pytest.FixtureRequest) -> Iterator[SwiftS3]:
    settings = {"SWIFT_S3_VERSION": OLD_VERSION, "SWIFT_S3_TLS": "1"} if request.param == "swift_https_old" else {}
    yield from start_swift(request.param, **settings)


@pytest.mark.swift
def test_the_index_on_openstack_swift(swift: SwiftS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from exporter.archive.s3store import S3Store
    from exporter.config import ArchiveSettings

    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", swift.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", swift.secret_key)
    store = S3Store(ArchiveSettings(destination="s3://night-index/nightly", endpoint_url=swift.endpoint,
                                    region=swift.region, ca_bundle=swift.ca_bundle, create_bucket=True))  # fmt: skip
    store.check()
    archive_fixture_nights(store)
    expected = page_from_summaries(store)
    publish_report(store, CLUSTER, now=GENERATED_AT)
    assert store.get_bytes(PAGE).decode() == expected and len(stored_rows(store)) == 7
    store.delete([stored.key for stored in store.list(keys.run_prefix(CLUSTER, NIGHT_1["run_id"]))])
    store.put_bytes(b"{damaged", INDEX)
    publish_report(store, CLUSTER, now=GENERATED_AT)
    assert store.get_bytes(PAGE).decode() == page_from_summaries(store)
    assert NIGHT_1["run_id"] not in stored_rows(store) and len(stored_rows(store)) == 6
