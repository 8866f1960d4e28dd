"""Every key in the archive: one function per kind of key, nowhere else (velero's object_store_layout).

    <cluster>/runs/<YYYY>/<MM>/<DD>/<run_id>/manifest.json
    <cluster>/runs/<YYYY>/<MM>/<DD>/<run_id>/reports/<group>/<plural>.jsonl.gz
    <cluster>/dojo/state.json

Keys are relative to the destination root (`s3://bucket/prefix`); the store adds the prefix. The date folders make a
day's or a month's runs one prefix away for people and query engines; the run id alone identifies a run.

Cluster names, run ids and file names reach these functions from manifests, which are input (a local run directory,
an archive someone else wrote to). Each is checked here, so no key can climb out of its cluster's or run's prefix:
a store that normalises `..` in a path (or a tool that syncs the bucket to disk) would otherwise write elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exporter.errors import ArchiveError
from exporter.rundir import layout

_RUN_KEY = re.compile(r"(?P<cluster>[^/]+)/runs/\d{4}/\d{2}/\d{2}/(?P<run_id>[^/]+)/(?P<path>.+)", re.DOTALL)
_CLUSTER = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,61}[a-z0-9])?", re.ASCII)  # the `cluster` setting's pattern


def cluster_runs_prefix(cluster: str) -> str:
    """Everything of one cluster; retention never looks outside it."""
    return f"{_cluster(cluster)}/runs/"


def run_prefix(cluster: str, run_id: str) -> str:
    if not layout.is_run_id(run_id):
        raise ArchiveError(f"{run_id!r} is not a run id (like 20261123T020000Z-3f9a); no archive key is made of it")
    started = layout.run_started_at(run_id)
    return f"{cluster_runs_prefix(cluster)}{started:%Y/%m/%d}/{run_id}/"


def run_file_key(cluster: str, run_id: str, relative_path: str) -> str:
    """The key of a file of the run directory, at the same relative path: the manifest or a kind's file."""
    if relative_path != layout.MANIFEST and not layout.is_kind_file(relative_path):
        raise ArchiveError(
            f"{relative_path!r} is not a file of a run directory (reports/<group>/<plural>.jsonl.gz); "
            "no archive key is made of it"
        )
    return run_prefix(cluster, run_id) + relative_path


def manifest_key(cluster: str, run_id: str) -> str:
    return run_file_key(cluster, run_id, layout.MANIFEST)


def summary_key(cluster: str, run_id: str) -> str:
    """The night's numbers beside its manifest (exporter.summary.SUMMARY_FILE); not a file of the run directory."""
    return run_prefix(cluster, run_id) + "summary.json"


def report_key(cluster: str) -> str:
    """The cluster's report page, beside `runs/`, so its links to manifests are relative (`runs/.../manifest.json`)."""
    return f"{_cluster(cluster)}/report.html"


def dojo_state_key(cluster: str) -> str:
    """What was last sent to DefectDojo for this cluster; outside `runs/`, so retention never sees it."""
    return f"{_cluster(cluster)}/dojo/state.json"


@dataclass(frozen=True)
class RunKey:
    cluster: str
    run_id: str
    relative_path: str

    @property
    def is_manifest(self) -> bool:
        return self.relative_path == layout.MANIFEST


def _cluster(cluster: str) -> str:
    """A cluster name is one key segment (the setting's pattern makes it a DNS label; a manifest need not)."""
    if not _CLUSTER.fullmatch(cluster):
        raise ArchiveError(
            f"cluster name {cluster!r} cannot name an archive prefix: use lowercase letters, digits, '.' and '-'"
        )
    return cluster


def parse_run_key(key: str) -> RunKey | None:
    """The parts of a run's key, or None for anything else under the prefix."""
    match = _RUN_KEY.fullmatch(key)
    if match is None or not layout.is_run_id(match["run_id"]):
        return None
    return RunKey(match["cluster"], match["run_id"], match["path"])
