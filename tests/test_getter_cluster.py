"""The getter against an HTTP stand-in of the Kubernetes API (the real server is in tests/k8s/)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from exporter import catalog
from exporter.catalog import CATALOG, Scanner
from exporter.config import KubeSettings, Settings
from exporter.errors import ExitCode, KubeError
from exporter.getter import GetResult, get_from_cluster
from exporter.kube.api import KubeApi, connect
from exporter.pipeline import run_outcome
from exporter.progress import JsonReporter
from exporter.rundir import reader
from tests.kube_standin import KubeStandin, ServedResource, StandinFactory
from tests.report_objects import vulnerability_manifest, vulnerability_report


def served(scanners: tuple[Scanner, ...] = (Scanner.TRIVY, Scanner.KUBESCAPE)) -> list[ServedResource]:
    """The catalog as a cluster serves it: CRDs for trivy-operator, a typed aggregated server for kubescape."""
    return [
        ServedResource(e.group, e.version, e.plural, e.kind, e.namespaced,
                       list_items_carry_type=e.scanner is Scanner.TRIVY)
        for e in CATALOG if e.scanner in scanners
    ]  # fmt: skip


def list_item(obj: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in obj.items() if key not in ("apiVersion", "kind")}


@pytest.fixture
def cluster(standins: StandinFactory) -> KubeStandin:
    standin = standins(served())
    standin.add_objects("vulnerabilityreports", [vulnerability_report(f"ns{i % 3}", f"r{i}") for i in range(7)])
    standin.add_objects("vulnerabilitymanifests", [vulnerability_manifest(f"m{i}") for i in range(3)])
    return standin


Run = Callable[..., tuple[GetResult, list[dict[str, Any]]]]


@pytest.fixture
def get(tmp_path: Path, settings_with: Callable[..., Settings]) -> Run:
    def run(standin: KubeStandin, *, token: str | None = None, **flags: Any) -> tuple[GetResult, list[dict[str, Any]]]:
        kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig", token=token)
        flags = {"kube__kubeconfig": kubeconfig, "kube__page_size": 2, "kube__backoff_factor": 0, **flags}
        stream = io.StringIO()
        result = get_from_cluster(settings_with(**flags), tmp_path / "out", JsonReporter(stream))
        return result, [json.loads(line) for line in stream.getvalue().splitlines()]

    return run


def entry(result: GetResult, plural: str) -> dict[str, Any]:
    return next(e for e in result.manifest["kinds"] if e["plural"] == plural)


def objects(result: GetResult, plural: str) -> list[dict[str, Any]]:
    return list(reader.iter_objects(result.run_dir, entry(result, plural)))


def test_lists_every_object_page_by_page_with_type_restored(cluster: KubeStandin, get: Run) -> None:
    result, _ = get(cluster)
    assert run_outcome(result.manifest).exit_code is ExitCode.OK
    assert reader.verify(result.run_dir) == []
    reports = objects(result, "vulnerabilityreports")
    assert sorted(o["metadata"]["name"] for o in reports) == sorted(f"r{i}" for i in range(7))
    assert all(o["kind"] == "VulnerabilityReport" and "managedFields" not in o["metadata"] for o in reports)
    pages = [r for r in cluster.requests if r.path.endswith("/vulnerabilityreports")]
    assert len(pages) == 4 and all(r.query["limit"] == "2" for r in pages)
    assert result.manifest["kubernetes_version"] == "v1.34.3"
    assert entry(result, "sbomreports") | {"status": "complete", "objects": 0} == entry(result, "sbomreports")


def test_kubescape_lists_are_asked_for_full_objects(cluster: KubeStandin, get: Run) -> None:
    cluster.strip_spec_in_list("vulnerabilitymanifests")
    result, _ = get(cluster)
    manifests = objects(result, "vulnerabilitymanifests")
    assert len(manifests) == 3
    assert all(m["spec"]["payload"]["matches"] for m in manifests), "no empty report is archived"
    assert all(m["apiVersion"] == "spdx.softwarecomposition.kubescape.io/v1beta1" for m in manifests)
    lists = [r for r in cluster.requests if r.path.endswith("/vulnerabilitymanifests")]
    assert lists and all(r.query.get("resourceVersion") == "fullSpec" for r in lists)


def test_objects_listed_without_their_report_are_fetched_one_by_one(standins: StandinFactory, get: Run) -> None:
    standin = standins(served((Scanner.KUBESCAPE,)))
    standin.add_objects("vulnerabilitymanifests", [vulnerability_manifest(f"m{i}") for i in range(5)])
    standin.strip_spec_in_list("vulnerabilitymanifests", honour_full_spec=False)
    result, _ = get(standin)
    assert [bool(m["spec"]) for m in objects(result, "vulnerabilitymanifests")] == [True] * 5
    gets = [r for r in standin.requests if "/vulnerabilitymanifests/" in r.path]
    assert len(gets) == 5 and entry(result, "vulnerabilitymanifests")["status"] == "complete"


@pytest.mark.parametrize("plural", ["vulnerabilitysummaries", "configurationscansummaries"])
def test_the_computed_summaries_are_listed_unpaged_so_an_old_storage_cannot_cut_them_short(
    standins: StandinFactory, get: Run, plural: str
) -> None:
    """kubescape/storage before v0.0.289 cuts a list of its computed per-namespace summaries at `limit` and drops
    the continue token (seen on v0.0.220, docs/kubescape-storage.md): paged at 2, the getter archived 1 of 4 and
    called the kind complete. Listed without a limit, every namespace's summary is there."""
    standin = standins(served((Scanner.KUBESCAPE,)))
    kind = catalog.resolve(plural)
    standin.add_objects(plural, [{"apiVersion": f"{kind.group}/{kind.version}", "kind": kind.kind,
                                  "metadata": {"name": f"team-{i}"}, "spec": {"severities": {"critical": i + 1}}}
                                 for i in range(5)])  # fmt: skip
    standin.drop_continue_token(plural)
    result, _ = get(standin)
    assert sorted(o["metadata"]["name"] for o in objects(result, plural)) == [f"team-{i}" for i in range(5)]
    assert entry(result, plural)["status"] == "complete" and entry(result, plural)["objects"] == 5
    lists = [r for r in standin.requests if r.path.endswith(f"/{plural}")]
    assert lists and all("limit" not in r.query for r in lists)


