"""The Ansible playbooks without a cluster: syntax, the committed manifests as their rendering, and input checks
that stop a run before it touches anything. Against a real kube-apiserver: tests/k8s/test_playbooks_real.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.playbook_runner import REPO, run_playbook

MANIFESTS = ("cronjob/rbac.yaml", "cronjob/cronjob.yaml", "cronjob/networkpolicy.yaml", "configmap/configmap.yaml")
# A kubeconfig that does not exist: a check that did not stop the run would fail on it with another message.
NO_CLUSTER = {"report_exporter_kubeconfig": "/nonexistent/kubeconfig", "report_exporter_context": ""}


def test_the_committed_manifests_are_the_rendering_of_the_role(tmp_path: Path) -> None:
    run = run_playbook("render_manifests.yaml", tmp_path, {"report_exporter_manifests_dir": str(tmp_path / "out")})
    assert run.returncode == 0, run.tail()
    for relative in MANIFESTS:
        rendered = (tmp_path / "out" / relative).read_text()
        assert rendered == (REPO / relative).read_text(), f"{relative} is not the role's rendering: run make manifests"
        assert all(document for document in yaml.safe_load_all(rendered))


@pytest.mark.parametrize(
    "playbook", ["pre.yaml", "deploy_operators.yaml", "deploy_cron.yaml", "caas.yaml", "render_manifests.yaml"]
)
def test_syntax(tmp_path: Path, playbook: str) -> None:
    run = run_playbook(playbook, tmp_path, args=("--syntax-check",))
    assert run.returncode == 0, run.tail()


def test_missing_required_variables_are_named_before_anything_runs(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(yaml.safe_dump({"caas": {"hosts": {"bare": {"ansible_connection": "local"}}}}))
    run = run_playbook("deploy_cron.yaml", tmp_path, NO_CLUSTER, inventory=inventory)
    assert run.returncode != 0
    assert "missing required arguments" in run.output
    for name in ("report_exporter_cluster_name", "report_exporter_image", "report_exporter_s3_destination"):
        assert name in run.output
    assert run.changed("bare") == 0


def test_a_mistyped_variable_is_refused(tmp_path: Path) -> None:
    run = run_playbook("deploy_cron.yaml", tmp_path, {**NO_CLUSTER, "report_exporter_backoff_limit": "twice"})
    assert run.returncode != 0
    assert "report_exporter_backoff_limit" in run.output and "int" in run.output


@pytest.mark.parametrize(
    "image", ["registry.example.com/report-exporter", "registry.example.com/report-exporter:latest"]
)
def test_an_image_without_a_pinned_tag_is_refused(tmp_path: Path, image: str) -> None:
    run = run_playbook("deploy_cron.yaml", tmp_path, {**NO_CLUSTER, "report_exporter_image": image})
    assert run.returncode != 0
    assert "report_exporter_image must name a tag other than latest, or a digest" in run.output


def test_a_digest_pins_the_image(tmp_path: Path) -> None:
    image = "registry.example.com/report-exporter@sha256:" + "0" * 64
    run = run_playbook("deploy_cron.yaml", tmp_path, {**NO_CLUSTER, "report_exporter_image": image})
    assert "must name a tag" not in run.output
    assert "/nonexistent/kubeconfig" in run.output, "past the checks, the run fails on the missing kubeconfig"


def test_empty_credentials_are_refused_without_printing_the_others(tmp_path: Path) -> None:
    visible_if_leaked = "AKIAVISIBLEIFLEAKED"
    credentials = {
        "report_exporter_credentials_source": "vars",
        "report_exporter_aws_access_key_id": visible_if_leaked,
        "report_exporter_aws_secret_access_key": "",
        "report_exporter_dd_api_key": "dd-visible-if-leaked",
    }
    run = run_playbook("pre.yaml", tmp_path, {**NO_CLUSTER, **credentials}, args=("-vvv",),
                       env={"K8S_AUTH_KUBECONFIG": "/nonexistent/kubeconfig"})  # fmt: skip
    assert run.returncode != 0
    assert "a credential is empty" in run.output, run.tail()
    assert visible_if_leaked not in run.output and "dd-visible-if-leaked" not in run.output
