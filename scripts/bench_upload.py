"""Benchmark `report-exporter upload` of a 10,000-report run to a real OpenStack Swift, beside `aws s3 cp`.

Workload: `synthetic_cluster(N)` (about 65 % VulnerabilityReports of 10-60 KB, plus config audits, exposed
secrets, Kubescape manifests and scans) read by `report-exporter get --from-files` into one run directory; then,
interleaved, --repeat times, each as a whole process under GNU time:

  exporter  report-exporter upload --from RUN --no-prune   (verified uploads, manifest last)
  awscli    aws s3 cp --recursive RUN s3://bucket/...      (awscli from PyPI, in its own virtualenv)

Each tool runs as it ships, from a virtualenv of its own: the exporter is installed from this checkout with its
runtime dependencies only (`pip install .`, as the Dockerfile does), not from the development virtualenv, whose
editable-install finder and test dependencies (ansible and ~100 more distributions) cost every start-up.

against Swift (s3api) started by ../shared/services/swift-s3/start.sh on 127.0.0.1. Median wall, max peak RSS.

    python scripts/bench_upload.py [--reports 10000] [--repeat 3] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from samplegen import synthetic  # noqa: E402
from scripts.bench_get import Sample, measure  # noqa: E402

SWIFT = REPO.parent / "shared" / "services" / "swift-s3"
AWSCLI_VENV = Path.home() / ".cache" / "report-exporter" / "bench-awscli"


def awscli() -> Path:
    """awscli in a virtualenv of its own: it pins botocore, which must not move the product's."""
    aws = AWSCLI_VENV / "bin" / "aws"
    if not aws.exists():
        subprocess.run([sys.executable, "-m", "venv", str(AWSCLI_VENV)], check=True)
        subprocess.run([str(AWSCLI_VENV / "bin" / "pip"), "install", "-q", "awscli"], check=True)
    return aws


def exporter_install(scratch: Path) -> Path:
    """The exporter as the image installs it: a wheel of this checkout and its runtime dependencies only."""
    venv = scratch / "exporter-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(REPO)], check=True)
    return venv / "bin" / "report-exporter"


def start_swift(state: Path) -> dict[str, str]:
    environment = {**os.environ, "SWIFT_S3_PORT": "auto", "SWIFT_S3_BACKEND_PORT": "auto"}
    output = subprocess.run(["bash", str(SWIFT / "start.sh"), str(state)], env=environment, check=True,
                            capture_output=True, text=True).stdout  # fmt: skip
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def make_run(scratch: Path, count: int) -> Path:
    """Reports as kubectl lists of 500, then the real getter turns them into a run directory."""
    source = scratch / "reports"
    source.mkdir()
    batch: list[dict[str, object]] = []
    for number, report in enumerate(synthetic.synthetic_cluster(count), start=1):
        batch.append(report)
        if len(batch) == 500 or number == count:
            (source / f"batch-{number:06d}.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                                                         "items": batch}))  # fmt: skip
            batch = []
    output = subprocess.run([sys.executable, "-m", "exporter", "get", "--from-files", str(source), "--out",
                             str(scratch / "runs"), "--log-format", "json"], check=True, capture_output=True,
                            text=True, cwd=REPO).stdout  # fmt: skip
    return Path(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    aws = awscli()
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        exporter = exporter_install(scratch)
        swift = start_swift(scratch / "swift")
        try:
            run_dir = make_run(scratch, args.reports)
            size = sum(path.stat().st_size for path in run_dir.rglob("*") if path.is_file())
            files = sum(1 for path in run_dir.rglob("*") if path.is_file())
            environment = {
                **os.environ,
                "AWS_ENDPOINT_URL_S3": swift["S3_ENDPOINT_URL"],
                "AWS_ENDPOINT_URL": swift["S3_ENDPOINT_URL"],
                "AWS_ACCESS_KEY_ID": swift["AWS_ACCESS_KEY_ID"],
                "AWS_SECRET_ACCESS_KEY": swift["AWS_SECRET_ACCESS_KEY"],
                "AWS_DEFAULT_REGION": swift["AWS_DEFAULT_REGION"],
                "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
                "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
                "REPORT_EXPORTER_CREATE_BUCKET": "true",
            }
            subprocess.run([str(aws), "s3", "mb", "s3://bench"], env=environment, check=True, capture_output=True)
            samples: dict[str, list[Sample]] = {"exporter": [], "awscli": []}
            for attempt in range(args.repeat):
                commands = {
                    "exporter": [str(exporter), "upload", "--from", str(run_dir), "--no-prune",
                                 "--archive", f"s3://bench/exporter-{attempt}", "--log-format", "json"],
                    "awscli": [str(aws), "s3", "cp", "--recursive", "--only-show-errors", str(run_dir),
                               f"s3://bench/awscli-{attempt}/"],
                }  # fmt: skip
                for name, argv in commands.items():
                    sample = measure(argv, environment, scratch)
                    if sample.exit_code != 0:
                        raise RuntimeError(f"{name} exited {sample.exit_code}")
                    samples[name].append(sample)
        finally:
            subprocess.run(["bash", str(SWIFT / "stop.sh"), str(scratch / "swift"), "--purge"], check=False,
                           capture_output=True)  # fmt: skip
    lines = [
        f"Workload: a run directory of {args.reports:,} synthetic reports ({files} files, {size / 2**20:.1f} MiB "
        f"gzip JSON Lines), uploaded to OpenStack Swift s3api on 127.0.0.1 (http); median wall of {args.repeat} "
        "runs, max peak RSS.",
        "",
        "| client | wall s | vs awscli | peak RSS MiB |",
        "|---|---:|---:|---:|",
    ]
    floor = statistics.median(s.wall for s in samples["awscli"])
    for name, runs in samples.items():
        wall = statistics.median(s.wall for s in runs)
        lines.append(f"| {name} | {wall:.2f} | {wall / floor:.2f}x | {max(s.rss_mib for s in runs):.0f} |")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")


if __name__ == "__main__":
    main()
