"""The DefectDojo tests' shared harness: report objects, the plan of a run, and get + sync night after night into
a stand-in.

One place for what the sync, safety, rename, state and edge tests all build on; their `dojo` and `harness` fixtures
are in conftest.py.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import yaml

from exporter.archive.filestore import FileStore
from exporter.config import Settings, load_settings
from exporter.dojo.client import DojoClient, TestContext
from exporter.dojo.plan import DojoPlan, build_plan
from exporter.dojo.sync import SyncResult, sync_run
from exporter.getter import get_from_files
from exporter.progress import JsonReporter
from exporter.rundir import reader
from tests.dojo_standin import DojoStandin
from tests.report_objects import vulnerability_report

TOKEN = "test-token"
SHOP_CONTEXT = TestContext(
    product_type="Kubernetes",
    product="prod",
    engagement="trivy-operator",
    title="vulnerability shop",
    scan_type="Trivy Operator Scan",
    service="prod/trivy-operator/vulnerability/shop",
)
"""Where the shop namespace's vulnerabilities go under the default templates, in cluster `prod`."""


def cve(identifier: str, package: str, severity: str = "HIGH") -> dict[str, Any]:
    return {"vulnerabilityID": identifier, "resource": package, "installedVersion": "1.0", "fixedVersion": "1.1",
            "severity": severity, "title": f"{package}: {identifier}", "primaryLink": f"https://avd.aquasec.com/nvd/{identifier.lower()}",
            "links": [], "score": 7.5}  # fmt: skip


def report(namespace: str, replicaset: str, *vulnerabilities: dict[str, Any]) -> dict[str, Any]:
    """A VulnerabilityReport of a Deployment's ReplicaSet, as trivy-operator writes it."""
    obj = vulnerability_report(namespace, f"replicaset-{replicaset}-app")
    labels = obj["metadata"]["labels"]
    labels["trivy-operator.resource.name"] = replicaset
    obj["report"]["vulnerabilities"] = list(vulnerabilities)
    return obj


class Harness:
    """Runs get + sync for a list of objects, with the state kept in a directory archive as in production."""

    def __init__(self, tmp_path: Path, dojo: DojoStandin) -> None:
        self.tmp_path, self.dojo, self.runs = tmp_path, dojo, 0
        self.store = FileStore((tmp_path / "archive").as_uri())
        self.log = io.StringIO()

    def settings(self, **dojo_overrides: Any) -> Settings:
        flags = {"cluster": "prod", "dojo.url": self.dojo.url, "dojo.api_key": TOKEN, "dojo.retries": 2,
                 "dojo.backoff_factor": 0} | {f"dojo.{k}": v for k, v in dojo_overrides.items()}  # fmt: skip
        return load_settings(environ={}, flags=flags)

    def run_dir(self, objects: list[dict[str, Any]]) -> Path:
        self.runs += 1
        source = self.tmp_path / f"source-{self.runs}"
        source.mkdir()
        (source / "reports.yaml").write_text(yaml.safe_dump_all(objects))
        return get_from_files(self.settings(), source, self.tmp_path / "runs", JsonReporter(self.log)).run_dir

    def sync(self, objects: list[dict[str, Any]] | Path, **dojo_overrides: Any) -> SyncResult:
        run_dir = objects if isinstance(objects, Path) else self.run_dir(objects)
        settings = self.settings(**dojo_overrides)
        client = DojoClient(settings.dojo, api_key=TOKEN)
        try:
            return sync_run(run_dir, settings.dojo, client, JsonReporter(self.log), store=self.store)
        finally:
            client.close()

    def reimports(self) -> int:
        return sum(1 for r in self.dojo.requests if r.path.endswith("/reimport-scan/"))


CVE1, CVE2 = cve("CVE-2024-6119", "libssl3"), cve("CVE-2024-45490", "libexpat1", "CRITICAL")


def shop(*vulnerabilities: dict[str, Any]) -> dict[str, Any]:
    """The shop namespace's web Deployment with these vulnerabilities."""
    return report("shop", "web-6d4cf56db6", *vulnerabilities)


def events(harness: Harness, name: str) -> list[dict[str, Any]]:
    """The harness's log lines of one event, in order."""
    return [line for line in map(json.loads, harness.log.getvalue().splitlines()) if line["event"] == name]


def plan_settings(max_document_bytes: int = 90 * 1024 * 1024) -> Settings:
    """The settings of a cluster `prod` with this document limit (DefectDojo's default: 90 MiB)."""
    return load_settings(environ={}, flags={"cluster": "prod", "dojo.max_document_bytes": max_document_bytes})


def plan_of(tmp_path: Path, objects: list[dict[str, Any]], config: Settings) -> DojoPlan:
    """The plan of a run the getter makes of these objects, under `tmp_path` (one plan per directory)."""
    source = tmp_path / "source"
    source.mkdir(parents=True)
    (source / "reports.yaml").write_text(yaml.safe_dump_all(objects))
    run_dir = get_from_files(config, source, tmp_path / "runs", JsonReporter(io.StringIO())).run_dir
    scratch = tmp_path / f"scratch-{run_dir.name}"
    scratch.mkdir()
    return build_plan(run_dir, reader.read_manifest(run_dir), config.dojo, scratch)


def failed_run(harness: Harness) -> Path:
    """A run whose VulnerabilityReports could not be listed: the trivy-operator vulnerability family is held."""
    run_dir = harness.run_dir([])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for entry in manifest["kinds"]:
        if entry["plural"] == "vulnerabilityreports":
            entry["status"], entry["error"] = "failed", "forbidden to list"
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir
