"""The uploader end to end against real Swift, both versions: upload, verify, list, prune, restore.

Credentials come from files, as the CronJob mounts them from a Kubernetes Secret; the run is the bundled sample
cluster read by the real getter.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from exporter.cli import app
from tests.swift.conftest import SwiftS3

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("AWS_", "REPORT_EXPORTER_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


def config_for(swift: SwiftS3, tmp_path: Path, bucket: str, **retention: int) -> Path:
    (tmp_path / "access").write_text(swift.access_key + "\n")
    (tmp_path / "secret").write_text(swift.secret_key + "\n")
    archive = {
        "destination": f"s3://{bucket}/nightly", "endpoint_url": swift.endpoint, "region": swift.region,
        "access_key_file": str(tmp_path / "access"), "secret_key_file": str(tmp_path / "secret"),
        "create_bucket": True, "retention": retention,
    }  # fmt: skip
    if swift.ca_bundle:
        archive["ca_bundle"] = str(swift.ca_bundle)
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"cluster": "prod-eu-1", "log_format": "json", "archive": archive}))
    return path


def invoke(*arguments: str) -> tuple[int, str, list[dict[str, object]]]:
    result = runner.invoke(app, list(arguments))
    return result.exit_code, result.stdout, [json.loads(line) for line in result.stderr.splitlines()]


def test_upload_list_prune_restore_round_trip(swift: SwiftS3, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    bucket = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[-50:].strip("-")
    config = str(config_for(swift, tmp_path, bucket, keep_last=2))
    run_ids = []
    for _ in range(3):
        code, stdout, log = invoke("run", "--sample", "--out", str(tmp_path / "runs"), "--config", config)
        assert code == 0, log
        run_ids.append(Path(stdout.strip()).name)
        assert any(line["event"] == "upload_finished" for line in log)
    code, stdout, _ = invoke("runs", "list", "--config", config)
    listed = [line.split("\t") for line in stdout.splitlines()]
    assert code == 0 and [row[0] for row in listed] == run_ids[1:], "keep_last=2 pruned the oldest after upload"
    assert all(row[2] == "complete" for row in listed)
    code, stdout, log = invoke("prune", "--dry-run", "--config", config)
    assert code == 0 and [line["message"].split()[0] for line in log if line["event"] == "retention_decision"] == [
        "keep", "keep"
    ]  # fmt: skip
    code, stdout, log = invoke("runs", "restore", "latest", "--to", str(tmp_path / "restored"), "--config", config)
    assert code == 0, log
    restored = Path(stdout.strip())
    original = tmp_path / "runs" / run_ids[-1]
    for path in original.rglob("*"):
        if path.is_file():
            assert (restored / path.relative_to(original)).read_bytes() == path.read_bytes()


def test_wrong_credentials_fail_with_one_line_and_keep_the_run(swift: SwiftS3, tmp_path: Path) -> None:
    config = config_for(swift, tmp_path, "wrong-credentials")
    (tmp_path / "secret").write_text("not-the-secret\n")
    code, stdout, log = invoke("run", "--sample", "--out", str(tmp_path / "runs"), "--config", str(config))
    assert code == 1
    errors = [line for line in log if line["level"] == "error" and line["event"] == "error"]
    assert len(errors) == 1 and "credentials" in str(errors[0]["message"])
    assert "not-the-secret" not in json.dumps(log) and swift.secret_key not in json.dumps(log)
    run_dir = Path(stdout.strip())
    assert (run_dir / "manifest.json").is_file(), "the local run is kept for the next attempt"
