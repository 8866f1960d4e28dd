"""Prometheus tools for the metrics and alert tests: a real Pushgateway on loopback, and promtool.

Both come from Debian (`prometheus-pushgateway`, `prometheus`), installed by `.ci/run`. Outside CI a missing tool
skips its tests with the command that installs it; under CI (`CI` set) it fails them, so a CI that lost the install
step cannot pass by skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PUSHGATEWAY = "prometheus-pushgateway"
PROMTOOL = "promtool"
_PACKAGES = {PUSHGATEWAY: "prometheus-pushgateway", PROMTOOL: "prometheus"}
_START_TIMEOUT = 15.0


def require_tool(name: str) -> str:
    """The tool's path; without it, skip (a developer's machine) or fail (CI)."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is not None:
        return path
    message = f"{name} not found: apt-get install -y {_PACKAGES[name]} (.ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class Pushgateway:
    """One running Pushgateway; `url` without credentials."""

    url: str

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
            return str(response.read().decode())

    def groups(self) -> list[dict[str, Any]]:
        """The groups as the Pushgateway's API lists them (labels and metric families)."""
        return list(json.loads(self.get("/api/v1/metrics"))["data"])

    def wipe(self) -> None:
        """Delete every group (admin API), so each test starts from an empty gateway."""
        request = urllib.request.Request(f"{self.url}/api/v1/admin/wipe", method="PUT")
        with urllib.request.urlopen(request, timeout=10):
            pass


def start_pushgateway(*, web_config: str | None = None) -> Iterator[Pushgateway]:
    """Start a Pushgateway on a free loopback port with its state in a temporary directory; stop it afterwards.

    `web_config`: an exporter-toolkit web configuration (YAML), e.g. `basic_auth_users` for a gateway behind auth.
    """
    binary = require_tool(PUSHGATEWAY)
    with tempfile.TemporaryDirectory(prefix="pushgateway-") as state:
        port = free_port()
        args = [binary, f"--web.listen-address=127.0.0.1:{port}", f"--persistence.file={state}/pushgateway.data",
                "--web.enable-admin-api", "--log.level=warn"]  # fmt: skip
        if web_config is not None:
            config = Path(state) / "web.yaml"
            config.write_text(web_config)
            args.append(f"--web.config.file={config}")
        log = (Path(state) / "pushgateway.log").open("w")
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(process, port, Path(log.name))
            yield Pushgateway(f"http://127.0.0.1:{port}")
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Pushgateway exited with {process.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1):
                return
        except urllib.error.HTTPError:
            return  # answering at all (401 behind basic auth) means it listens
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the Pushgateway did not listen on port {port} within {_START_TIMEOUT} s: {log.read_text()}")
