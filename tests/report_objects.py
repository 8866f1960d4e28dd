"""Small but well-formed report objects, as the operators write them, for tests that need one or two."""

from __future__ import annotations

from typing import Any

TRIVY = "aquasecurity.github.io/v1alpha1"
KUBESCAPE = "spdx.softwarecomposition.kubescape.io/v1beta1"


def vulnerability_report(namespace: str, name: str, *, severity: str = "HIGH", **labels: str) -> dict[str, Any]:
    """A small but well-formed VulnerabilityReport, as trivy-operator writes it."""
    return {
        "apiVersion": TRIVY,
        "kind": "VulnerabilityReport",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "trivy-operator.resource.kind": "ReplicaSet",
                "trivy-operator.resource.name": name.removeprefix("replicaset-"),
                "trivy-operator.resource.namespace": namespace,
                "trivy-operator.container.name": "app",
                **labels,
            },
            "managedFields": [{"manager": "trivy-operator", "operation": "Update"}],
        },
        "report": {
            "artifact": {"repository": "library/nginx", "tag": "1.25"},
            "vulnerabilities": [
                {"vulnerabilityID": "CVE-2024-6119", "resource": "libssl3", "installedVersion": "3.0.13",
                 "fixedVersion": "3.0.15", "severity": severity, "title": "openssl: type confusion"},
            ],
        },
    }  # fmt: skip


def vulnerability_manifest(name: str, *, payload: bool = True) -> dict[str, Any]:
    """A Kubescape VulnerabilityManifest; without payload it looks like a storage list item."""
    obj: dict[str, Any] = {
        "apiVersion": KUBESCAPE,
        "kind": "VulnerabilityManifest",
        "metadata": {
            "name": name,
            "namespace": "kubescape",
            "labels": {"kubescape.io/workload-namespace": "shop", "kubescape.io/workload-name": "web"},
        },
        "spec": {"metadata": {"withRelevancy": False}, "payload": {"matches": [{"vulnerability": {"id": "CVE-1"}}]}},
    }
    if not payload:
        obj["spec"] = {}
    return obj
