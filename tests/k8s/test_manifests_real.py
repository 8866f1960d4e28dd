"""The API server accepts the shipped CronJob, NetworkPolicy and ConfigMap, and a Job made from the CronJob's
template (server-side dry run: validated and admitted, nothing stored)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.testenv import KubeTestEnv

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "report-exporter"


def load(relative: str) -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / relative).read_text()))


@pytest.fixture(scope="module")
def namespace(kube_env: KubeTestEnv) -> str:
    if kube_env.request("GET", f"/api/v1/namespaces/{NAMESPACE}").status == 404:
        kube_env.create_namespace(NAMESPACE)
    return NAMESPACE


@pytest.mark.parametrize(
    ("manifest", "collection"),
    [
        ("cronjob/cronjob.yaml", "/apis/batch/v1/namespaces/report-exporter/cronjobs"),
        ("cronjob/networkpolicy.yaml", "/apis/networking.k8s.io/v1/namespaces/report-exporter/networkpolicies"),
        ("configmap/configmap.yaml", "/api/v1/namespaces/report-exporter/configmaps"),
    ],
)
def test_the_api_server_accepts_the_manifest(
    kube_env: KubeTestEnv, namespace: str, manifest: str, collection: str
) -> None:
    status, body = kube_env.request("POST", f"{collection}?dryRun=All&fieldValidation=Strict", load(manifest))
    assert status == 201, body
    assert kube_env.request("GET", f"{collection}/{body['metadata']['name']}").status == 404, "a dry run stores nothing"


def test_a_job_made_from_the_cronjob_template_is_accepted(kube_env: KubeTestEnv, namespace: str) -> None:
    template = load("cronjob/cronjob.yaml")["spec"]["jobTemplate"]
    metadata = {"name": "report-exporter-manual", "namespace": namespace}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": template["spec"]}
    status, body = kube_env.request(
        "POST", f"/apis/batch/v1/namespaces/{namespace}/jobs?dryRun=All&fieldValidation=Strict", job
    )
    assert status == 201, body
    pod = body["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["name"] == "getter"
    assert pod["automountServiceAccountToken"] is False
    token = next(volume for volume in pod["volumes"] if volume["name"] == "kube-api-access")
    assert token["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"] == 600