def test_a_report_whose_get_fails_is_kept_as_listed_and_fails_its_kind_not_the_others(
    standins: StandinFactory, get: Run
) -> None:
    standin = standins(served((Scanner.KUBESCAPE,)))
    standin.add_objects("vulnerabilitymanifests", [vulnerability_manifest(f"m{i}") for i in range(3)])
    standin.strip_spec_in_list("vulnerabilitymanifests", honour_full_spec=False)
    standin.forbid("vulnerabilitymanifests", "get")
    result, _ = get(standin)
    failed = entry(result, "vulnerabilitymanifests")
    assert failed["status"] == "failed" and failed["objects"] == 3 and failed["unfetched_objects"] == 3
    assert failed["error"].startswith("3 of 3 objects are archived as listed, without their report")
    assert "lacks the RBAC verb 'get' on resource 'vulnerabilitymanifests'" in failed["error"]
    assert sorted(m["metadata"]["name"] for m in objects(result, "vulnerabilitymanifests")) == ["m0", "m1", "m2"]
    assert failed["objects_with_warnings"] == 0, "an unfetched report is a failure, not a warning"
    assert entry(result, "workloadconfigurationscans")["status"] == "complete", "the other kinds go on"
    assert run_outcome(result.manifest).exit_code is ExitCode.PARTIAL


def test_a_group_the_cluster_does_not_serve_is_absent_not_an_error(standins: StandinFactory, get: Run) -> None:
    standin = standins(served((Scanner.TRIVY,)))
    result, _ = get(standin)
    assert run_outcome(result.manifest).exit_code is ExitCode.OK
    statuses = {e["plural"]: e["status"] for e in result.manifest["kinds"]}
    assert statuses["vulnerabilitymanifests"] == "absent" and statuses["vulnerabilityreports"] == "complete"


def test_an_expired_continue_token_restarts_the_kind_and_loses_nothing(cluster: KubeStandin, get: Run) -> None:
    cluster.expire_continue("vulnerabilityreports")
    result, _ = get(cluster)
    assert run_outcome(result.manifest).exit_code is ExitCode.OK
    names = [o["metadata"]["name"] for o in objects(result, "vulnerabilityreports")]
    assert sorted(names) == sorted(f"r{i}" for i in range(7))
    assert entry(result, "vulnerabilityreports")["list_restarts"] == 1


