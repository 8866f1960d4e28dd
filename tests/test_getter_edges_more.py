"""The getter's run outcome, further: what the manifest records of the run (its id, the exporter's version, the
server or files it read, the filters it read them with: DefectDojo's coverage decides from them which findings a run
could see), the returned manifest being the one written, the namespace filters and cluster-scoped kinds, the first
object whose report could not be fetched, the run directory's place, and the log lines each kind gives (`event` is
the field a log query filters on)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exporter import __version__
from exporter.catalog import Scanner
from exporter.config import Settings
from exporter.getter import get_from_files
from exporter.progress import JsonReporter
from exporter.rundir import reader
from tests.kube_standin import StandinFactory
from tests.report_objects import vulnerability_manifest, vulnerability_report
from tests.test_getter_cluster import served
from tests.test_getter_edges import entry, from_cluster, names, read_files


def events(log: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    """The log lines of `event`, without their time."""
    return [{key: value for key, value in line.items() if key != "time"} for line in log if line["event"] == event]


def cluster_report(name: str, **metadata: str) -> dict[str, Any]:
    """A ClusterVulnerabilityReport (a cluster-scoped kind) with `metadata` added."""
    report = vulnerability_report("unused", name)
    del report["metadata"]["namespace"]
    return {**report, "kind": "ClusterVulnerabilityReport", "metadata": {**report["metadata"], **metadata}}


def test_a_cluster_runs_manifest_names_the_server_and_the_filters_it_listed_with(
    standins: StandinFactory, tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    standin = standins(served())
    standin.add_objects("vulnerabilityreports", [vulnerability_report("shop", "r1", team="a")])
    result, _ = from_cluster(standin, tmp_path, settings_with, filters__kinds=["vulnerabilityreports"],
                             filters__namespaces=["shop"], filters__label_selector="team=a")  # fmt: skip
    assert result.manifest["source"] == {"type": "kubernetes", "server": standin.url}
    assert result.manifest["filters"] == {
        "kinds": ["vulnerabilityreports"], "exclude_kinds": [], "namespaces": ["shop"], "exclude_namespaces": [],
        "label_selector": "team=a",
    }  # fmt: skip
    assert result.manifest == reader.read_manifest(result.run_dir), "the manifest returned is the one written"


def test_a_file_runs_manifest_records_its_filters_what_it_ignored_and_what_it_could_not_read(
    tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    """Coverage reads the recorded filters to know which findings the run could see: a run that forgot its
    namespace filter would look as if it had read every namespace, and the findings of the others would close."""
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}
    settings = settings_with(filters__exclude_kinds=["sbomreports"], filters__namespaces=["shop", "pay"],
                             filters__exclude_namespaces=["kube-system"])  # fmt: skip
    result, source, _ = read_files(tmp_path, settings, [vulnerability_report("shop", "r1"), deployment],
                                   ("zz-bad.json", "{not json"))  # fmt: skip
    assert (result.manifest["run_id"], result.manifest["exporter_version"]) == (result.run_dir.name, __version__)
    assert result.manifest["filters"] == {
        "kinds": [], "exclude_kinds": ["sbomreports"], "namespaces": ["shop", "pay"],
        "exclude_namespaces": ["kube-system"], "label_selector": "",
    }  # fmt: skip
    assert result.manifest["ignored_objects"] == {"apps/v1/Deployment": 1}
    (unreadable,) = result.manifest["unreadable_inputs"]
    assert unreadable.startswith(f"{source / 'zz-bad.json'}: ")
    assert result.manifest == reader.read_manifest(result.run_dir), "the manifest returned is the one written"


def test_namespace_filters_leave_a_cluster_scoped_kind_whole(
    tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    """A cluster-scoped object belongs to no namespace (Kubernetes ignores one written into it), so neither filter
    drops it."""
    objects = [cluster_report("c1"), cluster_report("c2", namespace="kube-system"), vulnerability_report("shop", "r1"),
               vulnerability_report("pay", "r2"), vulnerability_report("kube-system", "r3")]  # fmt: skip
    settings = settings_with(filters__kinds=["vulnerabilityreports", "clustervulnerabilityreports"],
                             filters__namespaces=["shop", "kube-system"],
                             filters__exclude_namespaces=["kube-system"])  # fmt: skip
    result, _, _ = read_files(tmp_path, settings, objects)
    assert names(result, "clustervulnerabilityreports") == ["c1", "c2"]
    assert names(result, "vulnerabilityreports") == ["r1"]


def test_each_kind_logs_its_start_and_its_outcome_with_the_first_of_each_problem(
    tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    nameless = [vulnerability_report(namespace, "x") for namespace in ("shop", "pay")]
    for report in nameless:
        del report["metadata"]["name"]
    unfinished = [vulnerability_report("shop", name) for name in ("u1", "u2")]
    for report in unfinished:
        del report["report"]
    objects = [vulnerability_report("shop", "r1"), *nameless, *unfinished]
    settings = settings_with(filters__kinds=["vulnerabilityreports", "sbomreports"])
    _, _, log = read_files(tmp_path, settings, objects)
    assert events(log, "kind_started") == [{"level": "info", "event": "kind_started",
                                            "message": "listing vulnerabilityreports",
                                            "kind": "vulnerabilityreports"}]  # fmt: skip
    assert events(log, "kind_finished") == [
        {"level": "warning", "event": "kind_finished", "kind": "vulnerabilityreports", "status": "complete",
         "objects": 5,
         "message": "vulnerabilityreports: complete, 5 objects: 2 malformed objects kept "
                    "(first: shop/<no name>: metadata.name is missing); 2 objects archived with a warning "
                    "(first: shop/u1: report is missing or not an object: archived without findings)"},
        {"level": "info", "event": "kind_finished", "kind": "sbomreports", "status": "absent", "objects": 0,
         "message": "sbomreports: absent, 0 objects"},
    ]  # fmt: skip


def test_a_failed_kinds_log_line_carries_its_error(
    standins: StandinFactory, tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    standin = standins(served())
    standin.add_objects("vulnerabilityreports", [vulnerability_report("shop", "r1")])
    standin.forbid("vulnerabilityreports", "list")
    result, log = from_cluster(standin, tmp_path, settings_with, filters__kinds=["vulnerabilityreports"])
    error = entry(result, "vulnerabilityreports")["error"]
    assert error.startswith("forbidden to list vulnerabilityreports")
    (finished,) = events(log, "kind_finished")
    assert (finished["level"], finished["status"], finished["objects"]) == ("error", "failed", 0)
    assert finished["message"] == f"vulnerabilityreports: failed, 0 objects: {error}"


def test_a_kind_whose_reports_could_not_be_fetched_names_the_first_of_them(
    standins: StandinFactory, tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    standin = standins(served((Scanner.KUBESCAPE,)))
    standin.add_objects("vulnerabilitymanifests", [vulnerability_manifest(f"m{i}") for i in range(3)])
    standin.strip_spec_in_list("vulnerabilitymanifests", honour_full_spec=False)
    standin.forbid("vulnerabilitymanifests", "get")
    result, _ = from_cluster(standin, tmp_path, settings_with, filters__kinds=["vulnerabilitymanifests"])
    failed = entry(result, "vulnerabilitymanifests")
    assert failed["status"] == "failed"
    assert failed["error"].startswith(
        "3 of 3 objects are archived as listed, without their report, because fetching it failed "
        "(first: kubescape/m0: forbidden to get "
    )


def test_runs_go_into_an_out_directory_made_on_first_use_and_used_again_by_the_next(
    tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "reports.json").write_text(json.dumps(vulnerability_report("shop", "r1")))
    out_dir = tmp_path / "archive" / "runs"
    first, second = (get_from_files(settings_with(), source, out_dir, JsonReporter(io.StringIO())) for _ in "12")
    assert first.run_dir != second.run_dir
    assert sorted(path.name for path in out_dir.iterdir()) == sorted([first.run_dir.name, second.run_dir.name])
    assert all(reader.read_manifest(run.run_dir)["status"] == "complete" for run in (first, second))
