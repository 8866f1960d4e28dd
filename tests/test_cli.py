"""The command line as users and scripts meet it: exit codes, stdout, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from exporter.cli import app
from exporter.rundir import reader
from tests.kube_standin import KubeStandin
from tests.report_objects import vulnerability_report

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("REPORT_EXPORTER_") or name == "KUBECONFIG":
            monkeypatch.delenv(name)


def test_get_sample_prints_only_the_run_directory_on_stdout(tmp_path: Path) -> None:
    result = runner.invoke(app, ["get", "--sample", "--out", str(tmp_path), "--log-format", "json"])
    assert result.exit_code == 0, result.output
    run_dir = Path(result.stdout.strip())
    assert run_dir.parent == tmp_path
    manifest = reader.read_manifest(run_dir)
    assert manifest["status"] == "complete"
    assert all(entry["status"] == "complete" for entry in manifest["kinds"]), "the sample holds every kind"
    assert reader.verify(run_dir, manifest) == []


def test_run_defaults_to_the_same_getter(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--sample", "--out", str(tmp_path / "runs"), "--log-format", "json"])
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()).parent == tmp_path / "runs"


def test_json_log_lines_end_with_the_run_outcome_and_the_summary(tmp_path: Path) -> None:
    result = runner.invoke(app, ["get", "--sample", "--out", str(tmp_path), "--log-format", "json"])
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert lines[0]["event"] == "run_started" and [line["event"] for line in lines[-2:]] == ["run_finished", "summary"]
    assert lines[-2]["exit_code"] == 0 and lines[-2]["objects"] > 0
    summary = lines[-1]["summary"]
    assert summary["outcome"] == "complete" and summary["objects"] == lines[-2]["objects"]
    assert summary["top_images"][0] == {"image": "ghcr.io/acme-retail/shop-frontend:2.14.3", "critical": 6}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--kinds", "vulns"], "'filters.kinds' (command line): unknown report kind 'vulns'"),
        (["--page-size", "0"], "'kube.page_size' (command line)"),
        (["--from-files", "/nonexistent/dir"], "--from-files /nonexistent/dir: no such file or directory"),
        (["--from-files", ".", "--sample"], "--sample and --from-files exclude each other"),
    ],
)
def test_usage_and_config_errors_exit_2_with_one_line(tmp_path: Path, arguments: list[str], message: str) -> None:
    result = runner.invoke(app, ["get", "--out", str(tmp_path), "--log-format", "json", *arguments])
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_partial_input_exits_3(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "ok.yaml").write_text(yaml.safe_dump(vulnerability_report("shop", "r1")))
    (source / "bad.yaml").write_text("kind: [\n")
    result = runner.invoke(
        app, ["get", "--from-files", str(source), "--out", str(tmp_path / "o"), "--log-format", "json"]
    )
    assert result.exit_code == 3
    assert reader.read_manifest(Path(result.stdout.strip()))["status"] == "partial"


def test_unreachable_cluster_exits_1_with_one_line(tmp_path: Path) -> None:
    standin = KubeStandin()
    kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig")
    standin.close()
    env = {**os.environ, "REPORT_EXPORTER_CONFIG": str(_config(tmp_path, retries=0))}
    completed = subprocess.run(
        [sys.executable, "-m", "exporter", "get", "--out", str(tmp_path / "o"), "--kubeconfig", str(kubeconfig)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 1
    errors = [json.loads(line) for line in completed.stderr.splitlines()]
    assert len(errors) == 1 and errors[0]["level"] == "error"
    assert errors[0]["message"].startswith("cannot reach the Kubernetes API at http://127.0.0.1:")
    assert completed.stdout == "" and not (tmp_path / "o").exists()


def test_no_command_prints_help_and_version_works() -> None:
    assert "get" in runner.invoke(app, []).output
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("report-exporter ")


def _config(tmp_path: Path, *, retries: int) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"kube": {"retries": retries, "backoff_factor": 0}}))
    return path


def test_run_archives_to_a_local_directory_and_runs_commands_read_it_back(tmp_path: Path) -> None:
    archive = (tmp_path / "archive").as_uri()
    result = runner.invoke(app, ["run", "--sample", "--out", str(tmp_path / "runs"), "--archive", archive,
                                 "--log-format", "json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    run_id = Path(result.stdout.strip()).name
    events = [json.loads(line)["event"] for line in result.stderr.splitlines()]
    assert events.index("upload_finished") < events.index("prune_finished")
    listed = runner.invoke(app, ["runs", "list", "--archive", archive])
    assert listed.exit_code == 0 and listed.stdout.startswith(f"{run_id}\t") and "\tcomplete\t" in listed.stdout
    shown = runner.invoke(app, ["runs", "show", run_id[:10], "--archive", archive])
    assert json.loads(shown.stdout)["run_id"] == run_id
    restored = runner.invoke(app, ["runs", "restore", "latest", "--to", str(tmp_path / "back"), "--archive", archive,
                                   "--log-format", "json"])  # fmt: skip
    assert restored.exit_code == 0 and Path(restored.stdout.strip()) == tmp_path / "back" / run_id


def test_upload_from_the_getters_directory_then_prune_dry_run(tmp_path: Path) -> None:
    for _ in range(2):
        assert (
            runner.invoke(app, ["get", "--sample", "--out", str(tmp_path / "runs"), "--log-format", "json"]).exit_code
            == 0
        )
    archive = (tmp_path / "archive").as_uri()
    uploaded = runner.invoke(app, ["upload", "--from", str(tmp_path / "runs"), "--archive", archive, "--no-prune",
                                   "--log-format", "json"])  # fmt: skip
    assert uploaded.exit_code == 0, uploaded.output
    config = tmp_path / "retention.yaml"
    config.write_text(yaml.safe_dump({"archive": {"destination": archive, "retention": {"keep_last": 1}}}))
    planned = runner.invoke(app, ["prune", "--dry-run", "--config", str(config), "--log-format", "json"])
    assert planned.exit_code == 0
    decisions = [json.loads(line)["message"] for line in planned.stderr.splitlines() if "retention_decision" in line]
    assert [line.split()[0] for line in decisions] == ["keep", "delete"]
    assert len(runner.invoke(app, ["runs", "list", "--archive", archive]).stdout.splitlines()) == 2


def test_archive_commands_without_a_destination_say_how_to_set_one(tmp_path: Path) -> None:
    result = runner.invoke(app, ["runs", "list"])
    assert result.exit_code == 2, "a setting is missing: nothing was tried"
    assert "no archive destination: pass --archive, set REPORT_EXPORTER_ARCHIVE or archive.destination" in result.stderr


def test_upload_of_an_unfinished_run_fails_with_one_line(tmp_path: Path) -> None:
    unfinished = tmp_path / "20261123T020000Z-3f9a"
    unfinished.mkdir()
    result = runner.invoke(app, ["upload", "--from", str(unfinished), "--archive", (tmp_path / "a").as_uri(),
                                 "--log-format", "json"])  # fmt: skip
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert "has no manifest.json: the run did not finish" in json.loads(line)["message"]


def test_an_insecure_s3_store_warns_in_the_log(tmp_path: Path) -> None:
    environment = {
        "REPORT_EXPORTER_S3_INSECURE": "true",
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "a",
        "AWS_SECRET_ACCESS_KEY": "b",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    result = runner.invoke(
        app, ["runs", "list", "--archive", "s3://reports/x", "--log-format", "json"], env=environment
    )
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert any(line["level"] == "warning" and "TLS" in line["message"] for line in lines), lines
    assert result.exit_code == 1, "the unreachable store is still an error"


def test_the_version_matches_the_package_metadata() -> None:
    from importlib.metadata import version

    from exporter import __version__

    assert __version__ == version("report-exporter")