def test_throttling_and_server_errors_are_retried(cluster: KubeStandin, get: Run) -> None:
    cluster.fail("vulnerabilityreports", 429, retry_after=1, on_page=2, body="text")
    cluster.fail("configauditreports", 503, times=2)
    result, _ = get(cluster)
    assert run_outcome(result.manifest).exit_code is ExitCode.OK
    assert entry(result, "vulnerabilityreports")["objects"] == 7
    statuses = [r.status for r in cluster.requests if r.path.endswith("/configauditreports")]
    assert statuses == [503, 503, 200]


def test_a_forbidden_kind_fails_alone_and_names_the_missing_verb(cluster: KubeStandin, get: Run) -> None:
    cluster.forbid("vulnerabilityreports", "list")
    result, log = get(cluster)
    failed = entry(result, "vulnerabilityreports")
    assert failed["status"] == "failed"
    assert "lacks the RBAC verb 'list' on resource 'vulnerabilityreports'" in failed["error"]
    assert "API group 'aquasecurity.github.io'" in failed["error"]
    assert entry(result, "vulnerabilitymanifests")["status"] == "complete"
    assert run_outcome(result.manifest).exit_code is ExitCode.PARTIAL
    errors = [line for line in log if line["level"] == "error"]
    assert [line.get("kind") for line in errors] == ["vulnerabilityreports"]


def test_a_kind_failing_half_way_keeps_what_it_listed(cluster: KubeStandin, get: Run) -> None:
    cluster.fail_after_pages("vulnerabilityreports", pages=2, status=500)
    result, _ = get(cluster, kube__retries=1)
    failed = entry(result, "vulnerabilityreports")
    assert failed["status"] == "failed" and "HTTP 500" in failed["error"]
    assert failed["objects"] == 4 and reader.verify(result.run_dir) == []
    assert result.manifest["status"] == "partial" and run_outcome(result.manifest).exit_code is ExitCode.PARTIAL


def test_rejected_credentials_stop_the_run_before_it_writes(cluster: KubeStandin, get: Run, tmp_path: Path) -> None:
    with pytest.raises(KubeError, match="rejected the credentials"):
        get(cluster, token="wrong")
    assert not (tmp_path / "out").exists()


def test_an_unreachable_api_is_one_clear_error(tmp_path: Path, settings_with: Callable[..., Settings]) -> None:
    standin = KubeStandin(served())
    kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig")
    standin.close()
    settings = settings_with(kube__kubeconfig=kubeconfig, kube__retries=1, kube__backoff_factor=0)
    with pytest.raises(KubeError, match=r"cannot reach the Kubernetes API at http://127\.0\.0\.1:\d+") as raised:
        get_from_cluster(settings, tmp_path / "out", JsonReporter(io.StringIO()))
    assert "\n" not in str(raised.value)


def test_namespaces_and_labels_are_asked_of_the_server(cluster: KubeStandin, get: Run) -> None:
    result, _ = get(cluster, filters__namespaces=["ns1"], filters__label_selector="trivy-operator.container.name=app",
                    filters__kinds=["vulnerabilityreports", "clustervulnerabilityreports"])  # fmt: skip
    assert [o["metadata"]["namespace"] for o in objects(result, "vulnerabilityreports")] == ["ns1", "ns1"]
    lists = [r for r in cluster.requests if r.path.endswith("reports")]
    assert {r.path for r in lists} == {
        "/apis/aquasecurity.github.io/v1alpha1/namespaces/ns1/vulnerabilityreports",
        "/apis/aquasecurity.github.io/v1alpha1/clustervulnerabilityreports",
    }
    assert all(r.query["labelSelector"] == "trivy-operator.container.name=app" for r in lists)


def test_every_catalog_kind_is_listed_when_served(standins: StandinFactory, get: Run) -> None:
    standin = standins(served())
    for kind in CATALOG:
        obj = {"apiVersion": kind.api_version, "kind": kind.kind,
               "metadata": {"name": f"x-{kind.plural}", **({"namespace": "ns"} if kind.namespaced else {})},
               kind.payload_key: {"data": 1}}  # fmt: skip
        standin.add_objects(kind.plural, [obj])
    result, _ = get(standin)
    assert {e["plural"]: e["objects"] for e in result.manifest["kinds"]} == {k.plural: 1 for k in CATALOG}
    assert catalog.resolve("configurationscansummaries").namespaced is False


