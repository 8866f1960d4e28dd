"""The embedded sample cluster, read by `report-exporter get --from-files` when no cluster is at hand.

`cluster/` holds the report objects of a fictitious cluster `prod-eu-1`, written by us along the upstream
schemas (trivy-operator CRDs, kubescape/storage v1beta1 types, Grype and Syft JSON):

- namespaces `shop` (Deployment `frontend` with ReplicaSet `frontend-7c9d8f6b5d`, `cart`, StatefulSet
  `cart-redis`), `payments` (`payments-api`, CronJob `settlement`), `monitoring` (`prometheus-k8s`, `grafana`,
  DaemonSet `node-exporter`), `kube-system` (`coredns`, `kube-proxy`, static pod `kube-apiserver-cp-1`) and
  `kubescape` (VulnerabilityManifests with Grype payloads, SBOMSyft/SBOMSyftFiltered);
- every trivy-operator kind (vulnerability, config audit with failed and passed checks, exposed secrets, RBAC,
  infra, SBOM, their cluster variants and two ClusterComplianceReports) and every kubescape kind (manifests,
  summaries, workload configuration scans);
- one ConfigMap, which is not a report kind and must be ignored and counted;
- `metadata.managedFields` on a few objects, which the exporter drops.

The files mix multi-document YAML, `kubectl get -o json` lists and a single JSON object. They are generated
by `python -m samplegen.build_bundle` from the repository root; the generator is build and benchmark tooling
and is not installed with the package.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def sample_cluster_dir() -> Path:
    """The directory of the bundled sample cluster (the package is installed as plain files)."""
    return Path(str(files("exporter.samples") / "cluster"))
