"""The errors a new user meets first: one line naming the cause and the fix, the documented exit code, no traceback.

Exit codes (README): 0 ok, 1 failed, 2 usage or configuration, 3 partial.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from exporter.cli import app
from tests.kube_standin import KubeStandin
from tests.report_objects import vulnerability_report

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("REPORT_EXPORTER_", "DD_", "AWS_")) or name == "KUBECONFIG":
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run directory of the bundled sample cluster."""
    out = tmp_path_factory.mktemp("runs")
    result = runner.invoke(app, ["get", "--sample", "--out", str(out), "--log-format", "json"])
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip())


def one_error(stderr: str) -> str:
    """The one line a failed command wrote, as plain text or a JSON log line."""
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    return str(json.loads(line)["message"]) if line.startswith("{") else line


@pytest.mark.parametrize("missing", [True, False], ids=["missing", "a file"])
@pytest.mark.parametrize(
    ("command", "named"),
    [
        (["upload", "--archive", "file:///tmp/unused", "--from"], "--from"),
        (["dojo", "plan"], "RUN_DIR"),
        (["dojo", "sync"], "RUN_DIR"),
    ],
)
def test_a_run_directory_that_is_missing_or_a_file_is_a_usage_error(
    tmp_path: Path, command: list[str], named: str, missing: bool
) -> None:
    path = tmp_path / "nowhere"
    if not missing:
        path.write_text("not a run directory\n")
    result = runner.invoke(app, [*command, str(path), "--log-format", "json"], env={"DD_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 2
    expected = "no such directory" if missing else "is a file, not a directory"
    assert one_error(result.stderr) == (
        f"{named} {path}{':' if missing else ''} {expected}; give a run directory or the getter's --out directory"
    )


def test_dojo_sync_without_defectdojo_says_it_is_not_configured(run_dir: Path) -> None:
    result = runner.invoke(app, ["dojo", "sync", str(run_dir), "--log-format", "json"])
    assert result.exit_code == 2
    message = one_error(result.stderr)
    assert message.startswith("DefectDojo is not configured: set DD_URL and DD_API_KEY")
    assert "has no API key" not in message


ARCHIVE_COMMANDS = [["upload", "--from", "RUN"], ["prune"], ["runs", "list"], ["runs", "show", "latest"],
                    ["runs", "restore", "latest", "--to", "restored"]]  # fmt: skip


@pytest.mark.parametrize("command", ARCHIVE_COMMANDS, ids=lambda command: " ".join(command[:2]))
def test_without_an_archive_destination_the_command_exits_2_naming_every_way_to_set_one(
    run_dir: Path, tmp_path: Path, command: list[str]
) -> None:
    arguments = [str(run_dir) if word == "RUN" else str(tmp_path / word) if word == "restored" else word
                 for word in command]  # fmt: skip
    result = runner.invoke(app, [*arguments, "--log-format", "json"])
    assert result.exit_code == 2
    message = one_error(result.stderr)
    assert message.startswith("no archive destination: pass --archive, set REPORT_EXPORTER_ARCHIVE or ")
    assert "archive.destination" in message and "s3://bucket/prefix or file:///path" in message


@pytest.mark.parametrize("source", ["flag", "environment", "file"])
def test_a_kubeconfig_that_does_not_exist_is_named_with_where_it_came_from(tmp_path: Path, source: str) -> None:
    missing = tmp_path / "no-such-kubeconfig"
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({"kube": {"kubeconfig": str(missing)}} if source == "file" else {}))
    arguments = ["get", "--out", str(tmp_path / "out"), "--config", str(config), "--log-format", "json"]
    arguments += ["--kubeconfig", str(missing)] if source == "flag" else []
    environment = {"KUBECONFIG": str(missing)} if source == "environment" else {}
    result = runner.invoke(app, arguments, env=environment)
    assert result.exit_code == 2
    named_by = {"flag": "--kubeconfig", "environment": "environment variable KUBECONFIG",
                "file": f"kube.kubeconfig in config file {config}"}[source]  # fmt: skip
    assert one_error(result.stderr).startswith(f"kubeconfig {missing} (from {named_by}) does not exist; ")
    assert not (tmp_path / "out").exists()


def test_every_retry_of_an_unreachable_api_is_a_warning_line(tmp_path: Path) -> None:
    standin = KubeStandin()
    kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig")
    standin.close()
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({"kube": {"retries": 2, "backoff_factor": 0}}))
    result = runner.invoke(app, ["get", "--out", str(tmp_path / "o"), "--kubeconfig", str(kubeconfig),
                                 "--config", str(config), "--log-format", "json"])  # fmt: skip
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    retries, last = lines[:-1], lines[-1]
    assert [(line["level"], line["event"], line["attempt"], line["attempts"]) for line in retries] == [
        ("warning", "kube_retry", 1, 3),
        ("warning", "kube_retry", 2, 3),
    ]
    assert all(line["url"] == f"{standin.url}/version" for line in retries)
    assert all("Connection refused" in line["cause"] for line in retries)
    assert retries[0]["message"].startswith(f"Kubernetes API: GET {standin.url}/version failed (")
    assert last["level"] == "error" and last["message"].startswith("cannot reach the Kubernetes API")


