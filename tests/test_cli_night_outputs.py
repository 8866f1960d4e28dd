"""`runs trend`, `report` and `prune --dry-run` as scripts meet them: what lands on standard output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from exporter.archive import keys
from exporter.archive.filestore import FileStore
from exporter.cli import app
from tests.report_fixtures import CLUSTER, NIGHT_4_ID, NIGHT_5, NIGHT_6

runner = CliRunner()
MANIFEST = b'{"status": "complete", "kinds": []}'


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("REPORT_EXPORTER_") or name == "KUBECONFIG":
            monkeypatch.delenv(name)


@pytest.fixture
def archive(tmp_path: Path) -> str:
    """Three finished nights of prod-eu: two with a summary, one without."""
    url = (tmp_path / "archive").as_uri()
    store = FileStore(url)
    store.check()
    for run_id, summary in ((NIGHT_4_ID, None), (NIGHT_5["run_id"], NIGHT_5), (NIGHT_6["run_id"], NIGHT_6)):
        store.put_bytes(b"x" * 1000, keys.run_file_key(CLUSTER, run_id, "reports/g/vulnerabilityreports.jsonl.gz"))
        store.put_bytes(MANIFEST, keys.manifest_key(CLUSTER, run_id))
        if summary is not None:
            store.put_bytes(json.dumps(summary).encode(), keys.summary_key(CLUSTER, run_id))
    return url


def test_runs_trend_prints_tab_separated_lines_to_a_pipe(archive: str) -> None:
    result = runner.invoke(app, ["runs", "trend", "--archive", archive, "--cluster", CLUSTER, "--log-format", "json"])
    assert result.exit_code == 0, result.output
    header, *lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert header[:5] == ["run_id", "started_at", "outcome", "active_critical", "active_high"]
    assert [line[0] for line in lines] == [NIGHT_4_ID, NIGHT_5["run_id"], NIGHT_6["run_id"]]
    assert lines[0][2:] == ["-"] * 16
    night_6 = dict(zip(header, lines[2], strict=True))
    assert (night_6["outcome"], night_6["active_high"], night_6["new_medium"], night_6["closed_low"]) == (
        "partial", "21", "2", "1",
    )  # fmt: skip


def test_runs_trend_as_json_keeps_missing_nights_null(archive: str) -> None:
    result = runner.invoke(app, ["runs", "trend", "--format", "json", "--archive", archive, "--cluster", CLUSTER])
    records = json.loads(result.stdout)
    assert records[0] == {"run_id": NIGHT_4_ID, "started_at": "2026-11-20T02:00:00Z", "outcome": None,
                          "active": None, "new": None, "closed": None}  # fmt: skip
    assert records[1]["active"] == {"critical": 3, "high": 19, "medium": 38, "low": 12, "info": 2}


def test_runs_trend_as_a_table_reads_as_one_line_per_night(archive: str) -> None:
    result = runner.invoke(app, ["runs", "trend", "--format", "table", "--archive", archive, "--cluster", CLUSTER])
    assert "findings per night, prod-eu" in result.stdout
    assert "19 +2 -6" in result.stdout  # NIGHT_5 high: 19 open, 2 new, 6 closed


def test_report_writes_one_page_and_prints_its_path(archive: str, tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    result = runner.invoke(app, ["report", "--out", str(out), "--archive", archive, "--cluster", CLUSTER,
                                 "--log-format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    page = out.read_text()
    assert "<title>Security findings: prod-eu</title>" in page
    manifest_url = f'href="{archive}/prod-eu/runs/2026/11/22/{NIGHT_6["run_id"]}/manifest.json"'
    assert manifest_url in page, "links under the archive's URL, as the page lives outside it"
    assert [json.loads(line)["event"] for line in result.stderr.splitlines()] == ["report_written"]


def test_report_without_an_archive_says_how_to_set_one(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--out", str(tmp_path / "page.html")])
    assert result.exit_code != 0 and "archive" in result.stderr
    assert not (tmp_path / "page.html").exists()


def test_prune_dry_run_prints_the_plan_on_stdout_and_keeps_the_log_on_stderr(archive: str, tmp_path: Path) -> None:
    config = tmp_path / "retention.yaml"
    config.write_text(yaml.safe_dump({"cluster": CLUSTER, "archive": {"destination": archive,
                                                                      "retention": {"keep_last": 2}}}))  # fmt: skip
    result = runner.invoke(app, ["prune", "--dry-run", "--config", str(config), "--log-format", "json"])
    assert result.exit_code == 0, result.output
    header, *rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert header == ["action", "run_id", "started_at", "status", "size_bytes", "reasons"]
    assert [(row[0], row[1], row[3]) for row in rows] == [
        ("keep", NIGHT_6["run_id"], "complete"),
        ("keep", NIGHT_5["run_id"], "complete"),
        ("delete", NIGHT_4_ID, "complete"),
    ]
    assert rows[2][2] == "2026-11-20T02:00:00Z" and rows[2][5] == "no keep rule matched"
    assert int(rows[0][4]) > 1000, "the run's bytes: its report file, manifest and summary"
    decisions = [json.loads(line) for line in result.stderr.splitlines()]
    assert [line["message"].split()[0] for line in decisions if line["event"] == "retention_decision"] == [
        "keep", "keep", "delete",
    ]  # fmt: skip
    assert FileStore(archive).get_bytes(keys.manifest_key(CLUSTER, NIGHT_4_ID)) == MANIFEST, "nothing deleted"


def test_prune_dry_run_as_a_table_for_a_person(archive: str) -> None:
    arguments = ["prune", "--dry-run", "--format", "table", "--archive", archive, "--cluster", CLUSTER]
    result = runner.invoke(app, arguments, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "retention plan (dry run)" in result.stdout and "no retention policy" in result.stdout
    assert "keep 3 runs (" in result.stdout and "delete 0 runs" in result.stdout  # the caption sums the plan up
