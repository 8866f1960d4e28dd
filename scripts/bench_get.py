"""Benchmark `report-exporter get` against a real kube-apiserver, beside kubectl and raw paginated GETs.

Workload: N synthetic VulnerabilityReports of about --size bytes each (realistic trivy-operator content, from
samplegen.synthetic) spread over 10 namespaces, in a fresh etcd + kube-apiserver built by
scripts/k8s/ensure-binaries.sh. For each N, three clients list every report, each as a whole process, --repeat
times, interleaved:

  exporter  report-exporter get --kinds vulnerabilityreports --page-size P (writes the gzip run directory)
  kubectl   kubectl get vulnerabilityreports -A -o json > /dev/null (kubectl pages by 500 itself)
  raw       paginated GETs (limit=P) streamed to /dev/null: the floor no client can beat

Wall time (median) and peak RSS (max, from wait4) per client. Usage:

  python scripts/bench_get.py --reports 1000 10000 [--size 30000] [--page-size 100] [--repeat 3] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from exporter.catalog import resolve  # noqa: E402
from exporter.kube.listing import collection_path  # noqa: E402
from samplegen import synthetic  # noqa: E402
from tests.k8s.reports import create_report  # noqa: E402
from tests.k8s.testenv import KubeTestEnv  # noqa: E402

VULNS = resolve("vulnerabilityreports")
CRD = REPO.parent / "shared" / "crds" / "trivy-operator" / "aquasecurity.github.io_vulnerabilityreports.yaml"
RAW_CLIENT = REPO / "scripts" / "raw_pages.py"


@dataclass
class Sample:
    wall: float
    rss_mib: float
    exit_code: int


def measure(argv: list[str], env: dict[str, str], scratch: Path) -> Sample:
    """Run one process under GNU time: its wall time and peak RSS.

    GNU time forks the command from its own small process, so the peak RSS is the command's alone (a child
    forked from this benchmark would be charged with this process's memory too).
    """
    report = scratch / "time.txt"
    completed = subprocess.run(
        ["/usr/bin/time", "-o", str(report), "-f", "%e %M", *argv],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False,
    )  # fmt: skip
    wall, rss_kib = report.read_text().split()[-2:]
    return Sample(float(wall), int(rss_kib) / 1024, completed.returncode)


def load(env: KubeTestEnv, count: int, size: int) -> int:
    """Create `count` reports with 8 writers; returns the bytes served for them."""
    namespaces = [f"team-{index:02d}" for index in range(10)]
    for namespace in namespaces:
        env.create_namespace(namespace)

    def create(index: int) -> None:
        create_report(env, VULNS, synthetic.vulnerability_report(namespaces[index % 10], index, target_bytes=size))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(create, range(count)))
    return count * size


def clients(env: KubeTestEnv, bin_dir: Path, out: Path, page_size: int) -> dict[str, list[str]]:
    exporter = [sys.executable, "-m", "exporter", "get", "--out", str(out), "--kinds", "vulnerabilityreports",
                "--page-size", str(page_size), "--kubeconfig", str(env.kubeconfig), "--log-format", "json"]  # fmt: skip
    kubectl = [str(bin_dir / "kubectl"), "--kubeconfig", str(env.kubeconfig), "get", "vulnerabilityreports", "-A",
               "-o", "json"]  # fmt: skip
    raw = [sys.executable, str(RAW_CLIENT), str(env.kubeconfig), collection_path(VULNS), str(page_size)]
    return {"exporter": exporter, "kubectl": kubectl, "raw": raw}


def bench(count: int, size: int, page_size: int, repeat: int, bin_dir: Path) -> list[str]:
    rows = []
    with tempfile.TemporaryDirectory() as scratch, KubeTestEnv(bin_dir) as env:
        env.apply_crds([CRD])
        started = time.perf_counter()
        load(env, count, size)
        print(f"loaded {count} reports of ~{size} B in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        commands = clients(env, bin_dir, Path(scratch) / "runs", page_size)
        samples: dict[str, list[Sample]] = {name: [] for name in commands}
        environment = {**os.environ, "PYTHONPATH": str(REPO)}
        for _ in range(repeat):
            for name, argv in commands.items():
                sample = measure(argv, environment, Path(scratch))
                if sample.exit_code != 0:
                    raise RuntimeError(f"{name} exited {sample.exit_code}: {' '.join(argv)}")
                samples[name].append(sample)
        floor = statistics.median(s.wall for s in samples["raw"])
        kubectl_rss = max(s.rss_mib for s in samples["kubectl"])
        for name, runs in samples.items():
            wall = statistics.median(s.wall for s in runs)
            rss = max(s.rss_mib for s in runs)
            rows.append(f"| {count:,} | {name} | {wall:.2f} | {wall / floor:.2f}x | {rss:.0f} | "
                        f"{rss / kubectl_rss:.2f} |")  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--size", type=int, default=30_000, help="bytes per report (serialised)")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    bin_dir = Path(subprocess.run(["bash", str(REPO / "scripts/k8s/ensure-binaries.sh")], check=True,
                                  stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1])  # fmt: skip
    header = [
        f"Workload: N VulnerabilityReports of ~{args.size:,} B over 10 namespaces, real kube-apiserver "
        f"{KUBE_VERSION} + etcd on 127.0.0.1; page size {args.page_size}; median wall of {args.repeat} runs, "
        "max peak RSS.",
        "",
        "| reports | client | wall s | vs raw | peak RSS MiB | RSS vs kubectl |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    rows = [row for count in args.reports for row in bench(count, args.size, args.page_size, args.repeat, bin_dir)]
    table = "\n".join(header + rows)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")


KUBE_VERSION = "v1.34.3"

if __name__ == "__main__":
    main()
