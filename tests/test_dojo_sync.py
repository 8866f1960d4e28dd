"""Findings in DefectDojo through their life, against the stand-in that parses like DefectDojo's real parsers.

Each test writes report objects, runs the real getter into a run directory and sends it with the real sync, then
looks at what DefectDojo would hold: new, unchanged, fixed (closed), back (reactivated), rollout (unchanged),
failed kind (untouched), triage kept, and nothing sent when nothing changed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from exporter.cli import app
from tests.dojo_harness import CVE1, CVE2, TOKEN, Harness, cve, failed_run, report
from tests.dojo_standin import DojoStandin


def test_first_run_imports_every_finding_into_its_namespace_test(harness: Harness) -> None:
    result = harness.sync([report("shop", "web-6d4cf56db6", CVE1, CVE2), report("payments", "api-7c9d8f6b5d", CVE1)])
    assert not result.failed and len(result.reimported) == 2
    findings = harness.dojo.findings(active=True)
    assert len(findings) == 3
    titles = {t["title"] for t in harness.dojo.tests()}
    assert titles == {"vulnerability shop", "vulnerability payments"}
    assert {p["name"] for p in harness.dojo.products()} == {"prod"}


def test_an_unchanged_rerun_makes_no_import_call(harness: Harness) -> None:
    objects = [report("shop", "web-6d4cf56db6", CVE1, CVE2)]
    harness.sync(objects)
    harness.dojo.clear_requests()
    result = harness.sync(objects)
    assert harness.reimports() == 0 and result.reimported == [] and result.unchanged
    assert result.calls == 1, "one list call for the one engagement, to see that the test still exists"
    [listed] = harness.dojo.requests
    assert (listed.method, listed.path, listed.query["engagement"]) == ("GET", "/api/v2/tests/", "1")


def test_a_fixed_finding_is_closed_and_reactivated_when_it_comes_back(harness: Harness) -> None:
    harness.sync([report("shop", "web-6d4cf56db6", CVE1, CVE2)])
    harness.sync([report("shop", "web-6d4cf56db6", CVE1)])
    assert len(harness.dojo.findings(active=True)) == 1
    closed = harness.dojo.findings(active=False)
    assert len(closed) == 1 and "CVE-2024-45490" in json.dumps(closed[0])
    harness.sync([report("shop", "web-6d4cf56db6", CVE1, CVE2)])
    assert len(harness.dojo.findings(active=True)) == 2 and len(harness.dojo.findings()) == 2


def test_a_rollout_with_the_same_packages_changes_nothing(harness: Harness) -> None:
    harness.sync([report("shop", "web-6d4cf56db6", CVE1, CVE2)])
    ids = {f["id"] for f in harness.dojo.findings(active=True)}
    harness.sync([report("shop", "web-5b8f7c9d4e", CVE1, CVE2)])
    assert {f["id"] for f in harness.dojo.findings(active=True)} == ids
    assert harness.dojo.findings(active=False) == []


def test_a_failed_kind_leaves_its_findings_untouched(harness: Harness) -> None:
    harness.sync([report("shop", "web-6d4cf56db6", CVE1, CVE2)])
    run_dir = failed_run(harness)
    before = harness.reimports()
    result = harness.sync(run_dir)
    assert harness.reimports() == before
    assert result.held and "vulnerabilityreports failed" in result.held[0]
    assert len(harness.dojo.findings(active=True)) == 2


def test_a_kind_that_completed_empty_closes_its_findings(harness: Harness) -> None:
    harness.sync([report("shop", "web-6d4cf56db6", CVE1, CVE2), report("payments", "api-7c9d8f6b5d", CVE1)])
    result = harness.sync([report("payments", "api-7c9d8f6b5d", CVE1)])
    assert result.emptied == ["trivy-operator/vulnerability/shop"]
    assert len(harness.dojo.findings(active=True)) == 1
    assert len(harness.dojo.findings(active=False)) == 2
    again = harness.sync([report("payments", "api-7c9d8f6b5d", CVE1)])
    assert again.emptied == [] and again.calls == 1, "an emptied scope is closed once, not every night"


def test_an_analysts_false_positive_survives_the_nightly_reimport(harness: Harness) -> None:
    harness.sync([report("shop", "web-6d4cf56db6", CVE1, CVE2)])
    target = harness.dojo.findings(active=True)[0]
    _patch(harness.dojo, target["id"], {"false_p": True, "active": False})
    harness.sync([report("shop", "web-6d4cf56db6", CVE1, CVE2, cve("CVE-2023-1", "zlib1g", "LOW"))])
    kept = next(f for f in harness.dojo.findings() if f["id"] == target["id"])
    assert kept["false_p"] is True and kept["active"] is False


def test_every_test_gets_one_consistent_service(harness: Harness) -> None:
    harness.sync([report("shop", "web-6d4cf56db6", CVE1)])
    sent = [r for r in harness.dojo.requests if r.path.endswith("/reimport-scan/")]
    assert sent[0].form["service"] == "prod/trivy-operator/vulnerability/shop"
    assert sent[0].form["close_old_findings"] == "true"


def test_the_next_reimport_lands_in_the_test_a_failed_import_left_behind(harness: Harness) -> None:
    harness.dojo.import_fails_after_creating_test()
    first = harness.sync([report("shop", "web-6d4cf56db6", CVE1)], retries=0)
    assert first.failed and len(harness.dojo.tests()) == 1 and harness.dojo.findings() == []
    second = harness.sync([report("shop", "web-6d4cf56db6", CVE1)])
    assert not second.failed
    assert len(harness.dojo.tests()) == 1, "no second test: the findings land in the one left behind"
    assert len(harness.dojo.findings(active=True)) == 1


def test_server_errors_are_retried(harness: Harness) -> None:
    harness.dojo.fail_next("/api/v2/reimport-scan/", 503)
    result = harness.sync([report("shop", "web-6d4cf56db6", CVE1)])
    assert not result.failed and len(harness.dojo.findings(active=True)) == 1


def test_a_document_over_the_limit_is_split_into_stable_parts(harness: Harness) -> None:
    objects = [report("shop", f"svc{i}-6d4cf56db6", cve(f"CVE-2024-{i:04d}", f"pkg{i}")) for i in range(12)]
    result = harness.sync(objects, max_document_bytes=6000)
    assert not result.failed and len(result.reimported) > 1
    assert all("(part " in t["title"] for t in harness.dojo.tests())
    assert len(harness.dojo.findings(active=True)) == 12
    rerun = harness.sync(objects, max_document_bytes=6000)
    assert rerun.reimported == [] and rerun.calls == 1


def test_dojo_down_archives_the_run_and_exits_non_zero(tmp_path: Path, dojo: DojoStandin) -> None:
    """With production retries (5 a call): the breaker ends the sync within seconds, every test is reported as
    failed, the run is archived and retention still runs (the older run goes, keep_last 1)."""
    dojo.down()
    archive = (tmp_path / "archive").as_uri()
    night = ["run", "--sample", "--out", str(tmp_path / "runs"), "--archive", archive, "--log-format", "json"]
    config = {"REPORT_EXPORTER_CONFIG": str(_fast_retries(tmp_path))}
    older = CliRunner().invoke(app, night, env=config)
    assert older.exit_code == 0, older.stderr[-2000:]
    time.sleep(1.1)  # run ids sort by their start second: tonight's run must be the newer one
    started = time.monotonic()
    result = CliRunner().invoke(app, night, env={"DD_URL": dojo.url, "DD_API_KEY": TOKEN, **config})
    assert result.exit_code == 3
    assert time.monotonic() - started < 15
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert any(line["event"] == "upload_finished" for line in lines)
    errors = [line["message"] for line in lines if line["level"] == "error"]
    assert errors and all("cannot reach DefectDojo" in message for message in errors)
    assert len(errors) <= 5, "a few failed calls and the breaker's line, not one error per test"
    [finished] = [line for line in lines if line["event"] == "dojo_finished"]
    assert finished["failed"] >= 30 and finished["reimported"] == 0
    [pruned] = [line for line in lines if line["event"] == "prune_finished"]
    assert len(pruned["deleted_runs"]) == 1, "retention ran after DefectDojo failed"
    assert TOKEN not in result.stderr and TOKEN not in result.stdout
    listed = CliRunner().invoke(app, ["runs", "list", "--archive", archive])
    assert listed.stdout.count("\tcomplete\t") == 1


def test_the_sample_cluster_goes_to_dojo_through_upload(tmp_path: Path, dojo: DojoStandin) -> None:
    archive = (tmp_path / "archive").as_uri()
    env = {"DD_URL": dojo.url, "DD_API_KEY": TOKEN}
    first = CliRunner().invoke(app, ["run", "--sample", "--out", str(tmp_path / "runs"), "--archive", archive,
                                     "--log-format", "json"], env=env)  # fmt: skip
    assert first.exit_code == 0, first.stderr[-3000:]
    assert len(dojo.findings(active=True)) > 100
    reimports = sum(1 for r in dojo.requests if r.path.endswith("/reimport-scan/"))
    second = CliRunner().invoke(app, ["run", "--sample", "--out", str(tmp_path / "runs"), "--archive", archive,
                                      "--log-format", "json"], env=env)  # fmt: skip
    assert second.exit_code == 0
    assert sum(1 for r in dojo.requests if r.path.endswith("/reimport-scan/")) == reimports
    assert TOKEN not in first.stderr + second.stderr


def _patch(dojo: DojoStandin, finding_id: int, fields: dict[str, Any]) -> None:
    import requests

    response = requests.patch(f"{dojo.url}/api/v2/findings/{finding_id}/", json=fields,
                              headers={"Authorization": f"Token {TOKEN}"}, timeout=10)  # fmt: skip
    assert response.status_code == 200, response.text


def _fast_retries(tmp_path: Path) -> Path:
    """Production's retries (dojo.retries 5) with a short backoff, and retention keeping the newest run."""
    path = tmp_path / "fast.yaml"
    path.write_text(yaml.safe_dump({"dojo": {"backoff_factor": 0.01}, "archive": {"retention": {"keep_last": 1}}}))
    return path


