"""The CronJob's night as Kubernetes runs it, on the real kube-apiserver, a real Swift and the DefectDojo stand-in.

The Job is made from `cronjob/cronjob.yaml` on the real API server (which validates and defaults it, podFailurePolicy
included), then its pods are played by tests/job_controller.py: each container's args, env, envFrom and volume
mounts from the spec, run as processes of the image's entry point, with the kubelet's rule that a failed init
container stops the pod and the Job controller's podFailurePolicy on the exit codes. The getter reads the real API
server with a ServiceAccount token, as the pod's mounted token would.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.archive import runs as archived
from exporter.archive.open import open_store
from exporter.catalog import CATALOG, Scanner, resolve
from exporter.config import load_settings
from exporter.filesource import FileScan, iter_report_objects
from exporter.samples import sample_cluster_dir
from tests.dojo_standin import DojoStandin
from tests.job_controller import JobOutcome, run_job
from tests.k8s.reports import create_report, kubescape_crd
from tests.k8s.testenv import KubeTestEnv
from tests.report_objects import vulnerability_manifest
from tests.swift_service import SwiftS3, start_swift

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "report-exporter"
CLUSTER = "night-real"
TOKEN = "night-token"
TOKEN_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
SECRET = "report-exporter-credentials"
_JOB_NUMBERS = itertools.count()


@pytest.fixture(scope="module")
def cluster(
    k8s_bin_dir: Path, trivy_crd_paths: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KubeTestEnv]:
    """A server of its own, holding the bundled sample (every kind), and the shipped RBAC."""
    with KubeTestEnv(k8s_bin_dir) as env:
        env.apply_crds(trivy_crd_paths)
        crd_file = tmp_path_factory.mktemp("crds") / "kubescape.yaml"
        crd_file.write_text(yaml.safe_dump_all([kubescape_crd(k) for k in CATALOG if k.scanner is Scanner.KUBESCAPE]))
        env.apply_crds([crd_file])
        sample = list(iter_report_objects(sample_cluster_dir(), FileScan()))
        namespaces = {obj["metadata"]["namespace"] for _, obj in sample if "namespace" in obj["metadata"]}
        for namespace in sorted(namespaces | {"shop", "kubescape"}):
            if env.request("GET", f"/api/v1/namespaces/{namespace}").status == 404:
                env.create_namespace(namespace)
        for kind, obj in sample:
            create_report(env, kind, dict(obj))
        env.create_namespace(NAMESPACE)
        for document in yaml.safe_load_all((REPO / "cronjob" / "rbac.yaml").read_text()):
            _create(env, document)
        yield env


@pytest.fixture(scope="module")
def swift() -> Iterator[SwiftS3]:
    yield from start_swift("swift_http_night")


@pytest.fixture(scope="module")
def dojo() -> Iterator[DojoStandin]:
    with DojoStandin(token=TOKEN) as standin:
        yield standin


@pytest.fixture(autouse=True)
def s3_credentials(swift: SwiftS3, monkeypatch: pytest.MonkeyPatch) -> None:
    """For the test's own look at the archive (the containers get theirs from the Secret)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", swift.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", swift.secret_key)


