"""The floor for listing a kind: paginated GETs whose bodies are streamed to /dev/null, nothing parsed.

Reads only what it needs from a kubeconfig with client-certificate or token users (what the benchmark's test
server writes). The continue token is taken from the tail of each body: kube-apiserver encodes a custom
resource list with sorted keys, so `metadata` comes last.

    python scripts/raw_pages.py KUBECONFIG /apis/GROUP/VERSION/PLURAL PAGE_SIZE
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import ssl
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote, urlsplit

import yaml

CONTINUE = re.compile(rb'"continue":"([^"]*)"')


def connection(kubeconfig: Path) -> tuple[http.client.HTTPSConnection, dict[str, str]]:
    config = yaml.safe_load(kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    context = ssl.create_default_context()
    scratch = Path(tempfile.mkdtemp())
    ca = scratch / "ca.crt"
    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    context.load_verify_locations(str(ca))
    headers = {"Accept": "application/json"}
    if "client-certificate-data" in user:
        cert, key = scratch / "client.crt", scratch / "client.key"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        context.load_cert_chain(str(cert), str(key))
    else:
        headers["Authorization"] = f"Bearer {user['token']}"
    server = urlsplit(cluster["server"])
    return http.client.HTTPSConnection(server.hostname, server.port, context=context), headers


def main() -> None:
    kubeconfig, path, page_size = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    conn, headers = connection(kubeconfig)
    token, pages, total = "", 0, 0
    with open("/dev/null", "wb") as sink:
        while True:
            query = f"?limit={page_size}" + (f"&continue={quote(token)}" if token else "")
            conn.request("GET", path + query, headers=headers)
            response = conn.getresponse()
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}: {response.read()[:300]!r}")
            tail = b""
            while chunk := response.read(1 << 20):
                sink.write(chunk)
                total += len(chunk)
                tail = (tail + chunk)[-8192:]
            pages += 1
            found = CONTINUE.findall(tail)
            token = found[-1].decode() if found else ""
            if not token:
                break
    print(json.dumps({"pages": pages, "bytes": total}), file=sys.stderr)


if __name__ == "__main__":
    main()