def test_dojo_plan_prints_where_findings_would_go_and_sends_nothing(tmp_path: Path, dojo: DojoStandin) -> None:
    got = CliRunner().invoke(app, ["get", "--sample", "--out", str(tmp_path / "runs"), "--log-format", "json"])
    result = CliRunner().invoke(
        app,
        ["dojo", "plan", str(tmp_path / "runs"), "--documents", str(tmp_path / "docs"), "--log-format", "json"],
        env={"DD_URL": dojo.url, "DD_API_KEY": TOKEN},
    )
    assert got.exit_code == 0 and result.exit_code == 0, result.stderr
    written = sorted(path.name for path in (tmp_path / "docs").iterdir())
    assert len(written) == len(result.stdout.splitlines()) and "trivy-operator_vulnerability_shop.json" in written
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert "Kubernetes / default / trivy-operator / vulnerability shop" in [row[0] for row in rows]
    assert {row[1] for row in rows} == {"Trivy Operator Scan", "Anchore Grype", "Kubescape JSON Importer"}
    assert dojo.requests == []


def test_dojo_sync_sends_a_run_and_reports_the_counts(tmp_path: Path, dojo: DojoStandin) -> None:
    CliRunner().invoke(app, ["get", "--sample", "--out", str(tmp_path / "runs"), "--log-format", "json"])
    env = {"DD_URL": dojo.url, "DD_API_KEY": TOKEN, "REPORT_EXPORTER_ARCHIVE": (tmp_path / "archive").as_uri()}
    result = CliRunner().invoke(app, ["dojo", "sync", str(tmp_path / "runs"), "--log-format", "json"], env=env)
    assert result.exit_code == 0, result.stderr
    finished = [json.loads(line) for line in result.stderr.splitlines() if '"dojo_finished"' in line]
    tests = finished[0]["reimported"]
    assert finished and tests >= 30 and finished[0]["failed"] == 0
    again = CliRunner().invoke(app, ["dojo", "sync", str(tmp_path / "runs"), "--log-format", "json"], env=env)
    summary = next(json.loads(line) for line in again.stderr.splitlines() if '"dojo_finished"' in line)
    assert summary["reimported"] == 0 and summary["unchanged"] == tests
    assert summary["calls"] == 2, "one list call per engagement (trivy-operator, kubescape): the tests still exist"


