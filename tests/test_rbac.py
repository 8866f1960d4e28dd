"""The shipped ClusterRole grants get/list on exactly the catalog kinds: no more, no less."""

from pathlib import Path

import yaml

from exporter.catalog import CATALOG

RBAC = Path(__file__).resolve().parents[1] / "cronjob" / "rbac.yaml"


def documents() -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(RBAC.read_text())}


def test_cluster_role_grants_get_and_list_on_exactly_the_catalog_kinds() -> None:
    granted = set()
    for rule in documents()["ClusterRole"]["rules"]:
        assert sorted(rule["verbs"]) == ["get", "list"]
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule
        granted |= {(group, resource) for group in rule["apiGroups"] for resource in rule["resources"]}
    assert granted == {(kind.group, kind.plural) for kind in CATALOG}


def test_binding_ties_the_role_to_the_service_account() -> None:
    docs = documents()
    account, binding = docs["ServiceAccount"]["metadata"], docs["ClusterRoleBinding"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": docs["ClusterRole"]["metadata"]["name"]}  # fmt: skip
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["name"],
                                    "namespace": account["namespace"]}]  # fmt: skip
