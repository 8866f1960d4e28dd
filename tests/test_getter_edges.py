"""The getter at its edges, from files and from the HTTP stand-in of the Kubernetes API: every object of the selected
kinds whatever comes before it, objects and lists that are not what Kubernetes writes, what the manifest says of the
source, the settings that bound the load on the API server, and the log lines an operator reads (`event` is the
field a log query filters on)."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from exporter.catalog import Scanner, resolve
from exporter.config import KubeSettings, Settings
from exporter.getter import GetResult, _KindSink, get_from_cluster, get_from_files
from exporter.kube.api import ApiStatusError, KubeApi, connect
from exporter.progress import JsonReporter
from exporter.rundir import reader
from exporter.rundir.manifest import KindStatus
from tests.kube_standin import KubeStandin, ServedResource, StandinFactory
from tests.report_objects import vulnerability_manifest, vulnerability_report
from tests.test_getter_cluster import served
from tests.test_secretmask import exposed_secret_report


def read_files(
    tmp_path: Path, settings: Settings, objects: list[Any], *extra_files: tuple[str, str]
) -> tuple[GetResult, Path, list[dict[str, Any]]]:
    """`objects` in one YAML file (plus any `extra_files`, name and text) read by the getter; its result, the source
    directory and the log lines."""
    source = tmp_path / "in"
    source.mkdir(parents=True)
    (source / "reports.yaml").write_text(yaml.safe_dump_all(objects))
    for name, text in extra_files:
        (source / name).write_text(text)
    stream = io.StringIO()
    result = get_from_files(settings, source, tmp_path / "out", JsonReporter(stream))
    return result, source, [json.loads(line) for line in stream.getvalue().splitlines()]


def entry(result: GetResult, plural: str) -> dict[str, Any]:
    return next(e for e in result.manifest["kinds"] if e["plural"] == plural)


def stored(result: GetResult, plural: str) -> list[dict[str, Any]]:
    return list(reader.iter_objects(result.run_dir, entry(result, plural)))


def names(result: GetResult, plural: str) -> list[str]:
    return [obj["metadata"]["name"] for obj in stored(result, plural)]


def test_objects_filtered_out_do_not_stop_the_objects_after_them(
    tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    objects = [
        vulnerability_manifest("m1"),  # a kind not selected
        vulnerability_report("shop", "r1", team="b"),  # not matching the label selector
        vulnerability_report("shop", "r2", team="a"),
        vulnerability_manifest("m2"),
        vulnerability_report("pay", "r3", team="a"),
    ]
    settings = settings_with(filters__kinds=["vulnerabilityreports"], filters__label_selector="team=a")
    result, _, _ = read_files(tmp_path, settings, objects)
    assert names(result, "vulnerabilityreports") == ["r2", "r3"]


def test_excluded_kinds_are_not_read_from_files(tmp_path: Path, settings_with: Callable[..., Settings]) -> None:
    objects = [vulnerability_report("shop", "r1"), vulnerability_manifest("m1")]
    result, _, _ = read_files(tmp_path, settings_with(filters__exclude_kinds=["vulnerabilitymanifests"]), objects)
    plurals = [entry["plural"] for entry in result.manifest["kinds"]]
    assert "vulnerabilityreports" in plurals and "vulnerabilitymanifests" not in plurals
    assert names(result, "vulnerabilityreports") == ["r1"]


def test_metadata_or_labels_of_the_wrong_type_mean_no_labels_not_a_crash(
    tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    no_metadata = {**vulnerability_report("shop", "r1"), "metadata": "r1"}
    labels_a_list = vulnerability_report("shop", "r2")
    labels_a_list["metadata"]["labels"] = ["team=a"]
    matching = vulnerability_report("shop", "r3", team="a")
    settings = settings_with(filters__kinds=["vulnerabilityreports"], filters__label_selector="team=a")
    result, _, _ = read_files(tmp_path, settings, [no_metadata, labels_a_list, matching])
    assert names(result, "vulnerabilityreports") == ["r3"], "neither has the label team=a"
    everything, _, _ = read_files(tmp_path / "all", settings_with(filters__kinds=["vulnerabilityreports"]),
                                  [labels_a_list, matching])  # fmt: skip
    assert names(everything, "vulnerabilityreports") == ["r2", "r3"], "without a selector, both are kept"


def test_the_manifest_records_the_files_it_was_read_from(
    tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    result, source, _ = read_files(tmp_path, settings_with(), [vulnerability_report("shop", "r1")])
    assert result.manifest["source"] == {"type": "files", "path": str(source)}


def test_reading_files_logs_the_run_its_unreadable_inputs_and_what_it_ignored(
    tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}
    result, source, log = read_files(
        tmp_path, settings_with(), [vulnerability_report("shop", "r1"), deployment, deployment],
        ("zz-bad.json", "{not json"),
    )  # fmt: skip
    (started,) = [line for line in log if line["event"] == "run_started"]
    assert started["message"] == f"run {result.run_dir.name}: reading reports from {source}"
    assert (started["run_id"], started["run_dir"]) == (result.run_dir.name, str(result.run_dir))
    (unreadable,) = [line for line in log if line["event"] == "unreadable_input"]
    assert unreadable["level"] == "error"
    assert unreadable["message"].startswith(f"cannot read {source / 'zz-bad.json'}: ")
    assert unreadable["message"].endswith("; fix or remove the file")
    (ignored,) = [line for line in log if line["event"] == "ignored_objects"]
    assert ignored["message"] == "ignored 2 objects of kinds outside the catalog"
    assert ignored["ignored"] == {"apps/v1/Deployment": 2}


def test_objects_without_a_name_are_each_kept_not_taken_for_duplicates(
    tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    nameless = []
    for severity in ("HIGH", "LOW"):
        report = vulnerability_report("shop", "x", severity=severity)
        del report["metadata"]["name"]
        nameless.append(report)
    no_metadata = {**vulnerability_report("shop", "y"), "metadata": "y"}
    result, _, _ = read_files(tmp_path, settings_with(filters__kinds=["vulnerabilityreports"]),
                              [*nameless, no_metadata])  # fmt: skip
    severities = [obj["report"]["vulnerabilities"][0]["severity"] for obj in stored(result, "vulnerabilityreports")]
    assert severities == ["HIGH", "LOW", "HIGH"]
    assert entry(result, "vulnerabilityreports")["malformed_objects"] == 3


def test_every_problem_of_a_malformed_object_is_named(tmp_path: Path, settings_with: Callable[..., Settings]) -> None:
    anonymous = vulnerability_report("shop", "x")
    del anonymous["metadata"]["name"], anonymous["metadata"]["namespace"]
    result, _, _ = read_files(tmp_path, settings_with(filters__kinds=["vulnerabilityreports"]), [anonymous])
    assert entry(result, "vulnerabilityreports")["malformed"] == [
        "<no name>: metadata.name is missing; metadata.namespace is missing on a namespaced kind"
    ]


def test_masking_counts_every_report_and_leaves_a_report_less_object_as_it_was(
    tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    unfinished = exposed_secret_report(name="replicaset-api-app")
    del unfinished["report"]
    objects = [exposed_secret_report(), unfinished, exposed_secret_report(name="replicaset-db-app")]
    result, _, log = read_files(tmp_path, settings_with(filters__kinds=["exposedsecretreports"]), objects)
    (masked,) = [line for line in log if line["event"] == "secrets_masked"]
    assert masked["masked"] == 4, "two uncensored matches in each of two reports"
    assert masked["message"] == (
        "exposedsecretreports: masked 4 exposed secrets that the scanner had not censored (mask_secrets)"
    )
    assert "report" not in stored(result, "exposedsecretreports")[1], "no report is made up for it"


def test_a_list_item_that_is_not_an_object_is_skipped_as_malformed_and_masks_nothing(
    tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    """A list from an API server that is not quite Kubernetes (a proxy's error page spliced into `items`): the item
    is counted as malformed, and the masking that runs before the type check neither fails nor counts it."""
    stream = io.StringIO()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    sink = _KindSink(run_dir, resolve("exposedsecretreports"), settings_with(), JsonReporter(stream),
                     only_namespaces=False)  # fmt: skip
    sink.accept(42)
    sink.accept(exposed_secret_report())
    result = sink.finish(KindStatus.COMPLETE)
    assert result.malformed == ("a list item that is not an object (int) was skipped",)
    assert result.written is not None and result.written.objects == 1
    (masked,) = [json.loads(line) for line in stream.getvalue().splitlines() if '"secrets_masked"' in line]
    assert masked["masked"] == 2, "the two uncensored matches of the one report"


# --- from a cluster (the HTTP stand-in of the Kubernetes API) -------------------------------------------------------


def from_cluster(
    standin: KubeStandin, tmp_path: Path, settings_with: Callable[..., Settings], **flags: Any
) -> tuple[GetResult, list[dict[str, Any]]]:
    """The getter against `standin`, two objects a page, one attempt per request; its result and log lines."""
    kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig")
    settings = settings_with(kube__kubeconfig=kubeconfig, kube__page_size=2, kube__retries=1, kube__backoff_factor=0,
                             **flags)  # fmt: skip
    stream = io.StringIO()
    result = get_from_cluster(settings, tmp_path / "out", JsonReporter(stream))
    return result, [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_kind_whose_connection_broke_while_the_api_still_answers_is_said_so(
    standins: StandinFactory, tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    standin = standins(served())
    standin.add_objects("vulnerabilityreports", [vulnerability_report("shop", f"r{i}") for i in range(3)])
    standin.reset_continue("vulnerabilityreports")
    result, log = from_cluster(standin, tmp_path, settings_with,
                               filters__kinds=["vulnerabilityreports", "configauditreports"])  # fmt: skip
    (warning,) = [line for line in log if line["event"] == "api_still_reachable"]
    assert warning["level"] == "warning"
    assert warning["message"] == (
        f"vulnerabilityreports lost its connection, but the Kubernetes API at {standin.url} still answers: "
        "listing the other kinds"
    )
    assert entry(result, "configauditreports")["status"] == "complete"


def test_a_listed_secret_report_without_its_report_is_archived_as_listed(
    standins: StandinFactory, tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    kind = resolve("exposedsecretreports")
    standin = standins([ServedResource(kind.group, kind.version, kind.plural, kind.kind, kind.namespaced)])
    unfinished = exposed_secret_report(name="replicaset-api-app")
    del unfinished["report"]
    standin.add_objects("exposedsecretreports", [unfinished])
    result, _ = from_cluster(standin, tmp_path, settings_with)
    (archived,) = stored(result, "exposedsecretreports")
    assert archived["metadata"]["name"] == "replicaset-api-app" and "report" not in archived


class _ProgressRecorder(JsonReporter):
    """Records what a terminal's progress bars would be told after each page."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.advanced: list[tuple[str, int]] = []

    def kind_advanced(self, name: str, objects: int) -> None:
        self.advanced.append((name, objects))


def test_progress_is_told_each_kinds_objects_page_by_page(
    standins: StandinFactory, tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    standin = standins(served())
    standin.add_objects("vulnerabilityreports", [vulnerability_report("shop", f"r{i}") for i in range(5)])
    settings = settings_with(kube__kubeconfig=standin.write_kubeconfig(tmp_path / "kubeconfig"), kube__page_size=2,
                             kube__backoff_factor=0, filters__kinds=["vulnerabilityreports"])  # fmt: skip
    progress = _ProgressRecorder()
    get_from_cluster(settings, tmp_path / "out", progress)
    assert progress.advanced == [("vulnerabilityreports", 2), ("vulnerabilityreports", 4), ("vulnerabilityreports", 5)]


def test_a_plain_listing_refused_like_full_spec_fails_its_kind_instead_of_listing_again(
    standins: StandinFactory, tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    """Only a list that asked for full objects is retried plainly: a plain list refused with the same words is a
    failure of its own, not a reason to list again (and again)."""
    standin = standins(served())
    standin.add_objects("vulnerabilityreports", [vulnerability_report("shop", f"r{i}") for i in range(3)])
    standin.fail(
        "vulnerabilityreports", 400, times=3, message="resourceVersion: Invalid value: unknown resource version"
    )
    result, _ = from_cluster(standin, tmp_path, settings_with, filters__kinds=["vulnerabilityreports"])
    failed = entry(result, "vulnerabilityreports")
    assert (failed["status"], failed["objects"], failed["list_restarts"]) == ("failed", 0, 0)
    assert "unknown resource version" in failed["error"]
    lists = [r for r in standin.requests if r.path.endswith("/vulnerabilityreports")]
    assert [r.status for r in lists] == [400]


def test_a_listed_trivy_report_without_its_report_is_not_fetched_again(
    standins: StandinFactory, tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    """trivy-operator's lists carry whole objects: one without its report has none to fetch (it is archived with a
    warning); only kinds whose lists leave the report out are completed with GETs."""
    standin = standins(served())
    unfinished = vulnerability_report("shop", "unfinished")
    del unfinished["report"]
    standin.add_objects("vulnerabilityreports", [vulnerability_report("shop", "r1"), unfinished])
    result, _ = from_cluster(standin, tmp_path, settings_with, filters__kinds=["vulnerabilityreports"])
    listed = entry(result, "vulnerabilityreports")
    assert (listed["status"], listed["objects"], listed["objects_with_warnings"]) == ("complete", 2, 1)
    assert [r.path for r in standin.requests if "/vulnerabilityreports/" in r.path] == [], "no GET of one object"


def test_kube_fetch_concurrency_bounds_the_gets_of_reports_in_flight(
    standins: StandinFactory, tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    standin = standins(served((Scanner.KUBESCAPE,)))
    standin.add_objects("vulnerabilitymanifests", [vulnerability_manifest(f"m{i}") for i in range(4)])
    standin.strip_spec_in_list("vulnerabilitymanifests", honour_full_spec=False)
    changed = threading.Condition()
    in_flight = [0, 0]  # now, most

    def connect_counting(kube: KubeSettings) -> KubeApi:
        """The client, each GET of one object held until a second is in flight (or a moment passed), counted."""
        api = connect(kube)
        get_bytes = api.get_bytes

        def counted(path: str, query: Sequence[tuple[str, str]] = ()) -> bytes:
            if "/vulnerabilitymanifests/" not in path:
                return get_bytes(path, query)
            with changed:
                in_flight[0] += 1
                in_flight[1] = max(in_flight)
                changed.notify_all()
                changed.wait_for(lambda: in_flight[0] > 1, timeout=0.3)
            try:
                return get_bytes(path, query)
            finally:
                with changed:
                    in_flight[0] -= 1

        api.get_bytes = counted  # type: ignore[method-assign]
        return api

    settings = settings_with(kube__kubeconfig=standin.write_kubeconfig(tmp_path / "kubeconfig"), kube__page_size=4,
                             kube__backoff_factor=0, kube__fetch_concurrency=1,
                             filters__kinds=["vulnerabilitymanifests"])  # fmt: skip
    result = get_from_cluster(settings, tmp_path / "out", JsonReporter(io.StringIO()), connector=connect_counting)
    assert entry(result, "vulnerabilitymanifests")["status"] == "complete"
    assert in_flight[1] == 1, "one GET at a time: each waited in vain for a second"


def test_a_cluster_run_leaves_out_excluded_kinds_and_logs_what_it_lists(
    standins: StandinFactory, tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    standin = standins(served())
    standin.add_objects("vulnerabilityreports", [vulnerability_report("shop", "r1")])
    result, log = from_cluster(standin, tmp_path, settings_with,
                               filters__kinds=["vulnerabilityreports", "configauditreports"],
                               filters__exclude_kinds=["configauditreports"])  # fmt: skip
    assert [e["plural"] for e in result.manifest["kinds"]] == ["vulnerabilityreports"]
    (started,) = [line for line in log if line["event"] == "run_started"]
    assert started["message"] == f"run {result.run_dir.name}: listing 1 kinds from {standin.url}"
    assert (started["run_id"], started["run_dir"]) == (result.run_dir.name, str(result.run_dir))


def test_a_group_whose_discovery_fails_fails_its_kinds_with_the_reason_and_the_others_are_listed(
    standins: StandinFactory, tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    standin = standins(served())
    standin.add_objects("vulnerabilityreports", [vulnerability_report("shop", "r1")])
    storage = "/apis/spdx.softwarecomposition.kubescape.io/v1beta1"

    def connect_storage_down(kube: KubeSettings) -> KubeApi:
        """The client, with kubescape's aggregated storage answering its discovery with 503."""
        api = connect(kube)
        get_json = api.get_json

        def storage_down(path: str, query: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
            if path == storage:
                raise ApiStatusError(503, "Service Unavailable", "the server is currently unable", path)
            return get_json(path, query)

        api.get_json = storage_down  # type: ignore[method-assign]
        return api

    settings = settings_with(kube__kubeconfig=standin.write_kubeconfig(tmp_path / "kubeconfig"),
                             kube__backoff_factor=0,
                             filters__kinds=["vulnerabilityreports", "vulnerabilitymanifests"])  # fmt: skip
    result = get_from_cluster(settings, tmp_path / "out", JsonReporter(io.StringIO()), connector=connect_storage_down)
    failed = entry(result, "vulnerabilitymanifests")
    assert failed["status"] == "failed"
    assert failed["error"].startswith(
        "API group spdx.softwarecomposition.kubescape.io/v1beta1 could not be discovered: HTTP 503 Service Unavailable"
    )
    assert entry(result, "vulnerabilityreports") | {"status": "complete", "objects": 1} == entry(
        result, "vulnerabilityreports"
    )
