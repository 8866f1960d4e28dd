"""`report-exporter check` without a cluster: the archive probe and the DefectDojo key, one verdict per line.

The Kubernetes lines are proven against the real API server in tests/k8s/test_getter_real.py.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from exporter.cli import app
from tests.dojo_standin import DojoStandin
from tests.kube_standin import KubeStandin


def unreachable_kubeconfig(tmp_path: Path) -> Path:
    standin = KubeStandin()
    path = standin.write_kubeconfig(tmp_path / "kubeconfig")
    standin.close()
    return path


def test_check_probes_the_archive_and_the_dojo_key_and_fails_on_any_line(tmp_path: Path) -> None:
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({"kube": {"retries": 0}, "dojo": {"retries": 0}}))
    archive = (tmp_path / "archive").as_uri()
    with DojoStandin(token="good") as dojo:
        result = CliRunner().invoke(
            app,
            ["check", "--config", str(config), "--kubeconfig", str(unreachable_kubeconfig(tmp_path)),
             "--archive", archive, "--log-format", "json"],
            env={"DD_URL": dojo.url, "DD_API_KEY": "good"},
        )  # fmt: skip
        lines = result.stdout.splitlines()
        assert result.exit_code == 1, "the unreachable API fails the check"
        assert [line.split()[0] for line in lines] == ["kubernetes", "archive", "archive", "archive", "archive",
                                                       "defectdojo"]  # fmt: skip
        assert "FAILED" in lines[0] and "cannot reach the Kubernetes API" in lines[0]
        assert all(" ok " in line or line.rstrip().endswith(" ok") for line in lines[1:])
        assert list((tmp_path / "archive").rglob("*probe*")) == [], "the probe object is deleted again"
        wrong = CliRunner().invoke(
            app, ["check", "--config", str(config), "--kubeconfig", str(unreachable_kubeconfig(tmp_path)),
                  "--log-format", "json"],
            env={"DD_URL": dojo.url, "DD_API_KEY": "not-the-key"},
        )  # fmt: skip
    dojo_line = wrong.stdout.splitlines()[-1]
    assert "FAILED" in dojo_line and "rejected the API key" in dojo_line and "not-the-key" not in wrong.stdout
    assert "skipped" in wrong.stdout.splitlines()[1], "no archive configured: skipped, not failed"
