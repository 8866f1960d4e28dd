"""Writing report objects into the test API server as the scanners' operators would."""

from __future__ import annotations

from typing import Any

from exporter.catalog import ReportKind, Scanner
from exporter.kube.listing import collection_path
from tests.k8s.testenv import KubeTestEnv

_CLIENT_METADATA = ("name", "namespace", "labels", "annotations", "ownerReferences")


def create_report(env: KubeTestEnv, kind: ReportKind, obj: dict[str, Any]) -> None:
    """POST an object without server-owned metadata; `status` goes through the subresource trivy's CRDs declare."""
    body = {**obj, "metadata": {key: value for key, value in obj["metadata"].items() if key in _CLIENT_METADATA}}
    namespace = body["metadata"].get("namespace")
    status, created = env.request("POST", collection_path(kind, namespace), body)
    if status != 201:
        raise AssertionError(f"creating {kind.plural} {body['metadata']['name']}: {status} {created}")
    if kind.scanner is Scanner.TRIVY and "status" in obj:
        created["status"] = obj["status"]
        path = f"{collection_path(kind, namespace)}/{body['metadata']['name']}/status"
        status, updated = env.request("PUT", path, created)
        if status != 200:
            raise AssertionError(f"setting the status of {kind.plural} {body['metadata']['name']}: {status} {updated}")


def kubescape_crd(kind: ReportKind) -> dict[str, Any]:
    """A CRD with the coordinates kubescape's aggregated storage serves the kind under."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": kind.resource},
        "spec": {
            "group": kind.group,
            "scope": "Namespaced" if kind.namespaced else "Cluster",
            "names": {"plural": kind.plural, "kind": kind.kind, "singular": kind.kind.lower(),
                      "listKind": f"{kind.kind}List"},
            "versions": [{"name": kind.version, "served": True, "storage": True,
                          "schema": {"openAPIV3Schema": {"type": "object",
                                                         "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    }  # fmt: skip
