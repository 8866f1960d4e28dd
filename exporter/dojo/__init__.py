"""DefectDojo import: what a report is about, the identity every converter in `exporter.dojo.convert` shares.

The identity lives here, below the converters, so that each scanner's converter can use it without importing the
others. A report's identity is the workload it is about, not the object the scanner happened to name: trivy-operator
names the ReplicaSet of a Deployment (`nginx-6d4cf56db6`), whose name changes on every rollout, and DefectDojo puts
that name into the finding's `service`, description and (for compliance reports) title. A finding keyed on the
ReplicaSet would be closed and reopened as new on every deploy, losing its triage; keyed on the Deployment it stays
one finding for as long as the same package is vulnerable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

TRIVY_NAMESPACE_LABEL = "trivy-operator.resource.namespace"
TRIVY_KIND_LABEL = "trivy-operator.resource.kind"
TRIVY_NAME_LABEL = "trivy-operator.resource.name"
TRIVY_CONTAINER_LABEL = "trivy-operator.container.name"

KUBESCAPE_PREFIX = "kubescape.io/"
KUBESCAPE_NAMESPACE_LABEL = KUBESCAPE_PREFIX + "workload-namespace"
KUBESCAPE_KIND_LABEL = KUBESCAPE_PREFIX + "workload-kind"
KUBESCAPE_NAME_LABEL = KUBESCAPE_PREFIX + "workload-name"
KUBESCAPE_CONTAINER_LABEL = KUBESCAPE_PREFIX + "workload-container-name"
KUBESCAPE_IMAGE_TAG_ANNOTATION = KUBESCAPE_PREFIX + "image-tag"

WORKLOADS_ANNOTATION = "report-exporter.io/workloads"
"""Set by the DefectDojo planner on its scratch copy of an image manifest: the workloads of one namespace that run
the image, for the findings' description. Never written to the archive."""

IMAGE_KIND = "Image"
"""The kind of an image-level VulnerabilityManifest's identity: an image, shared by the workloads that run it."""

# A Deployment's ReplicaSet is `<deployment>-<pod-template-hash>`; the hash is 8 to 10 characters of
# Kubernetes' SafeEncodeString alphabet (a subset of [a-z0-9]).
_POD_TEMPLATE_HASH = re.compile(r"(?P<deployment>.+)-[a-z0-9]{8,10}")

# Kubescape labels carry kinds in lower case on some objects (VulnerabilityManifestSummary); DefectDojo shows
# whatever we send, so one workload is spelled one way whichever object named it.
_KINDS = {
    kind.lower(): kind
    for kind in (
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "CronJob",
        "Job",
        "Pod",
        "ReplicationController",
        "Node",
        "Namespace",
        "Role",
        "ClusterRole",
        "Service",
        "ConfigMap",
    )
}


@dataclass(frozen=True)
class Workload:
    """The Kubernetes object a report is about: `(namespace, kind, name, container)`; namespace "" if cluster-wide."""

    namespace: str
    kind: str
    name: str
    container: str = ""

    @property
    def service(self) -> str:
        """`namespace/kind/name[/container]`, the shape DefectDojo's Trivy Operator parser gives `service`.

        Used for every scan type, so the findings of both scanners about one workload carry one service.
        """
        base = f"{self.namespace}/{self.kind}/{self.name}"
        return f"{base}/{self.container}" if self.container else base


def rollout_deployment(replicaset: str) -> str | None:
    """The Deployment a ReplicaSet name belongs to by the pod-template-hash pattern, or None if it has none.

    Used only where no ownerReference says it: trivy-operator's reports are owned by the ReplicaSet itself, and
    compliance reports name targets as plain text. A stand-alone ReplicaSet whose name ends like a hash is taken
    for a Deployment's; that merges nothing, it only names the finding after the prefix.
    """
    match = _POD_TEMPLATE_HASH.fullmatch(replicaset)
    return match.group("deployment") if match else None


def canonical_kind(kind: str) -> str:
    """`Deployment` for `deployment`: the API's spelling of a kind whatever case a label used."""
    return _KINDS.get(kind.lower(), kind[:1].upper() + kind[1:])


def workload_of(obj: Mapping[str, Any]) -> Workload:
    """The workload a report object is about, a Deployment rather than its current ReplicaSet.

    trivy-operator reports are read from their `trivy-operator.resource.*` labels, kubescape objects from their
    `kubescape.io/workload-*` labels. An image-level VulnerabilityManifest (no workload labels) is about an image:
    `Workload("", "Image", <image tag>)`; its workloads are those of the VulnerabilityManifestSummaries that point
    at it (`convert.image_manifest_workloads`). Anything else is identified by its own namespace, kind and name.
    """
    metadata = _mapping(obj.get("metadata"))
    labels = _mapping(metadata.get("labels"))
    if TRIVY_KIND_LABEL in labels:
        found = Workload(
            _text(labels.get(TRIVY_NAMESPACE_LABEL)),
            _text(labels.get(TRIVY_KIND_LABEL)),
            _text(labels.get(TRIVY_NAME_LABEL)),
            _text(labels.get(TRIVY_CONTAINER_LABEL)),
        )
    elif KUBESCAPE_NAME_LABEL in labels:
        found = Workload(
            _text(labels.get(KUBESCAPE_NAMESPACE_LABEL)),
            canonical_kind(_text(labels.get(KUBESCAPE_KIND_LABEL))),
            _text(labels.get(KUBESCAPE_NAME_LABEL)),
            _text(labels.get(KUBESCAPE_CONTAINER_LABEL)),
        )
    elif obj.get("kind") == "VulnerabilityManifest":
        annotations = _mapping(metadata.get("annotations"))
        image = _text(annotations.get(KUBESCAPE_IMAGE_TAG_ANNOTATION)) or _text(metadata.get("name"))
        return Workload("", IMAGE_KIND, image)
    else:
        found = Workload(_text(metadata.get("namespace")), _text(obj.get("kind")), _text(metadata.get("name")))
    return owning_workload(found, metadata.get("ownerReferences"))


def owning_workload(workload: Workload, owner_references: Any = None) -> Workload:
    """A ReplicaSet's Deployment: from a Deployment ownerReference when one is listed, else by the name pattern."""
    if workload.kind != "ReplicaSet":
        return workload
    for reference in owner_references if isinstance(owner_references, list) else ():
        if isinstance(reference, Mapping) and reference.get("kind") == "Deployment" and reference.get("name"):
            return replace(workload, kind="Deployment", name=str(reference["name"]))
    deployment = rollout_deployment(workload.name)
    return replace(workload, kind="Deployment", name=deployment) if deployment else workload


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))
