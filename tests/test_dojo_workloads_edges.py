"""The workload a report is about (exporter/dojo/__init__.py), at the edges found by mutation testing.

Every converter keys its findings on this identity, so a mistake here renames findings: DefectDojo closes those
of the old name as fixed and opens the same ones anew, without their triage.

- A ReplicaSet is read as its Deployment: by a Deployment ownerReference with a name, else by the pod-template-hash
  at the end of its name; a ReplicaSet with neither stays itself, as does every other kind.
- trivy-operator's labels win over kubescape's; kubescape's kinds are spelled as the API spells them.
- An image-level VulnerabilityManifest is about its image: the image-tag annotation, else its own name.
- Whatever is missing or of the wrong type reads as "" (a label absent, metadata that is not a mapping), and a
  number (YAML reads `name: 2024` as one) as its digits.
The expected workloads are written out by hand, not computed by the code under test.
"""

from __future__ import annotations

from typing import Any

import pytest

from exporter.dojo import IMAGE_KIND, Workload, canonical_kind, owning_workload, rollout_deployment, workload_of

TRIVY = "trivy-operator.resource."
KUBESCAPE = "kubescape.io/"


def trivy_report(kind: str, name: str, container: str | None = "app", **metadata: Any) -> dict[str, Any]:
    labels = {TRIVY + "namespace": "shop", TRIVY + "kind": kind, TRIVY + "name": name}
    if container is not None:
        labels["trivy-operator.container.name"] = container
    return {"kind": "VulnerabilityReport", "metadata": {"name": "report", "namespace": "shop", "labels": labels,
                                                         **metadata}}  # fmt: skip


@pytest.mark.parametrize(
    ("replicaset", "deployment"),
    [("web-6d4cf56db6", "web"), ("nginx-deployment-66b6c48dd5", "nginx-deployment"), ("api-7c9f8b4d", "api"),
     ("cart-redis-5f7b9c8d6f", "cart-redis")],
)  # fmt: skip
def test_a_replicaset_named_with_a_pod_template_hash_belongs_to_the_deployment_before_it(
    replicaset: str, deployment: str
) -> None:
    assert rollout_deployment(replicaset) == deployment


@pytest.mark.parametrize("name", ["legacy", "web-x", "web-6d4cf5", "web-6D4CF56DB6", "web-6d4cf56db6f0a", ""])
def test_a_name_without_a_pod_template_hash_names_no_deployment(name: str) -> None:
    """Too short, too long, upper case or no hash at all: no Deployment is read into the name."""
    assert rollout_deployment(name) is None


@pytest.mark.parametrize(
    ("label", "kind"),
    [("deployment", "Deployment"), ("replicaset", "ReplicaSet"), ("REPLICASET", "ReplicaSet"),
     ("clusterrole", "ClusterRole"), ("StatefulSet", "StatefulSet"), ("someKind", "SomeKind"), ("x", "X"), ("", "")],
)  # fmt: skip
def test_a_kind_is_spelled_as_the_api_spells_it_whatever_case_a_label_used(label: str, kind: str) -> None:
    """A kind the table does not know keeps its spelling, its first letter in upper case."""
    assert canonical_kind(label) == kind


def test_a_trivy_report_of_a_replicaset_is_about_its_deployment_and_container() -> None:
    """trivy-operator owns its reports by the ReplicaSet itself, so only the name says the Deployment."""
    owned = trivy_report("ReplicaSet", "web-6d4cf56db6", ownerReferences=[{"kind": "ReplicaSet",
                                                                           "name": "web-6d4cf56db6"}])  # fmt: skip
    assert workload_of(owned) == Workload("shop", "Deployment", "web", "app")


def test_a_report_without_a_container_label_has_no_container() -> None:
    workload = workload_of(trivy_report("StatefulSet", "cart-redis", container=None))
    assert workload == Workload("shop", "StatefulSet", "cart-redis", "")
    assert workload.service == "shop/StatefulSet/cart-redis"


def test_trivy_labels_win_over_kubescape_labels_on_one_object() -> None:
    report = trivy_report("DaemonSet", "node-agent")
    report["metadata"]["labels"].update({KUBESCAPE + "workload-namespace": "kube-system",
                                         KUBESCAPE + "workload-kind": "deployment",
                                         KUBESCAPE + "workload-name": "coredns"})  # fmt: skip
    assert workload_of(report) == Workload("shop", "DaemonSet", "node-agent", "app")


def test_a_kubescape_object_is_about_the_workload_its_labels_name_in_the_apis_spelling() -> None:
    summary = {"kind": "VulnerabilityManifestSummary",
               "metadata": {"name": "deployment-coredns-coredns", "namespace": "kubescape",
                            "labels": {KUBESCAPE + "workload-namespace": "kube-system",
                                       KUBESCAPE + "workload-kind": "replicaset",
                                       KUBESCAPE + "workload-name": "coredns-5d78c9869d",
                                       KUBESCAPE + "workload-container-name": "coredns"}}}  # fmt: skip
    assert workload_of(summary) == Workload("kube-system", "Deployment", "coredns", "coredns")


