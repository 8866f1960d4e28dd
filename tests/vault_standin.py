"""A HashiCorp Vault stand-in for the playbooks' KV v2 lookup: the read API only, as Vault answers it.

Vault cannot be built here (its module's in-repo `sdk` replace has no published match at any release tag, and
OpenBao is not served by the module proxy), so this follows the real contract instead, as read from the client
that community.hashi_vault drives (hvac: `secrets.kv.v2.read_secret_version`, `auth.token.lookup_self`) and
Vault's HTTP API documentation:

* `GET /v1/<mount>/data/<path>[?version=N]` with `X-Vault-Token`: 200 and
  `{"data": {"data": {...}, "metadata": {...}}, ...}`; 404 `{"errors": []}` for a path without a secret;
  403 `{"errors": ["permission denied"]}` for a missing or unknown token.
* `GET /v1/auth/token/lookup-self`: 200 with the token's data, or 403.

Every request is recorded, so tests can show the lookup reached the server with the token it was given.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from tests.loopback_http import TrackingHandler, TrackingServer


@dataclass
class VaultStandin:
    token: str
    secrets: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # (mount, path) -> data
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, token)

    def __post_init__(self) -> None:
        self._server = _Server(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="vault-standin", daemon=True)  # fmt: skip
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    def handle(self, method: str, target: str, token: str) -> tuple[int, dict[str, Any]]:
        path = urlsplit(target).path
        self.requests.append((method, path, token))
        if token != self.token:
            return 403, {"errors": ["permission denied"]}
        if path == "/v1/auth/token/lookup-self":
            return 200, _envelope({"id": token, "policies": ["default"], "ttl": 0, "renewable": False})
        parts = path.removeprefix("/v1/").split("/", 2)
        if method != "GET" or len(parts) != 3 or parts[1] != "data":
            return 404, {"errors": []}
        secret = self.secrets.get((parts[0], parts[2]))
        if secret is None:
            return 404, {"errors": []}
        metadata = {"created_time": datetime.now(UTC).isoformat(), "custom_metadata": None, "deletion_time": "",
                    "destroyed": False, "version": 1}  # fmt: skip
        return 200, _envelope({"data": dict(secret), "metadata": metadata})


def _envelope(data: dict[str, Any]) -> dict[str, Any]:
    return {"request_id": str(uuid.uuid4()), "lease_id": "", "renewable": False, "lease_duration": 0,
            "data": data, "wrap_info": None, "warnings": None, "auth": None}  # fmt: skip


class _Server(TrackingServer):
    def __init__(self, standin: VaultStandin) -> None:
        self.standin = standin
        super().__init__(0, _Handler)


class _Handler(TrackingHandler):
    server: _Server

    def do_GET(self) -> None:
        status, body = self.server.standin.handle("GET", self.path, self.headers.get("X-Vault-Token", ""))
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, message_format: str, *args: Any) -> None:
        """Silent: tests assert on ``VaultStandin.requests``."""