@dataclass
class Pods:
    """Runs the CronJob's containers as processes: the spec's args, env, envFrom and mounts, nothing else."""

    root: Path
    configmap: Path
    kubeconfig: Path
    secrets: Mapping[str, Mapping[str, str]]
    logs: dict[tuple[int, str], str] = field(default_factory=dict)

    def __call__(self, container: Mapping[str, Any], pod: int) -> int:
        mounts = {"/data": self.root / f"pod-{pod}" / "run", "/tmp": self.root / f"pod-{pod}" / "tmp",
                  "/etc/report-exporter": self.configmap}  # fmt: skip
        token_mounted = any(mount["mountPath"] == TOKEN_MOUNT for mount in container["volumeMounts"])
        for mount in container["volumeMounts"]:
            if mount["mountPath"] != TOKEN_MOUNT:
                mounts[mount["mountPath"]].mkdir(parents=True, exist_ok=True)
        env = {"PATH": os.environ["PATH"], "HOME": str(self.root)}
        if token_mounted:  # the projected ServiceAccount token, played by a kubeconfig holding one: getter only
            env["KUBECONFIG"] = str(self.kubeconfig)
        env.update({item["name"]: _mounted(item["value"], mounts) for item in container.get("env", [])})
        for source in container.get("envFrom", []):
            env.update(self.secrets[source["secretRef"]["name"]])
        completed = subprocess.run(
            [sys.executable, "-m", "exporter", *(_mounted(arg, mounts) for arg in container["args"])],
            env=env, cwd=self.root, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        self.logs[(pod, container["name"])] = completed.stderr
        return completed.returncode


class Night:
    def __init__(self, root: Path, cluster: KubeTestEnv, swift: SwiftS3, dojo: DojoStandin) -> None:
        self.root, self.cluster, self.swift = root, cluster, swift
        config = yaml.safe_load(_load("configmap/configmap.yaml")["data"]["config.yaml"])
        config["cluster"] = CLUSTER
        config["archive"] |= {"destination": "s3://night-reports/nightly", "endpoint_url": swift.endpoint,
                              "region": swift.region, "create_bucket": True}  # fmt: skip
        config["dojo"] |= {"url": dojo.url, "retries": 1, "backoff_factor": 0}
        config["kube"] |= {"retries": 1, "backoff_factor": 0}
        config["metrics"] = {"file": str(root / "night.prom")}  # node-exporter's textfile collector would read it
        (root / "configmap").mkdir(parents=True)
        (root / "configmap" / "config.yaml").write_text(yaml.safe_dump(config))
        self.settings = load_settings(config_file=root / "configmap" / "config.yaml", environ={})
        self.secret = {"AWS_ACCESS_KEY_ID": swift.access_key, "AWS_SECRET_ACCESS_KEY": swift.secret_key,
                       "DD_API_KEY": TOKEN}  # fmt: skip

    def job(self, account: str, *, kubeconfig: Path | None = None) -> tuple[JobOutcome, Pods]:
        """One Job from the CronJob's template, created on the real API server, its pods played out here."""
        template = _load("cronjob/cronjob.yaml")["spec"]["jobTemplate"]
        name = f"night-{next(_JOB_NUMBERS)}"
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": NAMESPACE},
               "spec": template["spec"]}  # fmt: skip
        created = _create(self.cluster, job)
        pods = Pods(
            self.root / f"job-{name}",
            self.root / "configmap",
            kubeconfig or self.cluster.sa_kubeconfig(NAMESPACE, account, self.root / f"{name}.kubeconfig"),
            {SECRET: self.secret},
        )
        return run_job(created["spec"], pods, namespace=NAMESPACE), pods

    def archived_runs(self) -> list[archived.ArchivedRun]:
        return archived.list_runs(open_store(self.settings.archive), CLUSTER)

    def manifest(self, run: archived.ArchivedRun) -> dict[str, Any]:
        return archived.read_archived_manifest(open_store(self.settings.archive), CLUSTER, run.run_id)


def test_a_night_with_a_forbidden_kind_an_unreadable_payload_and_an_unfinished_report(
    cluster: KubeTestEnv, swift: SwiftS3, dojo: DojoStandin, tmp_path: Path
) -> None:
    night = Night(tmp_path, cluster, swift, dojo)

    complete, pods = night.job("report-exporter")
    assert (complete.condition, len(complete.pods)) == ("Complete", 1), pods.logs
    metrics = _metrics(tmp_path / "night.prom")
    assert metrics[("report_exporter_night_outcome", "complete")] == 1.0
    last_complete = metrics[("report_exporter_last_complete_night_timestamp_seconds", "")]
    open_before = {finding["id"] for finding in dojo.findings(active=True)}
    assert len(open_before) > 100

    _restricted_account(cluster, "forgetful", drop_list="configauditreports", drop_get="vulnerabilitymanifests")
    create_report(cluster, resolve("clustercompliancereports"), _spec_only_compliance_report("pending"))
    unread = vulnerability_manifest("payload-missing")
    unread["spec"] = {}  # as kubescape's storage lists it: the getter must GET it, and may not
    create_report(cluster, resolve("vulnerabilitymanifests"), unread)
    create_report(cluster, resolve("vulnerabilityreports"), _fresh_vulnerability_report("CVE-2099-0001"))

    partial, pods = night.job("forgetful")
    assert partial.condition == "Failed" and partial.reason == "PodFailurePolicy"
    assert partial.message == (
        f"Container uploader for pod {NAMESPACE}/night-0 failed with exit code 3 matching FailJob rule at index 0"
    )
    assert len(partial.pods) == 1, "a partial dump is not run again"
    metrics = _metrics(tmp_path / "night.prom")
    assert metrics[("report_exporter_night_outcome", "partial")] == 1.0
    assert metrics[("report_exporter_night_outcome", "complete")] == 0.0
    assert metrics[("report_exporter_last_complete_night_timestamp_seconds", "")] == last_complete, (
        "a partial night keeps the last complete night's time, which the alert keys on"
    )
    assert [(run.name, run.exit_code) for run in partial.pods[0].init_containers] == [("getter", 0)]

    runs = night.archived_runs()
    assert [run.status for run in runs] == ["complete", "partial"]
    assert runs[-1].failed_kinds == ("configauditreports", "vulnerabilitymanifests")
    kinds = {entry["plural"]: entry for entry in night.manifest(runs[-1])["kinds"]}
    assert "lacks the RBAC verb 'list' on resource 'configauditreports'" in kinds["configauditreports"]["error"]
    assert kinds["vulnerabilitymanifests"]["unfetched_objects"] == 1
    assert kinds["clustercompliancereports"]["status"] == "complete"
    assert kinds["clustercompliancereports"]["warnings"] == [
        "pending: status is missing or not an object: archived without findings"
    ]

    still_open = {finding["id"] for finding in dojo.findings(active=True)}
    assert open_before <= still_open, "no finding was closed: the unread families were held"
    new = [finding for finding in dojo.findings(active=True) if finding["id"] not in open_before]
    assert [finding["title"].split(" ")[0] for finding in new] == ["CVE-2099-0001"], "the families read arrived"