def test_an_image_level_manifest_is_about_its_image_tag_or_else_its_name() -> None:
    tag = "registry.k8s.io/coredns/coredns:v1.10.1"
    tagged = {"kind": "VulnerabilityManifest",
              "metadata": {"name": "registry.k8s.io-coredns-coredns-v1.10.1-bbf390", "namespace": "kubescape",
                           "annotations": {KUBESCAPE + "image-tag": tag}}}  # fmt: skip
    untagged = {"kind": "VulnerabilityManifest", "metadata": {"name": "nginx-1.25-3f2a1b", "namespace": "kubescape"}}
    assert workload_of(tagged) == Workload("", IMAGE_KIND, tag, "")
    assert workload_of(untagged) == Workload("", "Image", "nginx-1.25-3f2a1b", "")


def test_any_other_object_is_about_itself_and_a_replicaset_about_its_deployment_owner() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop",
                                       "ownerReferences": [{"kind": "Deployment", "name": "web"}]}}  # fmt: skip
    replicaset = {"kind": "ReplicaSet", "metadata": {"name": "web-6d4cf56db6", "namespace": "shop",
                                                     "ownerReferences": [{"kind": "Deployment",
                                                                          "name": "frontend"}]}}  # fmt: skip
    assert workload_of(pod) == Workload("shop", "Pod", "web-1", "")
    assert workload_of(replicaset) == Workload("shop", "Deployment", "frontend", "")


@pytest.mark.parametrize("metadata", [None, "shop/web", ["web"]], ids=["none", "text", "list"])
def test_metadata_that_is_not_a_mapping_reads_as_empty(metadata: Any) -> None:
    assert workload_of({"kind": "Pod", "metadata": metadata}) == Workload("", "Pod", "", "")


@pytest.mark.parametrize("labels", [None, "app=web", ["app=web"]], ids=["none", "text", "list"])
def test_labels_that_are_not_a_mapping_read_as_none(labels: Any) -> None:
    pod = {"kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop", "labels": labels}}
    assert workload_of(pod) == Workload("shop", "Pod", "web-1", "")


def test_a_number_where_a_name_belongs_reads_as_its_digits() -> None:
    """A report read from YAML by hand: `name: 2024` is a number there."""
    assert workload_of({"kind": "Namespace", "metadata": {"name": 2024}}) == Workload("", "Namespace", "2024", "")
    report = trivy_report("Pod", "web-1", container=None)
    report["metadata"]["labels"]["trivy-operator.container.name"] = 7
    assert workload_of(report) == Workload("shop", "Pod", "web-1", "7")


@pytest.mark.parametrize(
    "references",
    [None, {"kind": "Deployment", "name": "frontend"}, [], ["Deployment/frontend"], [{"kind": "Deployment"}],
     [{"kind": "Deployment", "name": ""}], [{"kind": "ReplicaSet", "name": "other-5f7b9c8d6f"}],
     [{"kind": "deployment", "name": "frontend"}], [{"Kind": "Deployment", "Name": "frontend"}]],
    ids=["none", "not-a-list", "empty", "not-a-mapping", "no-name", "empty-name", "another-kind", "lower-case-kind",
         "capitalised-keys"],
)  # fmt: skip
def test_a_replicaset_without_a_named_deployment_owner_is_read_by_its_name(references: Any) -> None:
    assert owning_workload(Workload("shop", "ReplicaSet", "web-6d4cf56db6"), references) == Workload(
        "shop", "Deployment", "web"
    )


def test_a_deployment_owner_wins_over_the_name_and_the_first_one_listed_wins() -> None:
    references = [{"kind": "ReplicaSet", "name": "other-5f7b9c8d6f"}, {"kind": "Deployment", "name": "frontend"},
                  {"kind": "Deployment", "name": "backend"}]  # fmt: skip
    assert owning_workload(Workload("shop", "ReplicaSet", "web-6d4cf56db6", "app"), references) == Workload(
        "shop", "Deployment", "frontend", "app"
    )


def test_a_replicaset_with_neither_an_owner_nor_a_hash_stays_a_replicaset() -> None:
    assert owning_workload(Workload("shop", "ReplicaSet", "legacy")) == Workload("shop", "ReplicaSet", "legacy")


@pytest.mark.parametrize("kind", ["Pod", "StatefulSet", "Deployment"])
def test_only_a_replicaset_is_read_as_a_deployment(kind: str) -> None:
    """Not a Pod owned by a Deployment: its findings are the Pod's."""
    workload = Workload("shop", kind, "web-6d4cf56db6")
    assert owning_workload(workload, [{"kind": "Deployment", "name": "frontend"}]) == workload
