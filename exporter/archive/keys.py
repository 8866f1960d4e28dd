"""Every key in the archive: one function per kind of key, nowhere else (velero's object_store_layout).

    <cluster>/runs/<YYYY>/<MM>/<DD>/<run_id>/manifest.json
    <cluster>/runs/<YYYY>/<MM>/<DD>/<run_id>/reports/<group>/<plural>.jsonl.gz
    <cluster>/dojo/state.json

Keys are relative to the destination root (`s3://bucket/prefix`); the store adds the prefix. The date folders make a
day's or a month's runs one prefix away for people and query engines; the run id alone identifies a run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exporter.rundir import layout

_RUN_KEY = re.compile(r"^(?P<cluster>[^/]+)/runs/\d{4}/\d{2}/\d{2}/(?P<run_id>[^/]+)/(?P<path>.+)$")


def cluster_runs_prefix(cluster: str) -> str:
    """Everything of one cluster; retention never looks outside it."""
    return f"{cluster}/runs/"


def run_prefix(cluster: str, run_id: str) -> str:
    started = layout.run_started_at(run_id)
    return f"{cluster_runs_prefix(cluster)}{started:%Y/%m/%d}/{run_id}/"


def run_file_key(cluster: str, run_id: str, relative_path: str) -> str:
    """The key of a file of the run directory, at the same relative path."""
    return run_prefix(cluster, run_id) + relative_path


def manifest_key(cluster: str, run_id: str) -> str:
    return run_file_key(cluster, run_id, layout.MANIFEST)


def dojo_state_key(cluster: str) -> str:
    """What was last sent to DefectDojo for this cluster; outside `runs/`, so retention never sees it."""
    return f"{cluster}/dojo/state.json"


@dataclass(frozen=True)
class RunKey:
    cluster: str
    run_id: str
    relative_path: str

    @property
    def is_manifest(self) -> bool:
        return self.relative_path == layout.MANIFEST


def parse_run_key(key: str) -> RunKey | None:
    """The parts of a run's key, or None for anything else under the prefix."""
    match = _RUN_KEY.match(key)
    if match is None or not layout.is_run_id(match["run_id"]):
        return None
    return RunKey(match["cluster"], match["run_id"], match["path"])
