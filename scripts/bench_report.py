"""Benchmark what the report page adds to a night: `publish_report` after an upload, on an archive of many nights.

Workload: the bundled sample night, archived once with `report-exporter run --sample` into a directory archive (that
process's wall time is the night the page is compared with), then copied under one run id a day for N nights. The
sample night has no DefectDojo, so each copy's summary.json gets DefectDojo's numbers as a real night has them (open,
new and closed findings per severity, open findings in 30 namespaces), which the page's trend and its index carry.
With --s3, the archive is then copied to an S3-compatible store (a real OpenStack Swift: `eval "$(../shared/services/
swift-s3/start.sh DIR)"`, credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) and measured there.

For each N, `publish_report(store, cluster)` is timed (median of --repeat calls, GETs counted) three ways:
  before   the page as it was built before the index: every manifest and every summary read (`list_runs`,
           `read_summaries`, `render_report`), then written
  cold     no index yet (first night after the upgrade, or a lost index): every run read, the index written
  night    the index holds every run but tonight's, the newest: a night's case (tonight's manifest and summary read)
then one more night call under tracemalloc for the peak of Python allocations.

    python scripts/bench_report.py [--nights 30 365 1000] [--repeat 5] [--s3 URL] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from exporter.archive import keys  # noqa: E402
from exporter.archive.filestore import FileStore  # noqa: E402
from exporter.archive.night_index import index_key, read_nights, save_index  # noqa: E402
from exporter.archive.runs import list_runs  # noqa: E402
from exporter.archive.store import Store, StoredObject  # noqa: E402
from exporter.archive.summaries import read_summaries  # noqa: E402
from exporter.report import render_report  # noqa: E402
from exporter.report_page import publish_report  # noqa: E402

CLUSTER = "default"
SEVERITIES = ("critical", "high", "medium", "low", "info")
NAMESPACES = 30


class CountingStore:
    """Any store, counting the objects read (GETs): what a night costs in requests beside the one listing."""

    def __init__(self, store: Store) -> None:
        self.store, self.url, self.gets = store, store.url, 0

    def check(self) -> None:
        self.store.check()

    def put_file(self, path: Path, key: str) -> None:
        self.store.put_file(path, key)

    def put_bytes(self, data: bytes, key: str) -> None:
        self.store.put_bytes(data, key)

    def get_file(self, key: str, path: Path) -> None:
        self.gets += 1
        self.store.get_file(key, path)

    def get_bytes(self, key: str) -> bytes:
        self.gets += 1
        return self.store.get_bytes(key)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        return self.store.list(prefix)

    def delete(self, keys: Sequence[str]) -> None:
        self.store.delete(keys)

    def abort_stale_uploads(self, prefix: str, older_than: datetime) -> int:
        return self.store.abort_stale_uploads(prefix, older_than)


def sample_night(scratch: Path) -> tuple[Path, Path, float]:
    """The sample night archived once: the archive, its run directory in it, and the night's wall seconds."""
    archive = scratch / "archive"
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("report-exporter")), "run", "--sample", "--out",
                    str(scratch / "runs"), "--archive", archive.as_uri(), "--log-format", "json"],
                   check=True, capture_output=True)  # fmt: skip
    night_seconds = time.perf_counter() - started
    [night] = [path for path in (archive / CLUSTER / "runs").glob("*/*/*/*") if path.is_dir()]
    return archive, night, night_seconds


def with_findings(summary: dict[str, object], day: int) -> dict[str, object]:
    """The summary with DefectDojo's part as a real night has it (numbers vary by day, so no two nights agree)."""
    counts = {severity: (day * (index + 3)) % 97 for index, severity in enumerate(SEVERITIES)}
    per_namespace = {f"team-{index:02d}": {s: (day + index) % 13 for s in SEVERITIES} for index in range(NAMESPACES)}
    findings = {"new": counts, "closed": counts, "reactivated": counts, "active": counts,
                "active_by_namespace": per_namespace}  # fmt: skip
    return {**summary, "dojo": {"tests": {"reimported": 12, "unchanged": 30}, "calls": 50}, "findings": findings}


def archive_of(nights: int, scratch: Path) -> tuple[Path, float]:
    """A directory archive holding the sample night `nights` times, one run a day; and the night's wall seconds."""
    archive, night, night_seconds = sample_night(scratch)
    summary = json.loads((night / "summary.json").read_text())
    first = datetime(2026, 1, 1, 2, tzinfo=UTC)
    for day in range(nights):
        moment = first + timedelta(days=day)
        run_id = f"{moment:%Y%m%dT%H%M%SZ}-{day:04x}"
        target = archive / CLUSTER / "runs" / f"{moment:%Y}" / f"{moment:%m}" / f"{moment:%d}" / run_id
        shutil.copytree(night, target)
        manifest = target / "manifest.json"
        manifest.write_text(manifest.read_text().replace(night.name, run_id))
        night_summary = with_findings({**summary, "run_id": run_id}, day)
        (target / "summary.json").write_text(json.dumps(night_summary, indent=1))
    shutil.rmtree(night)  # the original is dated today: the copies are the archive
    (archive / CLUSTER / "report.html").unlink(missing_ok=True)
    return archive, night_seconds