def test_a_getter_that_cannot_reach_the_api_is_retried_and_archives_nothing(
    cluster: KubeTestEnv, swift: SwiftS3, dojo: DojoStandin, tmp_path: Path
) -> None:
    night = Night(tmp_path, cluster, swift, dojo)
    before = night.archived_runs()
    unreachable = tmp_path / "unreachable.kubeconfig"
    unreachable.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }))  # fmt: skip
    failed, pods = night.job("report-exporter", kubeconfig=unreachable)
    limit = _load("cronjob/cronjob.yaml")["spec"]["jobTemplate"]["spec"]["backoffLimit"]
    assert (failed.condition, failed.reason) == ("Failed", "BackoffLimitExceeded")
    assert len(failed.pods) == limit + 1, "a transient failure gets the Job's retries"
    assert all(pod.containers == () for pod in failed.pods), "the uploader never starts"
    assert "cannot reach the Kubernetes API" in pods.logs[(0, "getter")]
    assert night.archived_runs() == before
    assert not (tmp_path / "night.prom").exists(), "a getter that wrote nothing leaves no metrics: alerts fire"


def _spec_only_compliance_report(name: str) -> dict[str, Any]:
    """A ClusterComplianceReport as trivy-operator creates it, before it has computed a status (trivy-operator's
    envtest fixture compliance-summary.yaml is one): the sample's, without its status."""
    sampled = next(dict(obj) for kind, obj in iter_report_objects(sample_cluster_dir(), FileScan())
                   if kind.plural == "clustercompliancereports")  # fmt: skip
    return {"apiVersion": sampled["apiVersion"], "kind": sampled["kind"], "metadata": {"name": name},
            "spec": sampled["spec"]}  # fmt: skip


def _fresh_vulnerability_report(cve: str) -> dict[str, Any]:
    """A new workload's report with one vulnerability nobody has seen: a sample report under another name."""
    sampled = next(dict(obj) for kind, obj in iter_report_objects(sample_cluster_dir(), FileScan())
                   if kind.plural == "vulnerabilityreports" and obj["report"]["vulnerabilities"])  # fmt: skip
    labels = {**sampled["metadata"]["labels"], "trivy-operator.resource.kind": "Deployment",
              "trivy-operator.resource.name": "fresh"}  # fmt: skip
    metadata = {"name": "deployment-fresh-app", "namespace": sampled["metadata"]["namespace"], "labels": labels}
    vulnerability = {**sampled["report"]["vulnerabilities"][0], "vulnerabilityID": cve, "resource": "libfresh"}
    return {**sampled, "metadata": metadata, "report": {**sampled["report"], "vulnerabilities": [vulnerability]}}


def _metrics(path: Path) -> dict[tuple[str, str], float]:
    """The textfile's samples without labels but `outcome`: (name, outcome or "") -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, sample.labels.get("outcome", "")): sample.value
        for family in text_string_to_metric_families(path.read_text())
        for sample in family.samples
        if sample.name in ("report_exporter_night_outcome", "report_exporter_last_complete_night_timestamp_seconds")
    }


def _restricted_account(env: KubeTestEnv, name: str, *, drop_list: str, drop_get: str) -> None:
    """The shipped role, but one kind forgotten entirely and one readable by list only (an operator upgrade that
    added a CRD before the ClusterRole learnt it, a hand-edited role)."""
    env.create_service_account(NAMESPACE, name)
    role = next(doc for doc in yaml.safe_load_all((REPO / "cronjob" / "rbac.yaml").read_text())
                if doc["kind"] == "ClusterRole")  # fmt: skip
    role["metadata"]["name"] = name
    rules = []
    for rule in role["rules"]:
        kept = [resource for resource in rule["resources"] if resource not in (drop_list, drop_get)]
        rules.append({**rule, "resources": kept})
        if drop_get in rule["resources"]:
            rules.append({**rule, "resources": [drop_get], "verbs": ["list"]})
    role["rules"] = rules
    _create(env, role)
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
               "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": NAMESPACE}]}  # fmt: skip
    _create(env, binding)


def _create(env: KubeTestEnv, document: Mapping[str, Any]) -> dict[str, Any]:
    plural = {"ServiceAccount": "serviceaccounts", "ClusterRole": "clusterroles", "Job": "jobs",
              "ClusterRoleBinding": "clusterrolebindings"}[document["kind"]]  # fmt: skip
    group = document["apiVersion"]
    namespace = document["metadata"].get("namespace")
    base = "/api/v1" if group == "v1" else f"/apis/{group}"
    path = f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"
    status, body = env.request("POST", f"{path}?fieldValidation=Strict", dict(document))
    assert status == 201, body
    return dict(body)


def _load(relative: str) -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / relative).read_text()))


def _mounted(value: str, mounts: Mapping[str, Path]) -> str:
    """A path inside the container as the host path of its volume."""
    for mount_path, host in mounts.items():
        if value == mount_path or value.startswith(mount_path + "/"):
            return str(host) + value[len(mount_path) :]
    return value
