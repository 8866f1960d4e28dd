"""The command line as an operator meets it, for the fault matrix (docs/reliability.md): the exit code, the JSON log
lines, and what must never be in them (a secret, a traceback, an error spread over several lines).

Shared by tests/swift/test_faults_swift.py, tests/test_faults_dojo.py and tests/test_faults_kube.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from exporter.cli import app


@dataclass(frozen=True)
class CliOutcome:
    """One command's end: exit code, standard output, the JSON log lines of standard error, and both streams raw."""

    code: int
    stdout: str
    stderr: str
    log: list[dict[str, Any]]
    exception: BaseException | None

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.log if line.get("event") == name]

    def errors(self) -> list[str]:
        """The messages of the error lines, in order."""
        return [str(line["message"]) for line in self.log if line.get("level") == "error"]


def invoke(arguments: Sequence[str], env: Mapping[str, str] | None = None) -> CliOutcome:
    """`report-exporter <arguments>` in process, as an operator types it (with `--log-format json` in the settings)."""
    result = CliRunner().invoke(app, list(arguments), env=dict(env or {}))
    log = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    return CliOutcome(result.exit_code, result.stdout, result.stderr, log, result.exception)


def assert_clean(outcome: CliOutcome, *secrets: str) -> None:
    """What holds after any fault: the command ended by its own exit (no exception escaped, no traceback printed),
    every line of standard error is a JSON log line, every error is one line, and no secret appears anywhere."""
    assert outcome.exception is None or isinstance(outcome.exception, SystemExit), repr(outcome.exception)
    assert "Traceback" not in outcome.stderr + outcome.stdout
    assert len(outcome.log) == len(outcome.stderr.splitlines()), "every line of standard error is a JSON log line"
    assert all("\n" not in message for message in outcome.errors())
    for secret in secrets:
        assert secret not in outcome.stdout and secret not in outcome.stderr, "a secret was printed"


def isolate_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing from the developer's or the runner's environment (AWS_*, REPORT_EXPORTER_*, DD_*, KUBECONFIG, the AWS
    files) reaches the commands: the environment wins over the settings file, so one stray variable would decide."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "REPORT_EXPORTER_", "DD_")) or name == "KUBECONFIG":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
