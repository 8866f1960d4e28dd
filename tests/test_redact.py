"""No password of a URL's userinfo reaches a message, a log line or the manifest (exporter/redact.py).

`DD_URL`, `AWS_ENDPOINT_URL_S3` and a kubeconfig's server may carry `user:password@`. The CLI tests run the
commands as processes, with every endpoint failing the way it fails in the field, and read everything they print.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from threading import Thread

import pytest
import yaml

from exporter.redact import redact_url, redact_urls
from tests.dojo_standin import DojoStandin
from tests.kube_standin import KubeStandin
from tests.loopback_http import TrackingHandler, TrackingServer

PASSWORDS = ("kube-pass-0417", "s3-pass-2291", "dd-pass-8835")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:secret@dojo.example.com/", "https://user:***@dojo.example.com/"),
        ("https://user:secret@dojo.example.com:8443/api/v2", "https://user:***@dojo.example.com:8443/api/v2"),
        ("http://user:secret@[2001:db8::1]:9000/bucket", "http://user:***@[2001:db8::1]:9000/bucket"),
        ("https://user:p%40ss@host", "https://user:***@host"),
        ("https://user:p@ss@host/x", "https://user:***@host/x"),  # an unencoded @ in the password
        ("https://ghp_token0123456789@github.example.com/", "https://***@github.example.com/"),
        ("https://user:@host", "https://user:***@host"),
        ("https://dojo.example.com/", "https://dojo.example.com/"),
        ("https://[2001:db8::1]:8443/", "https://[2001:db8::1]:8443/"),
        ("https://host/path/user:secret@file", "https://host/path/user:secret@file"),  # @ in the path
        ("https://host/?q=a:b@c", "https://host/?q=a:b@c"),
        ("https://host#a:b@c", "https://host#a:b@c"),
        ("s3://bucket/prefix", "s3://bucket/prefix"),
        ("", ""),
    ],
)
def test_redact_url_masks_only_the_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_urls_masks_every_url_in_a_message_and_leaves_the_rest() -> None:
    message = (
        'Could not connect to the endpoint URL: "http://s3:secret@127.0.0.1:9/bkt?list-type=2"; '
        "retry https://u:other@[::1]:443/x, mail user@example.com, see https://docs.example.com/a@b"
    )
    assert redact_urls(message) == (
        'Could not connect to the endpoint URL: "http://s3:***@127.0.0.1:9/bkt?list-type=2"; '
        "retry https://u:***@[::1]:443/x, mail user@example.com, see https://docs.example.com/a@b"
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def with_userinfo(url: str, user: str, password: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{user}:{password}@{rest}"


def kubeconfig(path: Path, server: str) -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "test-token"}}],
    }))  # fmt: skip
    return path


def exporter(tmp_path: Path, *args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump({"log_format": "json", "kube": {"retries": 0, "backoff_factor": 0},
                                      "dojo": {"retries": 0, "backoff_factor": 0}}))  # fmt: skip
    clean = {name: value for name, value in os.environ.items()
             if not name.startswith(("REPORT_EXPORTER_", "AWS_", "DD_")) and name != "KUBECONFIG"}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        env={**clean, "REPORT_EXPORTER_CONFIG": str(config), "AWS_ACCESS_KEY_ID": "AKIATEST",
             "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_MAX_ATTEMPTS": "1", **env},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def assert_no_password(completed: subprocess.CompletedProcess[str]) -> str:
    printed = completed.stdout + completed.stderr
    for password in PASSWORDS:
        assert password not in printed, printed
    return printed


def test_check_names_every_failing_endpoint_without_its_password(tmp_path: Path) -> None:
    port = closed_port()
    completed = exporter(
        tmp_path, "check", "--kubeconfig",
        str(kubeconfig(tmp_path / "kubeconfig", f"http://kube:{PASSWORDS[0]}@127.0.0.1:{port}")),
        env={"REPORT_EXPORTER_ARCHIVE": "s3://reports/nightly",
             "AWS_ENDPOINT_URL_S3": f"http://s3user:{PASSWORDS[1]}@127.0.0.1:{port}",
             "DD_URL": f"http://dduser:{PASSWORDS[2]}@127.0.0.1:{port}", "DD_API_KEY": "dd-key"},
    )  # fmt: skip
    assert completed.returncode == 1, completed.stderr
    printed = assert_no_password(completed)
    assert f"cannot reach the Kubernetes API at http://kube:***@127.0.0.1:{port}" in printed
    assert f"cannot reach the S3 store at http://s3user:***@127.0.0.1:{port}" in printed
    assert f"cannot reach DefectDojo at http://dduser:***@127.0.0.1:{port}" in printed


class _Forbidden(TrackingHandler):
    """An S3 store that refuses everyone: 403 AccessDenied, as S3 answers a key without rights on the bucket."""

    def _refuse(self) -> None:
        body = b"" if self.command == "HEAD" else (
            b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
            b"<Message>Access Denied.</Message></Error>"
        )  # fmt: skip
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._refuse()

    def do_HEAD(self) -> None:
        self._refuse()

    def do_PUT(self) -> None:
        self._refuse()

    def do_POST(self) -> None:
        self._refuse()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def forbidding_store() -> Iterator[str]:
    handler: type[BaseHTTPRequestHandler] = _Forbidden
    server = TrackingServer(0, handler)  # type: ignore[arg-type]
    thread = Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.close_connections()
    server.server_close()
    thread.join(timeout=5)


def test_an_s3_store_that_answers_403_is_named_without_the_endpoint_password(
    tmp_path: Path, forbidding_store: str
) -> None:
    run_dir = exporter(tmp_path, "get", "--sample", "--out", str(tmp_path / "runs"), env={}).stdout.strip()
    completed = exporter(tmp_path, "upload", "--from", run_dir, env={
        "REPORT_EXPORTER_ARCHIVE": "s3://reports/nightly",
        "AWS_ENDPOINT_URL_S3": with_userinfo(forbidding_store, "s3user", PASSWORDS[1]),
    })  # fmt: skip
    assert completed.returncode == 1, completed.stderr
    printed = assert_no_password(completed)
    assert f"the S3 store at {with_userinfo(forbidding_store, 's3user', '***')} " in printed
    assert "403" in printed


@pytest.mark.parametrize("dojo_state", ["down", "refusing"])
def test_a_failing_defectdojo_is_named_without_the_password_of_dd_url(tmp_path: Path, dojo_state: str) -> None:
    """Down: nothing listens. Refusing: requests sends DD_URL's userinfo as Basic auth, DefectDojo refuses it."""
    with DojoStandin(token="dd-key") as dojo:
        url = dojo.url if dojo_state == "refusing" else f"http://127.0.0.1:{closed_port()}"
        completed = exporter(
            tmp_path, "run", "--sample", "--out", str(tmp_path / "runs"), "--archive", (tmp_path / "a").as_uri(),
            env={"DD_URL": with_userinfo(url, "dduser", PASSWORDS[2]), "DD_API_KEY": "dd-key"},
        )  # fmt: skip
    assert completed.returncode != 0
    printed = assert_no_password(completed)
    failures = [json.loads(line)["message"] for line in completed.stderr.splitlines()
                if json.loads(line)["event"] == "dojo_failed"]  # fmt: skip
    assert failures and f"DefectDojo at {with_userinfo(url, 'dduser', '***')}" in failures[0], printed


def test_the_manifest_names_the_api_server_without_the_password(tmp_path: Path) -> None:
    with KubeStandin() as standin:
        server = with_userinfo(standin.url, "kube", PASSWORDS[0])
        completed = exporter(tmp_path, "get", "--out", str(tmp_path / "runs"),
                             "--kubeconfig", str(kubeconfig(tmp_path / "kubeconfig", server)), env={})  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert_no_password(completed)
    manifest = json.loads((Path(completed.stdout.strip()) / "manifest.json").read_text())
    assert manifest["source"] == {"type": "kubernetes", "server": with_userinfo(standin.url, "kube", "***")}


def test_an_endpoint_botocore_refuses_is_a_config_error_without_the_password(tmp_path: Path) -> None:
    completed = exporter(tmp_path, "runs", "list", env={
        "REPORT_EXPORTER_ARCHIVE": "s3://reports/nightly",
        "AWS_ENDPOINT_URL_S3": f"https://s3user:{PASSWORDS[1]}@store example:9000",
    })  # fmt: skip
    assert completed.returncode == 2, completed.stderr
    printed = assert_no_password(completed)
    assert "Invalid endpoint: https://s3user:***@store example:9000" in printed and "Traceback" not in printed
