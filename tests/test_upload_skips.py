"""Upload what is complete, report what is not: one dead run directory beside the getter's output is skipped with a
warning naming it and why, the others are archived oldest first, DefectDojo gets the newest archived run, and the
night is partial (exit 3); it fails (exit 1) only when nothing could be uploaded."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from exporter import pipeline
from exporter.archive import runs
from exporter.archive.filestore import FileStore
from exporter.cli import app
from exporter.config import Settings
from exporter.dojo.sync import SyncResult
from exporter.errors import ExitCode, RunDirError
from exporter.pipeline import Outcome
from tests.archive_helpers import events, reporter, small_run


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """The getter's --out directory after four nights: complete, dead (no manifest), complete, tampered."""
    parent = tmp_path / "data"
    small_run(parent, datetime(2026, 11, 20, 2, tzinfo=UTC), suffix="aaaa")
    dead = small_run(parent, datetime(2026, 11, 21, 2, tzinfo=UTC), suffix="bbbb")
    (dead / "manifest.json").unlink()
    small_run(parent, datetime(2026, 11, 22, 2, tzinfo=UTC), suffix="cccc")
    return parent


def archived(tmp_path: Path) -> list[tuple[str, str]]:
    return [(run.run_id, run.status) for run in runs.list_runs(FileStore((tmp_path / "archive").as_uri()), "prod")]


def invoke_upload(tmp_path: Path, source: Path) -> tuple[int, list[dict[str, Any]]]:
    result = CliRunner().invoke(app, ["upload", "--from", str(source), "--archive", (tmp_path / "archive").as_uri(),
                                      "--no-prune", "--log-format", "json"])  # fmt: skip
    return result.exit_code, [json.loads(line) for line in result.stderr.splitlines()]


def test_a_dead_run_directory_is_skipped_and_the_night_is_partial(tmp_path: Path, out: Path) -> None:
    code, log = invoke_upload(tmp_path, out)
    assert code == ExitCode.PARTIAL
    assert archived(tmp_path) == [("20261120T020000Z-aaaa", "complete"), ("20261122T020000Z-cccc", "complete")]
    (skipped,) = [line for line in log if line["event"] == "run_skipped"]
    assert skipped["level"] == "warning"
    dead = out / "20261121T020000Z-bbbb"
    assert f"skipped {dead} has no manifest.json: the run did not finish" in skipped["message"]
    uploads = [line["run_id"] for line in log if line["event"] == "upload_finished"]
    assert uploads == ["20261120T020000Z-aaaa", "20261122T020000Z-cccc"], "oldest first"


def test_a_run_that_no_longer_matches_its_manifest_is_skipped_and_named(tmp_path: Path, out: Path) -> None:
    tampered = small_run(out, datetime(2026, 11, 23, 2, tzinfo=UTC), suffix="dddd")
    next((tampered / "reports").rglob("*.jsonl.gz")).write_bytes(gzip.compress(b"{}\n"))
    code, log = invoke_upload(tmp_path, out)
    assert code == ExitCode.PARTIAL
    skipped = [line["message"] for line in log if line["event"] == "run_skipped"]
    assert len(skipped) == 2 and "20261123T020000Z-dddd does not match its manifest" in skipped[1]
    assert [run_id for run_id, _ in archived(tmp_path)] == ["20261120T020000Z-aaaa", "20261122T020000Z-cccc"]


def test_nothing_to_upload_fails_with_one_line_naming_each_directory(tmp_path: Path, out: Path) -> None:
    for run_dir in out.iterdir():
        (run_dir / "manifest.json").unlink(missing_ok=True)
    code, log = invoke_upload(tmp_path, out)
    assert code == ExitCode.FAILED
    (line,) = log
    assert line["level"] == "error" and line["message"].startswith("none of 3 run directories could be uploaded: ")
    assert all(name in line["message"] for name in ("aaaa", "bbbb", "cccc"))
    assert not (tmp_path / "archive").exists() or archived(tmp_path) == []


def test_dojo_gets_the_newest_uploaded_run_not_the_newest_directory(
    tmp_path: Path, out: Path, settings_with: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    newest_dead = small_run(out, datetime(2026, 11, 23, 2, tzinfo=UTC), suffix="eeee")
    shutil.rmtree(newest_dead / "reports")
    synced: list[Path] = []

    def sync(settings: Settings, _reporter: object, run_dir: Path, *, store: object) -> tuple[Outcome, SyncResult]:
        synced.append(run_dir)
        return Outcome.COMPLETE, SyncResult()

    monkeypatch.setattr(pipeline, "_sync", sync)
    settings = settings_with(cluster="prod", archive__destination=(tmp_path / "archive").as_uri(),
                             dojo__url="http://dojo.invalid")  # fmt: skip
    log, stream = reporter()
    directories = sorted(out.iterdir())
    result = pipeline.upload(settings, directories, log, apply_retention=False)
    assert synced == [out / "20261122T020000Z-cccc"]
    assert [uploaded.run_id for uploaded in result.runs] == ["20261120T020000Z-aaaa", "20261122T020000Z-cccc"]
    assert (result.data, result.dojo, result.outcome) == (Outcome.PARTIAL, Outcome.COMPLETE, Outcome.PARTIAL)
    assert [line["event"] for line in events(stream)].count("run_skipped") == 2


def test_a_single_unfinished_run_still_fails_as_before(
    tmp_path: Path, out: Path, settings_with: Callable[..., Settings]
) -> None:
    dead = out / "20261121T020000Z-bbbb"
    code, log = invoke_upload(tmp_path, dead)
    assert code == ExitCode.FAILED
    (line,) = log
    assert line["message"] == (
        f"{dead} has no manifest.json: the run did not finish (its getter stopped before writing it); "
        "run `report-exporter get` for a new run"
    )
    settings = settings_with(archive__destination=(tmp_path / "archive").as_uri())
    with pytest.raises(RunDirError, match="did not finish"):
        pipeline.upload(settings, [dead], reporter()[0], apply_retention=False)
