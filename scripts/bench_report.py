"""Benchmark what the report page adds to a night: `publish_report` after an upload, on an archive of many nights.

Workload: the bundled sample night, archived once with `report-exporter run --sample` into a directory archive,
then copied under --nights run ids of consecutive days (a year of nightly runs by default), as the page reads
every night's summary. Measures, in this process, `publish_report(store, cluster)` (list the runs, read the
summaries, render, write report.html) over --repeat calls: median wall time; then one more call under
tracemalloc for the peak of Python allocations.

    python scripts/bench_report.py [--nights 365] [--repeat 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from exporter.archive.filestore import FileStore  # noqa: E402
from exporter.report_page import publish_report  # noqa: E402

CLUSTER = "default"


def archive_of(nights: int, scratch: Path) -> Path:
    """A directory archive holding the sample night `nights` times, one run a day."""
    archive = scratch / "archive"
    subprocess.run([str(Path(sys.executable).with_name("report-exporter")), "run", "--sample", "--out",
                    str(scratch / "runs"), "--archive", archive.as_uri(), "--log-format", "json"],
                   check=True, capture_output=True)  # fmt: skip
    [night] = [path for path in (archive / CLUSTER / "runs").glob("*/*/*/*") if path.is_dir()]
    first = datetime(2026, 1, 1, 2, tzinfo=UTC)
    for day in range(1, nights):
        moment = first + timedelta(days=day)
        run_id = f"{moment:%Y%m%dT%H%M%SZ}-{day:04x}"
        target = archive / CLUSTER / "runs" / f"{moment:%Y}" / f"{moment:%m}" / f"{moment:%d}" / run_id
        shutil.copytree(night, target)
        manifest = target / "manifest.json"
        manifest.write_text(manifest.read_text().replace(night.name, run_id))
    return archive


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        store = FileStore(archive_of(arguments.nights, Path(scratch)).as_uri())
        walls = []
        for _ in range(arguments.repeat):  # timed without tracemalloc, which slows every allocation
            started = time.perf_counter()
            key = publish_report(store, CLUSTER)
            walls.append(time.perf_counter() - started)
        tracemalloc.start()
        publish_report(store, CLUSTER)
        peaks = [tracemalloc.get_traced_memory()[1] / 2**20]
        tracemalloc.stop()
        size = len(store.get_bytes(key))
    print(
        f"nights={arguments.nights} page={size / 1024:.0f} KiB publish_report median={statistics.median(walls):.3f} s "
        f"(min {min(walls):.3f}, max {max(walls):.3f}) peak={statistics.median(peaks):.1f} MiB (tracemalloc)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
