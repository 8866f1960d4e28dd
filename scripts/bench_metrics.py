"""Benchmark what publishing the night's metrics adds to a night: `publish` beside `report-exporter run --sample`.

Workload: the bundled sample cluster. First, --repeat times, the whole night as a process under GNU time:

  night     report-exporter run --sample --out RUNS --archive file://ARCHIVE   (get, archive, retention)

Then, in a fresh process that has already imported what the uploader imports by the end of a night (the pipeline,
the summary, boto3), the cost of metrics on top: importing exporter.metrics (prometheus_client) and one `publish`
of the sample night's summary to a textfile (and to a Pushgateway on loopback, when Debian's
prometheus-pushgateway is installed), as a night pays them once; then the median of --calls further publishes,
with tracemalloc's peak. Added RSS is the process's peak RSS after publishing minus before importing.

    python scripts/bench_metrics.py [--repeat 5] [--calls 50] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def measure_night(scratch: Path, index: int) -> tuple[float, float]:
    """One `run --sample` under GNU time (its own fork, so the RSS is the night's alone): wall s, peak RSS MiB."""
    report = scratch / "time.txt"
    argv = [sys.executable, "-m", "exporter", "run", "--sample", "--out", str(scratch / f"runs-{index}"),
            "--archive", f"file://{scratch / 'archive'}", "--log-format", "json"]  # fmt: skip
    subprocess.run(["/usr/bin/time", "-o", str(report), "-f", "%e %M", *argv], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)  # fmt: skip
    wall, rss_kib = report.read_text().split()[-2:]
    return float(wall), int(rss_kib) / 1024


def sample_summary(scratch: Path, night_seconds: float) -> dict[str, Any]:
    """The summary of the sample night: its real manifest, with DefectDojo counts in every slot (the sample
    night has no DefectDojo, and the metrics' cost does not depend on the numbers, only on how many there are)."""
    from exporter.summary import DojoFacts, NightFacts, Stage, night_summary  # noqa: PLC0415

    manifest = json.loads(next((scratch / "runs-0").glob("*/manifest.json")).read_text())
    counts = {"critical": 3, "high": 40, "medium": 120, "low": 80, "info": 9}
    dojo = DojoFacts(
        tests={"reimported": 12, "unchanged": 30, "emptied": 1, "held": 0, "valve_held": 0, "missing": 0, "failed": 0},
        calls=60, new=counts, closed=counts, reactivated=counts, active=counts,
        active_by_scope={f"team-{index:02d}": counts for index in range(10)},
    )  # fmt: skip
    stages = {name: Stage("complete", night_seconds / 4) for name in ("get", "archive", "dojo", "retention")}
    archived = sum(int(entry["bytes"]) for entry in manifest["kinds"])
    return night_summary(NightFacts(manifest, stages, archived_bytes=archived, dojo=dojo, deleted_runs=1))


def child(summary_file: Path, prom_file: Path, gateway: str | None, calls: int) -> dict[str, float]:
    """In a fresh process: the cost of importing exporter.metrics and publishing, after a night's imports."""
    import io  # noqa: PLC0415
    import resource  # noqa: PLC0415
    import time  # noqa: PLC0415
    import tracemalloc  # noqa: PLC0415

    import boto3  # noqa: F401, PLC0415 - loaded by every upload before the night ends

    import exporter.pipeline  # noqa: PLC0415
    import exporter.summary  # noqa: F401, PLC0415
    from exporter.config import load_settings  # noqa: PLC0415
    from exporter.progress import JsonReporter  # noqa: PLC0415

    summary = json.loads(summary_file.read_text())
    flags = {"metrics.file": str(prom_file), "metrics.pushgateway": gateway}
    settings = load_settings(environ={}, flags=flags)
    log = io.StringIO()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    from exporter.metrics import publish  # noqa: PLC0415

    imported = time.perf_counter()
    publish(settings, summary, JsonReporter(log))
    first = time.perf_counter()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if "warning" in log.getvalue():
        raise SystemExit(f"publish warned: {log.getvalue()}")
    timings = []
    for _ in range(calls):
        begin = time.perf_counter()
        publish(settings, summary, JsonReporter(io.StringIO()))
        timings.append(time.perf_counter() - begin)
    tracemalloc.start()  # once more, traced: tracemalloc slows every allocation, so not while timing
    publish(settings, summary, JsonReporter(io.StringIO()))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "import_s": imported - started,
        "first_publish_s": first - imported,
        "publish_median_s": statistics.median(timings),
        "publish_traced_peak_mib": peak / 2**20,
        "added_rss_mib": (rss_after - rss_before) / 1024,
        "textfile_bytes": prom_file.stat().st_size,
    }


@contextmanager
def pushgateway() -> Iterator[str | None]:
    """A Pushgateway on loopback when Debian's package is installed; None otherwise (textfile only)."""
    if shutil.which("prometheus-pushgateway") is None:
        yield None
        return
    from tests.metrics_services import start_pushgateway  # noqa: PLC0415

    gateways = start_pushgateway()
    try:
        yield next(gateways).url
    finally:
        gateways.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--child", nargs=3, metavar=("SUMMARY", "PROM", "GATEWAY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        summary_file, prom_file, gateway = args.child
        print(json.dumps(child(Path(summary_file), Path(prom_file), gateway or None, args.calls)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as scratch_name, pushgateway() as gateway:
        scratch = Path(scratch_name)
        nights = [measure_night(scratch, index) for index in range(args.repeat)]
        wall = statistics.median(night[0] for night in nights)
        rss = max(night[1] for night in nights)
        summary_file = scratch / "summary.json"
        summary_file.write_text(json.dumps(sample_summary(scratch, wall)))
        costs = json.loads(subprocess.run(
            [sys.executable, __file__, "--calls", str(args.calls), "--child", str(summary_file),
             str(scratch / "report_exporter.prom"), gateway or ""],
            check=True, capture_output=True, text=True).stdout)  # fmt: skip
    print_report(args, wall, rss, costs, gateway is not None)


def print_report(args: argparse.Namespace, wall: float, rss: float, costs: dict[str, float], pushed: bool) -> None:
    added_wall = costs["import_s"] + costs["first_publish_s"]
    where = "a textfile and a Pushgateway on 127.0.0.1" if pushed else "a textfile"
    lines = [
        f"Workload: `report-exporter run --sample` (bundled sample cluster, file:// archive), median wall of "
        f"{args.repeat}, max peak RSS; then, in a fresh process after the uploader's imports, importing "
        f"exporter.metrics and one `publish` to {where}; the steady publish is the median of {args.calls} calls.",
        "",
        "| what | wall ms | vs night | memory MiB | vs night |",
        "|---|---:|---:|---:|---:|",
        f"| night: `run --sample` | {wall * 1000:,.0f} | 100 % | {rss:,.0f} (peak RSS) | 100 % |",
        f"| import exporter.metrics | {costs['import_s'] * 1000:.1f} | | | |",
        f"| first publish | {costs['first_publish_s'] * 1000:.1f} | | | |",
        f"| added by metrics (import + first publish) | {added_wall * 1000:.1f} | {added_wall / wall:.2%} "
        f"| {costs['added_rss_mib']:.1f} (peak RSS) | {costs['added_rss_mib'] / rss:.2%} |",
        f"| steady publish | {costs['publish_median_s'] * 1000:.2f} | | {costs['publish_traced_peak_mib']:.2f} "
        "(tracemalloc peak) | |",
        "",
        f"Textfile: {costs['textfile_bytes']:,.0f} bytes.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main()
