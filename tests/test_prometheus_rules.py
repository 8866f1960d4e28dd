"""deploy/prometheus/report-exporter-rules.yaml: valid for promtool, each alert unit-tested firing and silent, each
with a runbook section in docs/operations.md.

The PrometheusRule is the one source; its `spec` is a plain rules file, extracted here as an operator without the
Prometheus Operator would (README of the file). The unit tests are tests/prometheus/*.test.yaml (`rules.yaml` there
is that extraction).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.metrics_services import PROMTOOL, require_tool

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "deploy" / "prometheus" / "report-exporter-rules.yaml"
UNIT_TESTS = sorted((REPO / "tests" / "prometheus").glob("*.test.yaml"))
OPERATIONS = REPO / "docs" / "operations.md"


def prometheus_rule() -> dict[str, Any]:
    return dict(yaml.safe_load(RULES.read_text()))


def alerts() -> list[dict[str, Any]]:
    return [rule for group in prometheus_rule()["spec"]["groups"] for rule in group["rules"] if "alert" in rule]


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A directory with the extracted rules file and the unit tests beside it, as promtool resolves rule_files."""
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(prometheus_rule()["spec"], sort_keys=False))
    for test in UNIT_TESTS:
        shutil.copy(test, tmp_path / test.name)
    return tmp_path


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool(PROMTOOL), *args], check=False, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_rules_pass_promtool_check(rules_dir: Path) -> None:
    checked = promtool("check", "rules", "rules.yaml", cwd=rules_dir)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in checked.stdout


def test_every_alert_behaves_as_its_unit_tests_say(rules_dir: Path) -> None:
    tested = promtool("test", "rules", *(test.name for test in UNIT_TESTS), cwd=rules_dir)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.count("SUCCESS") == len(UNIT_TESTS), tested.stdout


def test_every_alert_is_tested_both_firing_and_silent() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for path in UNIT_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested silent"


def test_the_prometheus_rule_is_a_prometheus_operator_resource() -> None:
    rule = prometheus_rule()
    assert (rule["apiVersion"], rule["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert rule["metadata"]["name"] == "report-exporter"


def test_every_alert_has_a_summary_a_description_and_a_runbook_section() -> None:
    anchors = {_github_anchor(line.lstrip("#").strip()) for line in OPERATIONS.read_text().splitlines()
               if line.startswith("#")}  # fmt: skip
    for alert in alerts():
        annotations = alert["annotations"]
        assert {"summary", "description", "runbook_url"} <= annotations.keys(), alert["alert"]
        assert alert["labels"]["severity"] in {"critical", "warning"}, alert["alert"]
        page, _, anchor = annotations["runbook_url"].partition("#")
        assert page.endswith("/docs/operations.md"), alert["alert"]
        assert anchor in anchors, f"{alert['alert']}: no section #{anchor} in docs/operations.md"


def _github_anchor(heading: str) -> str:
    """The anchor GitHub and GitLab give a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
