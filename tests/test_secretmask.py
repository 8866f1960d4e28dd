"""Exposed secrets that the scanner did not censor are masked before the run directory holds them
(exporter/secretmask.py): the archive and DefectDojo get only what the run directory has."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from exporter.catalog import resolve
from exporter.cli import app
from exporter.config import Settings
from exporter.getter import GetResult, get_from_cluster, get_from_files
from exporter.progress import JsonReporter
from exporter.secretmask import mask_match, mask_secret_report
from tests.kube_standin import KubeStandin, ServedResource, StandinFactory
from tests.report_objects import TRIVY, vulnerability_report

AWS_KEY = "AKIAZ3QX7EXPOSED2026"  # 20 characters, an access key id's shape
GITHUB_TOKEN = "ghp_Q8wE2rT5yU7iO9pA1sD3fG5hJ7kL9zX1cV3b"  # 40 characters
CENSORED = "//npm.pkg.github.com/:_authToken=****************************************"


@pytest.mark.parametrize(
    ("match", "masked"),
    [
        (AWS_KEY, "AKIA****************  (20 characters)"),
        (f"AWS_ACCESS_KEY_ID={AWS_KEY}", "AWS_****************  (38 characters)"),
        (GITHUB_TOKEN, "ghp_****************  (40 characters)"),
        ("hunter2", "*******  (7 characters)"),
        ("abc", "****  (3 characters)"),
        ("fifteen-chars-x", "***************  (15 characters)"),  # no prefix below 16 characters
        (CENSORED, CENSORED),  # trivy's own censoring is left exactly as it is
        ("AWS_SECRET_ACCESS_KEY=****************", "AWS_SECRET_ACCESS_KEY=****************"),
        ("", ""),
    ],
)
def test_mask_match(match: str, masked: str) -> None:
    assert mask_match(match) == masked


@pytest.mark.parametrize("match", [AWS_KEY, "hunter2", "abc", GITHUB_TOKEN * 3])
def test_masking_twice_changes_nothing(match: str) -> None:
    assert mask_match(mask_match(match)) == mask_match(match)


def test_mask_secret_report_masks_every_match_and_leaves_the_input_alone() -> None:
    secrets = [{"ruleID": "aws-access-key-id", "match": AWS_KEY}, {"ruleID": "x", "match": CENSORED},
               {"ruleID": "no-match"}, "not an object"]  # fmt: skip
    report: dict[str, Any] = {"secrets": secrets, "summary": {"criticalCount": 1}}
    masked, count = mask_secret_report(report)
    assert count == 1
    assert masked == {"secrets": [{"ruleID": "aws-access-key-id", "match": "AKIA****************  (20 characters)"},
                                  {"ruleID": "x", "match": CENSORED}, {"ruleID": "no-match"}, "not an object"],
                      "summary": {"criticalCount": 1}}  # fmt: skip
    assert report["secrets"][0]["match"] == AWS_KEY
    assert mask_secret_report({"secrets": None}) == ({"secrets": None}, 0)
    assert mask_secret_report(None) == (None, 0)


def secret(category: str, match: str, rule: str, target: str) -> dict[str, str]:
    return {"category": category, "match": match, "ruleID": rule, "severity": "CRITICAL", "target": target,
            "title": f"{category} secret"}  # fmt: skip


def exposed_secret_report(namespace: str = "shop", name: str = "replicaset-web-app") -> dict[str, Any]:
    """An ExposedSecretReport as a trivy-operator that does not censor writes it: the secrets in `match`."""
    return {
        "apiVersion": TRIVY,
        "kind": "ExposedSecretReport",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "trivy-operator.resource.kind": "ReplicaSet",
                "trivy-operator.resource.name": "web",
                "trivy-operator.resource.namespace": namespace,
                "trivy-operator.container.name": "app",
            },
        },
        "report": {
            "artifact": {"repository": "acme/web", "tag": "1.0"},
            "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "0.50.0"},
            "summary": {"criticalCount": 2, "highCount": 0, "mediumCount": 0, "lowCount": 0},
            "updateTimestamp": "2026-11-20T02:00:00Z",
            "secrets": [
                secret("AWS", f"AWS_ACCESS_KEY_ID={AWS_KEY}", "aws-access-key-id", "/app/.env"),
                secret("GitHub", f"token: {GITHUB_TOKEN}", "github-pat", "/app/config.yaml"),
                secret("GitHub", CENSORED, "github-pat", "/usr/src/app/.npmrc"),
            ],
        },
    }


def run_text(result: GetResult) -> str:
    """Everything the run directory holds, as `zcat` shows it."""
    return "".join(gzip.decompress(path.read_bytes()).decode() for path in sorted(result.run_dir.rglob("*.gz")))


def assert_masked(result: GetResult) -> None:
    text = run_text(result)
    assert AWS_KEY not in text and GITHUB_TOKEN not in text
    assert CENSORED in text, "trivy's censored match is kept as it is"
    assert "AWS_****************  (38 characters)" in text and "toke****************  (47 characters)" in text
    assert "CVE-2024-6119" in text, "the other kinds are written as they were"


def from_files(tmp_path: Path, settings: Settings, log: io.StringIO | None = None) -> GetResult:
    source = tmp_path / "in"
    source.mkdir(exist_ok=True)
    (source / "reports.yaml").write_text(yaml.safe_dump_all([exposed_secret_report(),
                                                             vulnerability_report("shop", "r1")]))  # fmt: skip
    return get_from_files(settings, source, tmp_path / "out", JsonReporter(log or io.StringIO()))


def test_get_from_files_masks_uncensored_secrets(tmp_path: Path, settings_with: Callable[..., Settings]) -> None:
    log = io.StringIO()
    assert_masked(from_files(tmp_path, settings_with(), log))
    events = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [(e["kind"], e["masked"]) for e in events if e["event"] == "secrets_masked"] == [("exposedsecretreports", 2)]


def test_with_masking_off_the_secrets_are_written_as_served(
    tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    text = run_text(from_files(tmp_path, settings_with(mask_secrets=False)))
    assert AWS_KEY in text and GITHUB_TOKEN in text


def test_get_from_the_cluster_masks_uncensored_secrets(
    tmp_path: Path, settings_with: Callable[..., Settings], standins: StandinFactory
) -> None:
    served = [ServedResource(k.group, k.version, k.plural, k.kind, k.namespaced)
              for k in map(resolve, ("exposedsecretreports", "vulnerabilityreports"))]  # fmt: skip
    standin: KubeStandin = standins(served)
    standin.add_objects("exposedsecretreports", [exposed_secret_report()])
    standin.add_objects("vulnerabilityreports", [vulnerability_report("shop", "r1")])

    def get(**flags: Any) -> GetResult:
        settings = settings_with(kube__kubeconfig=standin.write_kubeconfig(tmp_path / "kubeconfig"),
                                 kube__backoff_factor=0, **flags)  # fmt: skip
        return get_from_cluster(settings, tmp_path / "out", JsonReporter(io.StringIO()))

    assert_masked(get())
    unmasked = run_text(get(mask_secrets=False))
    assert AWS_KEY in unmasked and GITHUB_TOKEN in unmasked


def test_the_defectdojo_document_holds_the_masked_match(tmp_path: Path, settings_with: Callable[..., Settings]) -> None:
    result = from_files(tmp_path, settings_with())
    documents = tmp_path / "documents"
    planned = CliRunner().invoke(app, ["dojo", "plan", str(result.run_dir), "--documents", str(documents)])
    assert planned.exit_code == 0, planned.output
    (document,) = [path for path in documents.iterdir() if "exposed-secret" in path.name]
    reports = json.loads(document.read_text())
    matches = [secret["match"] for report in reports for secret in report["report"]["secrets"]]
    assert matches == ["AWS_****************  (38 characters)", "toke****************  (47 characters)", CENSORED]