def to_s3(archive: Path, url: str, bucket_url: str) -> Store:
    """Copy the directory archive to the S3 store at `url` (8 uploads at a time); the store."""
    from exporter.archive.s3store import S3Store  # noqa: PLC0415 - boto3 loads only with --s3
    from exporter.config import ArchiveSettings  # noqa: PLC0415

    store = S3Store(ArchiveSettings(destination=bucket_url, endpoint_url=url, create_bucket=True))
    store.check()
    files = [path for path in archive.rglob("*") if path.is_file()]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda path: store.put_file(path, path.relative_to(archive).as_posix()), files))
    return store


def publish_before(store: Store) -> None:
    """publish_report as it was before the index (commit 51d58f2): every manifest and summary read."""
    page = render_report(CLUSTER, read_summaries(store, CLUSTER), list_runs(store, CLUSTER))
    store.put_bytes(page.encode(), keys.report_key(CLUSTER))


def timed(store: CountingStore, prepare: Callable[[], None], call: Callable[[], object], repeat: int) -> list[float]:
    """[median s, min s, max s, GETs of one call]: `prepare` runs before each call, untimed."""
    walls = []
    for _ in range(repeat):
        prepare()
        store.gets = 0
        started = time.perf_counter()
        call()
        walls.append(time.perf_counter() - started)
    return [statistics.median(walls), min(walls), max(walls), store.gets]


def measure(store: CountingStore, repeat: int) -> dict[str, list[float]]:
    """The three ways, and the tracemalloc peak (MiB) of one night's call."""

    def no_index() -> None:
        store.delete([index_key(CLUSTER)])

    publish_report(store, CLUSTER)
    rows = read_nights(store, CLUSTER).rows
    tonight = rows[-1].run_id

    def all_but_tonight() -> None:
        save_index(store, CLUSTER, [row for row in rows if row.run_id != tonight])

    results = {
        "before": timed(store, lambda: None, lambda: publish_before(store), repeat),
        "cold": timed(store, no_index, lambda: publish_report(store, CLUSTER), repeat),
        "night": timed(store, all_but_tonight, lambda: publish_report(store, CLUSTER), repeat),
    }
    all_but_tonight()
    tracemalloc.start()
    publish_report(store, CLUSTER)
    results["peak"] = [tracemalloc.get_traced_memory()[1] / 2**20]
    tracemalloc.stop()
    results["sizes"] = [len(store.get_bytes(keys.report_key(CLUSTER))), len(store.get_bytes(index_key(CLUSTER)))]
    return results


def table(rows: list[tuple[int, str, float, dict[str, list[float]]]]) -> str:
    lines = [
        "| nights | store | page KiB | index KiB | how | publish_report s (min-max) | GETs | vs night | peak MiB |",
        "|---:|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for nights, where, night_seconds, result in rows:
        page, index = (size / 1024 for size in result["sizes"])
        for how in ("before", "cold", "night"):
            median, low, high, gets = result[how]
            peak = f"{result['peak'][0]:.1f}" if how == "night" else ""
            lines.append(
                f"| {nights:,} | {where} | {page:.0f} | {index:.0f} | {how} | {median:.3f} ({low:.3f}-{high:.3f}) | "
                f"{gets:,.0f} | {100 * median / night_seconds:.1f} % | {peak} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--nights", type=int, nargs="+", default=[30, 365, 1000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--s3", metavar="URL", help="also measure on this S3 endpoint (e.g. $S3_ENDPOINT_URL)")
    parser.add_argument("--markdown", type=Path, help="write the table to this file too")
    arguments = parser.parse_args()
    rows = []
    for nights in arguments.nights:
        with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
            archive, night_seconds = archive_of(nights, Path(scratch))
            print(f"nights={nights}: the sample night took {night_seconds:.2f} s", file=sys.stderr)
            stores: list[tuple[str, Store]] = [("file", FileStore(archive.as_uri()))]
            if arguments.s3:
                stores.append(("s3", to_s3(archive, arguments.s3, f"s3://bench-report-{nights}/nightly")))
            for where, store in stores:
                rows.append((nights, where, night_seconds, measure(CountingStore(store), arguments.repeat)))
                print(table(rows[-1:]).splitlines()[-1], file=sys.stderr)
    output = table(rows)
    print(output)
    if arguments.markdown:
        arguments.markdown.write_text(output + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
