"""The CronJob, NetworkPolicy and ConfigMap as shipped: hardened, least-privileged, and settings that validate.

The API server's acceptance of them (server-side dry run) is proven in tests/k8s/test_manifests_real.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from exporter.config import load_settings

REPO = Path(__file__).resolve().parents[1]


def load(relative: str) -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / relative).read_text()))


def pod_spec() -> dict[str, Any]:
    return dict(load("cronjob/cronjob.yaml")["spec"]["jobTemplate"]["spec"]["template"]["spec"])


def test_cronjob_never_overlaps_and_gives_up_in_time() -> None:
    cronjob = load("cronjob/cronjob.yaml")["spec"]
    job = cronjob["jobTemplate"]["spec"]
    assert cronjob["concurrencyPolicy"] == "Forbid"
    assert cronjob["startingDeadlineSeconds"] > 0 and job["activeDeadlineSeconds"] > 0
    assert job["backoffLimit"] <= 3
    assert cronjob["successfulJobsHistoryLimit"] > 0 and cronjob["failedJobsHistoryLimit"] > 0


def test_getter_is_the_init_container_and_the_uploader_the_main_one_sharing_a_bounded_empty_dir() -> None:
    spec = pod_spec()
    (getter,), (uploader,) = spec["initContainers"], spec["containers"]
    assert getter["args"][:1] == ["get"] and uploader["args"][:1] == ["upload"]
    assert getter["image"] == uploader["image"]
    run = next(volume for volume in spec["volumes"] if volume["name"] == "run")
    assert run["emptyDir"]["sizeLimit"]
    for container in (getter, uploader):
        assert {"name": "run", "mountPath": "/data"}.items() <= next(
            m for m in container["volumeMounts"] if m["name"] == "run"
        ).items()


def test_every_container_is_hardened() -> None:
    spec = pod_spec()
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in spec["initContainers"] + spec["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"] and not context.get("privileged")
        assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"]


def test_credentials_come_from_a_secret_never_from_the_config_map() -> None:
    uploader = pod_spec()["containers"][0]
    assert uploader["envFrom"] == [{"secretRef": {"name": "report-exporter-credentials"}}]
    text = (REPO / "configmap" / "configmap.yaml").read_text().lower()
    config = yaml.safe_load(load("configmap/configmap.yaml")["data"]["config.yaml"])
    assert "api_key" not in text.replace("dd_api_key", "") and "secret_access_key" not in text.replace(
        "aws_secret_access_key", ""
    )
    assert "api_key" not in config.get("dojo", {}) and "access_key_file" not in config.get("archive", {})


def test_the_config_map_settings_validate(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(load("configmap/configmap.yaml")["data"]["config.yaml"])
    settings = load_settings(config_file=path, environ={})
    assert settings.archive.destination and settings.dojo.url and settings.archive.retention.keep_daily


def test_the_service_account_is_the_one_the_rbac_binds() -> None:
    accounts = [
        d for d in yaml.safe_load_all((REPO / "cronjob" / "rbac.yaml").read_text()) if d["kind"] == "ServiceAccount"
    ]
    assert pod_spec()["serviceAccountName"] == accounts[0]["metadata"]["name"]


def test_network_policy_allows_egress_only_to_dns_api_s3_and_dojo() -> None:
    policy = load("cronjob/networkpolicy.yaml")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"] and policy["ingress"] == []
    assert policy["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "report-exporter"}
    egress = policy["egress"]
    assert len(egress) == 4
    assert {port["port"] for port in egress[0]["ports"]} == {53}
    assert all("ipBlock" in peer for rule in egress[1:] for peer in rule["to"]), "no open egress"
    assert all(rule.get("to") for rule in egress), "every rule names its destination"


TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def test_only_the_getter_gets_the_service_account_token() -> None:
    """The uploader holds the S3 and DefectDojo credentials: it must not also hold the API token it never uses."""
    spec = pod_spec()
    assert spec["automountServiceAccountToken"] is False
    accounts = [d for d in yaml.safe_load_all((REPO / "cronjob" / "rbac.yaml").read_text())
                if d["kind"] == "ServiceAccount"]  # fmt: skip
    assert accounts[0]["automountServiceAccountToken"] is False, "no other pod of the account gets it either"
    (getter,), (uploader,) = spec["initContainers"], spec["containers"]
    assert [m for m in getter["volumeMounts"] if m["mountPath"] == TOKEN_PATH] == [
        {"name": "kube-api-access", "mountPath": TOKEN_PATH, "readOnly": True}
    ]
    assert all(m["name"] != "kube-api-access" and not m["mountPath"].startswith("/var/run/secrets")
               for m in uploader["volumeMounts"])  # fmt: skip


def test_the_getter_token_volume_is_what_the_in_cluster_config_reads() -> None:
    """kubernetes' load_incluster_config reads token and ca.crt under TOKEN_PATH; the token expires soon and is
    renewed by the kubelet, which the client picks up (it re-reads the file every minute)."""
    from kubernetes.config import incluster_config

    volume = next(v for v in pod_spec()["volumes"] if v["name"] == "kube-api-access")
    sources = volume["projected"]["sources"]
    token = next(s["serviceAccountToken"] for s in sources if "serviceAccountToken" in s)
    ca = next(s["configMap"] for s in sources if "configMap" in s)
    namespace = next(s["downwardAPI"] for s in sources if "downwardAPI" in s)
    files = {token["path"], *(item["path"] for item in ca["items"]), *(i["path"] for i in namespace["items"])}
    assert {f"{TOKEN_PATH}/{name}" for name in files} >= {
        incluster_config.SERVICE_TOKEN_FILENAME,
        incluster_config.SERVICE_CERT_FILENAME,
    }
    assert files == {"token", "ca.crt", "namespace"}
    assert 600 <= token["expirationSeconds"] <= 3600, "short-lived, within what the API server accepts"
    assert ca == {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    assert namespace["items"] == [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                     "fieldPath": "metadata.namespace"}}]  # fmt: skip