@pytest.mark.parametrize("destination", ["s3://Security_Reports/nightly", "https://bucket.example.com/x", "/srv/x"])
def test_a_bad_archive_destination_is_answered_in_words(destination: str) -> None:
    result = runner.invoke(app, ["runs", "list", "--archive", destination])
    assert result.exit_code == 2
    assert one_error(result.stderr) == (
        "error: setting 'archive.destination' (command line): must be s3://bucket/prefix or file:///path "
        "(a bucket name is 3 to 63 lowercase letters, digits, '.' and '-')"
    )


def test_a_missing_config_file_says_what_named_it(tmp_path: Path) -> None:
    missing = tmp_path / "settings.yaml"
    from_environment = runner.invoke(app, ["runs", "list"], env={"REPORT_EXPORTER_CONFIG": str(missing)})
    from_flag = runner.invoke(app, ["runs", "list", "--config", str(missing)])
    assert (from_environment.exit_code, from_flag.exit_code) == (2, 2)
    assert one_error(from_environment.stderr) == (
        f"error: cannot read config file {missing} (from REPORT_EXPORTER_CONFIG): No such file or directory"
    )
    assert one_error(from_flag.stderr) == (
        f"error: cannot read config file {missing} (from --config): No such file or directory"
    )


@pytest.fixture
def closed_stdout() -> Iterator[int]:
    """The writing end of a pipe whose reader is gone, as after `| head -1`: every write fails with EPIPE."""
    read, write = os.pipe()
    os.close(read)
    yield write
    os.close(write)


def run_with_stdout(descriptor: int, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("REPORT_EXPORTER_", "DD_", "AWS_"))}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "exporter", *arguments, "--log-format", "json"],
        stdout=descriptor, stderr=subprocess.PIPE, text=True, env=environment, timeout=120, check=False,
    )  # fmt: skip


def test_a_closed_stdout_ends_a_listing_quietly_with_exit_0(run_dir: Path, closed_stdout: int) -> None:
    planned = run_with_stdout(closed_stdout, "dojo", "plan", str(run_dir))
    assert planned.returncode == 0
    assert "Traceback" not in planned.stderr and "Exception ignored" not in planned.stderr
    assert "BrokenPipe" not in planned.stderr and planned.stderr == ""


def test_a_closed_stdout_does_not_change_the_getters_outcome(tmp_path: Path, closed_stdout: int) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "ok.yaml").write_text(yaml.safe_dump(vulnerability_report("shop", "r1")))
    (source / "bad.yaml").write_text("kind: [\n")
    got = run_with_stdout(closed_stdout, "get", "--from-files", str(source), "--out", str(tmp_path / "out"))
    assert got.returncode == 3, "partial, as with an open stdout"
    assert "Traceback" not in got.stderr and "Exception ignored" not in got.stderr
    assert "run_finished" in [json.loads(line)["event"] for line in got.stderr.splitlines()]