def test_a_rejected_api_key_is_one_clear_line(tmp_path: Path, dojo: DojoStandin) -> None:
    CliRunner().invoke(app, ["get", "--sample", "--out", str(tmp_path / "runs"), "--log-format", "json"])
    env = {"DD_URL": dojo.url, "DD_API_KEY": "wrong-key-123"}
    result = CliRunner().invoke(app, ["dojo", "sync", str(tmp_path / "runs"), "--log-format", "json"], env=env)
    assert result.exit_code == 3
    errors = {json.loads(line)["message"] for line in result.stderr.splitlines() if '"error"' in line}
    assert errors and all("rejected the API key" in message for message in errors)
    assert "wrong-key-123" not in result.stderr


def test_dojo_plan_names_a_test_too_large_to_send_whatever_its_split(tmp_path: Path) -> None:
    """A finding larger than dojo.max_document_bytes alone cannot be split below it: `dojo plan` says so beforehand,
    as `dojo sync` fails it (tests/test_dojo_oversize.py)."""
    config = tmp_path / "small.yaml"
    config.write_text(yaml.safe_dump({"dojo": {"max_document_bytes": 1024}}))
    CliRunner().invoke(app, ["get", "--sample", "--out", str(tmp_path / "runs"), "--log-format", "json"])
    result = CliRunner().invoke(app, ["dojo", "plan", str(tmp_path / "runs"), "--config", str(config)])
    assert result.exit_code == 0, result.stderr
    too_large = [line for line in result.stdout.splitlines() if line.startswith("too large (archived, not sent): ")]
    assert too_large and all("raise dojo.max_document_bytes" in line for line in too_large)
