"""exporter.archive.summaries and the keys of summaries and the report page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exporter import summary
from exporter.archive import keys
from exporter.archive.filestore import FileStore
from exporter.archive.summaries import NightTrend, night_trend, read_summaries
from tests.report_fixtures import NIGHT_1, NIGHT_2


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    archive = FileStore((tmp_path / "archive").as_uri())
    archive.check()
    return archive


def archive_run(store: FileStore, run_id: str, summary_bytes: bytes | None, *, cluster: str = "prod-eu") -> None:
    store.put_bytes(b"{}", keys.manifest_key(cluster, run_id))
    if summary_bytes is not None:
        store.put_bytes(summary_bytes, keys.summary_key(cluster, run_id))


def test_summary_and_report_keys_follow_the_layout() -> None:
    run_id = "20261123T020000Z-3f9a"
    assert keys.summary_key("prod", run_id) == "prod/runs/2026/11/23/20261123T020000Z-3f9a/summary.json"
    assert keys.summary_key("prod", run_id).endswith("/" + summary.SUMMARY_FILE)
    assert keys.report_key("prod") == "prod/report.html"
    assert not keys.report_key("prod").startswith(keys.cluster_runs_prefix("prod")), "retention never sees it"


def test_read_summaries_gives_every_run_oldest_first_and_none_where_there_is_no_summary(store: FileStore) -> None:
    archive_run(store, NIGHT_2["run_id"], json.dumps(NIGHT_2).encode())
    archive_run(store, "20261117T120000Z-beef", None)
    archive_run(store, NIGHT_1["run_id"], json.dumps(NIGHT_1).encode())
    archive_run(store, "20261116T020000Z-aaaa", json.dumps(NIGHT_1).encode(), cluster="prod-us")
    assert read_summaries(store, "prod-eu") == [
        (NIGHT_1["run_id"], NIGHT_1),
        ("20261117T120000Z-beef", None),
        (NIGHT_2["run_id"], NIGHT_2),
    ]


@pytest.mark.parametrize("stored", [b"{not json", b"[1, 2]", b'"a string"'])
def test_an_unreadable_summary_is_missing_not_an_error(
    store: FileStore, stored: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    archive_run(store, NIGHT_1["run_id"], stored)
    assert read_summaries(store, "prod-eu") == [(NIGHT_1["run_id"], None)]
    assert f"the summary of run {NIGHT_1['run_id']} is not a JSON object" in caplog.text


def test_a_run_without_a_manifest_is_listed_too(store: FileStore) -> None:
    store.put_bytes(b"x", keys.run_file_key("prod-eu", NIGHT_1["run_id"], "reports/g/vulnerabilityreports.jsonl.gz"))
    assert read_summaries(store, "prod-eu") == [(NIGHT_1["run_id"], None)]


def test_a_nights_trend_keeps_the_counts_the_page_draws() -> None:
    trend = night_trend(NIGHT_2["run_id"], NIGHT_2)
    assert (trend.summarized, trend.outcome) == (True, "complete")
    assert (trend.active, trend.new, trend.closed) == ((5, 24, 40, 12, 3), (1, 3, 1, 0, 0), (0, 1, 2, 0, 0))
    assert trend.namespaces == {"shop": 38, "payments": 25, "kube-system": 12, "monitoring": 4, "cluster": 5}
    assert trend.findings("new") == {"critical": 1, "high": 3, "medium": 1, "low": 0, "info": 0}


def test_a_night_without_defectdojo_or_a_summary_has_gaps_not_zeros() -> None:
    without_dojo = {key: value for key, value in NIGHT_1.items() if key not in ("findings", "dojo")}
    assert night_trend(NIGHT_1["run_id"], without_dojo) == NightTrend(NIGHT_1["run_id"], True, "complete")
    assert night_trend(NIGHT_1["run_id"], None) == NightTrend(NIGHT_1["run_id"])
    odd = {"outcome": True, "findings": {"active": {"critical": -1, "high": "2", "medium": 3}, "new": [1]}}
    trend = night_trend(NIGHT_1["run_id"], odd)
    assert (trend.outcome, trend.active, trend.new, trend.namespaces) == (None, (0, 0, 3, 0, 0), None, {})