def test_a_server_that_refuses_full_spec_is_listed_plainly(standins: StandinFactory, get: Run) -> None:
    """A CRD-backed kind answers resourceVersion=fullSpec with 400, as the real kube-apiserver does."""
    standin = standins(served((Scanner.KUBESCAPE,)))
    standin.add_objects("vulnerabilitymanifests", [vulnerability_manifest(f"m{i}") for i in range(3)])
    result, _ = get(standin)
    assert entry(result, "vulnerabilitymanifests") | {"status": "complete", "objects": 3, "list_restarts": 0} == (
        entry(result, "vulnerabilitymanifests")
    )
    asked = [(r.query.get("resourceVersion"), r.status) for r in standin.requests if r.path.endswith("manifests")]
    assert asked[0] == ("fullSpec", 400) and all(status == 200 for _, status in asked[1:])


def test_retry_after_is_waited_for_before_the_request_is_sent_again(cluster: KubeStandin, get: Run) -> None:
    cluster.fail("vulnerabilityreports", 429, retry_after=2, on_page=2, body="text")
    result, _ = get(cluster)  # backoff_factor 0: the only wait is the one the server asked for
    assert entry(result, "vulnerabilityreports") | {"status": "complete", "objects": 7} == (
        entry(result, "vulnerabilityreports")
    )
    pages = [r for r in cluster.requests if r.path.endswith("/vulnerabilityreports")]
    throttled = next(index for index, r in enumerate(pages) if r.status == 429)
    assert pages[throttled + 1].status == 200
    assert pages[throttled + 1].at - pages[throttled].at >= 2.0


def test_a_connection_reset_on_one_kinds_pages_fails_that_kind_alone(cluster: KubeStandin, get: Run) -> None:
    cluster.reset_continue("vulnerabilityreports")
    result, log = get(cluster, kube__retries=1)
    failed = entry(result, "vulnerabilityreports")
    assert failed["status"] == "failed" and failed["objects"] == 2, "the first page is kept"
    assert failed["error"].startswith("cannot reach the Kubernetes API")
    others = {e["plural"]: e["status"] for e in result.manifest["kinds"] if e["plural"] != "vulnerabilityreports"}
    assert set(others.values()) == {"complete"}, others
    assert entry(result, "vulnerabilitymanifests")["objects"] == 3
    assert [line["kind"] for line in log if line["event"] == "api_still_reachable"] == ["vulnerabilityreports"]
    assert run_outcome(result.manifest).exit_code is ExitCode.PARTIAL


def test_an_api_gone_half_way_fails_the_remaining_kinds_without_trying_them(
    cluster: KubeStandin, tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    """The reset of vulnerabilityreports' second page is the API going away: /version fails too."""
    cluster.reset_continue("vulnerabilityreports")

    def connect_then_lose(kube: KubeSettings) -> KubeApi:
        api = connect(kube)
        get_bytes = api.get_bytes

        def lost_on_failure(path: str, query: Sequence[tuple[str, str]] = ()) -> bytes:
            try:
                return get_bytes(path, query)
            except KubeError:
                cluster.close()
                raise

        api.get_bytes = lost_on_failure  # type: ignore[method-assign]
        return api

    kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
    settings = settings_with(kube__kubeconfig=kubeconfig, kube__page_size=2, kube__retries=1, kube__backoff_factor=0)
    result = get_from_cluster(settings, tmp_path / "out", JsonReporter(io.StringIO()), connector=connect_then_lose)
    statuses = {e["plural"]: (e["status"], e.get("error", "")) for e in result.manifest["kinds"]}
    assert statuses.pop("vulnerabilityreports")[0] == "failed"
    assert all(status == "failed" and error.startswith("not listed: cannot reach the Kubernetes API")
               for status, error in statuses.values()), statuses  # fmt: skip
    listed = {r.path.rsplit("/", 1)[-1] for r in cluster.requests if r.path.startswith("/apis/") and r.query}
    assert listed == {"vulnerabilityreports"}, "no other kind was tried"
