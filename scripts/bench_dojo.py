"""Benchmark the DefectDojo side: conversion time and memory, and API calls per nightly run.

Workload: `synthetic_cluster(N)` (about 65 % VulnerabilityReports of 10-60 KB, config audits, exposed secrets,
Kubescape manifests and scans, over 10 namespaces) read by `report-exporter get --from-files` into a run directory.

  conversion   `report-exporter dojo plan RUN` as a whole process under GNU time: every test's document is
               built (the same work `dojo sync` does before sending)
  API calls    `report-exporter dojo sync RUN` against the DefectDojo stand-in of tests/dojo_standin (parsing like
               DefectDojo's parsers), state kept in a directory archive: first import, an unchanged rerun, and a
               rerun after 1 % of the reports changed (one more CVE each)

    python scripts/bench_dojo.py [--reports 10000] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from samplegen import synthetic  # noqa: E402
from scripts.bench_get import measure  # noqa: E402
from tests.dojo_standin import DojoStandin  # noqa: E402


def write_sources(directory: Path, reports: list[dict[str, Any]]) -> Path:
    directory.mkdir()
    for start in range(0, len(reports), 500):
        batch = {"apiVersion": "v1", "kind": "List", "items": reports[start : start + 500]}
        (directory / f"batch-{start:06d}.json").write_text(json.dumps(batch))
    return directory


def get(source: Path, out: Path, env: dict[str, str]) -> Path:
    argv = [
        sys.executable,
        "-m",
        "exporter",
        "get",
        "--from-files",
        str(source),
        "--out",
        str(out),
        "--log-format",
        "json",
    ]
    output = subprocess.run(argv, check=True, capture_output=True, text=True, env=env).stdout
    return Path(output.strip().splitlines()[-1])


def sync(run_dir: Path, env: dict[str, str], dojo: DojoStandin) -> Counter[str]:
    dojo.clear_requests()
    subprocess.run([sys.executable, "-m", "exporter", "dojo", "sync", str(run_dir), "--log-format", "json"],
                   check=False, capture_output=True, env=env)  # fmt: skip
    return Counter(f"{request.method} {request.path.split('/api/v2/')[-1]}" for request in dojo.requests)


NEW_CVE = {
    "vulnerabilityID": "CVE-2026-0001",
    "resource": "zlib1g",
    "installedVersion": "1.2.13",
    "fixedVersion": "1.3.1",
    "severity": "HIGH",
    "title": "zlib: new",
    "primaryLink": "",
    "links": [],
    "score": 7.5,
}


def changed(reports: list[dict[str, Any]], every: int) -> list[dict[str, Any]]:
    """Every `every`-th VulnerabilityReport gains one more CVE: a nightly change of 1 % when every=100."""
    result = json.loads(json.dumps(reports))
    vulnerability_reports = [r for r in result if r["kind"] == "VulnerabilityReport"]
    for report in vulnerability_reports[::every]:
        report["report"]["vulnerabilities"].append(NEW_CVE)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    reports = list(synthetic.synthetic_cluster(args.reports))
    with tempfile.TemporaryDirectory() as scratch_dir, DojoStandin(token="bench-token") as dojo:
        scratch = Path(scratch_dir)
        env = {**os.environ, "PYTHONPATH": str(REPO), "DD_URL": dojo.url, "DD_API_KEY": "bench-token",
               "REPORT_EXPORTER_ARCHIVE": (scratch / "archive").as_uri()}  # fmt: skip
        first_run = get(write_sources(scratch / "day1", reports), scratch / "runs", env)
        plan = measure([sys.executable, "-m", "exporter", "dojo", "plan", str(first_run)], env, scratch)
        first = sync(first_run, env, dojo)
        findings = len(dojo.findings(active=True))
        unchanged = sync(get(write_sources(scratch / "day2", reports), scratch / "runs", env), env, dojo)
        onepercent = sync(get(write_sources(scratch / "day3", changed(reports, 100 * 100 // 65)), scratch / "runs",
                              env), env, dojo)  # fmt: skip
        tests = len(dojo.tests())
    lines = [
        f"Workload: {args.reports:,} synthetic reports over 10 namespaces (`synthetic_cluster`), {tests} DefectDojo "
        f"tests, {findings:,} active findings after the first import.",
        "",
        "| step | wall s | peak RSS MiB | reimport calls | other calls |",
        "|---|---:|---:|---:|---:|",
        f"| conversion (`dojo plan`) | {plan.wall:.2f} | {plan.rss_mib:.0f} | - | - |",
    ]
    for name, calls in (
        ("first import", first),
        ("unchanged rerun", unchanged),
        ("1 % of reports changed", onepercent),
    ):
        reimports = calls.get("POST reimport-scan/", 0)
        lines.append(f"| {name} | - | - | {reimports} | {sum(calls.values()) - reimports} |")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")


if __name__ == "__main__":
    main()
