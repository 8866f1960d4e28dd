"""pip-audit of the locked runtime dependencies, offline: against a checkout of the PyPA advisory database.

Neither of pip-audit's services can be reached from CI: OSV's API is not on the network at all, and PyPI's
per-release JSON (`/pypi/<name>/<version>/json`, where the `pypi` service reads vulnerabilities) answers 404
there, which pip-audit reports as "could not be audited" and, without `--strict`, passes. So this script serves
OSV's query API itself, on 127.0.0.1, from the OSV records of a checkout of github.com/pypa/advisory-database
(not kept in this repository), and runs pip-audit against it with `--strict`:

    python scripts/audit/offline_audit.py --advisories CHECKOUT [--lock requirements.lock] [--triage ...]

The exit status is pip-audit's: a finding that is not triaged fails; each triaged one is passed to pip-audit as
`--ignore-vuln ID` and needs a reason (security/triage.yaml, explained in docs/security.md). A triaged ID that no
longer matches any locked package is reported, so the list does not outlive what it excuses.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

REPO = Path(__file__).resolve().parents[2]
Advisory = dict[str, Any]


def load_advisories(directory: Path) -> dict[str, list[Advisory]]:
    """OSV records (YAML or JSON, one per file, in a folder per package) by canonical package name."""
    by_package: dict[str, list[Advisory]] = {}
    for path in sorted(directory.rglob("*")):
        if path.suffix not in (".yaml", ".yml", ".json"):
            continue
        record = yaml.safe_load(path.read_text(encoding="utf-8"))
        for name in {canonicalize_name(a["package"]["name"]) for a in record.get("affected", [])
                     if a.get("package", {}).get("ecosystem") == "PyPI"}:  # fmt: skip
            by_package.setdefault(name, []).append(record)
    return by_package


def affects(advisory: Mapping[str, Any], name: str, version: str) -> bool:
    """Whether the OSV record says `name==version` is affected: its `versions` list or an ECOSYSTEM range."""
    if advisory.get("withdrawn"):
        return False
    wanted = _version(version)
    for affected in advisory.get("affected", []):
        package = affected.get("package", {})
        if package.get("ecosystem") != "PyPI" or canonicalize_name(package.get("name", "")) != canonicalize_name(name):
            continue
        if wanted is not None and any(_version(listed) == wanted for listed in affected.get("versions", [])):
            return True
        ranges = [r for r in affected.get("ranges", []) if r.get("type") == "ECOSYSTEM"]
        if wanted is not None and any(_in_range(r.get("events", []), wanted) for r in ranges):
            return True
    return False


def _in_range(events: Iterable[Mapping[str, str]], version: Version) -> bool:
    """OSV's range semantics: from each `introduced` up to the next `fixed` (excluded) or `last_affected`."""
    starts = [_version(e["introduced"]) or Version("0") for e in events if "introduced" in e]
    limits = [(_version(e["fixed"]), False) for e in events if "fixed" in e]
    limits += [(_version(e["last_affected"]), True) for e in events if "last_affected" in e]
    known = [(limit, inclusive) for limit, inclusive in limits if limit is not None]
    for start in starts:
        if version < start:
            continue
        following = [(limit, inclusive) for limit, inclusive in known if limit > start]
        if not following:
            return True
        end, inclusive = min(following)
        if version < end or (inclusive and version == end):
            return True
    return False


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


@contextmanager
def osv_server(advisories: Mapping[str, list[Advisory]]) -> Iterator[str]:
    """OSV's `POST /v1/query` on 127.0.0.1, answering from `advisories`; yields the query URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            name = canonicalize_name(query["package"]["name"])
            version = str(query["version"])
            vulns = [a for a in advisories.get(name, []) if affects(a, name, version)]
            body = json.dumps({"vulns": vulns} if vulns else {}, default=_rfc3339).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()
        server.server_close()


def _rfc3339(value: object) -> str:
    """YAML reads the records' timestamps as datetimes; OSV's API, and pip-audit, want RFC 3339 in UTC."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def read_triage(path: Path) -> list[dict[str, str]]:
    """The triaged findings; each needs an id, the package and a reason, or the audit stops (exit 2)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    entries = (document or {}).get("triaged") or []
    for entry in entries:
        missing = [key for key in ("id", "package", "reason") if not str(entry.get(key) or "").strip()]
        if missing:
            raise SystemExit(f"error: {path}: entry {entry.get('id', entry)!r} lacks {', '.join(missing)}")
    return list(entries)


def locked(lock: Path) -> list[tuple[str, str]]:
    pins = []
    for text in lock.read_text(encoding="utf-8").splitlines():
        line = text.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins.append((canonicalize_name(name), version.strip()))
    return pins


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lock", type=Path, default=REPO / "requirements.lock")
    parser.add_argument("--advisories", type=Path, required=True, metavar="DIR",
                        help="OSV records: a PyPA advisory-database checkout, or its vulns/ folder")  # fmt: skip
    parser.add_argument("--triage", type=Path, default=REPO / "security" / "triage.yaml")
    args = parser.parse_args(argv)
    root = args.advisories / "vulns" if (args.advisories / "vulns").is_dir() else args.advisories
    advisories = load_advisories(root)
    triage = read_triage(args.triage)
    pins = locked(args.lock)
    for entry in triage:
        name = canonicalize_name(entry["package"])
        found = [a for a in advisories.get(name, []) if entry["id"] in (a["id"], *a.get("aliases", []))]
        if not any(affects(a, pkg, version) for a in found for pkg, version in pins if pkg == name):
            print(f"note: triaged {entry['id']} ({entry['package']}) matches no locked version any more; "
                  f"remove it from {args.triage}", file=sys.stderr)  # fmt: skip
    pip_audit = Path(sys.executable).with_name("pip-audit")
    with osv_server(advisories) as url, tempfile.TemporaryDirectory() as cache:
        command = [str(pip_audit), "--requirement", str(args.lock), "--no-deps", "--disable-pip", "--strict",
                   "--vulnerability-service", "osv", "--osv-url", url, "--cache-dir", cache,
                   "--progress-spinner", "off", "--desc", "off", "--aliases", "on"]  # fmt: skip
        for entry in triage:
            command += ["--ignore-vuln", entry["id"]]
        return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
