"""Starting and stopping a real OpenStack Swift with s3api for tests (../shared/services/swift-s3/start.sh).

The first session on a machine installs it from PyPI into ``~/.cache/swift-s3/`` (about 15 s per version), later
ones start in about 2 s. Each server runs in its own state directory on its own free ports. Used by the Swift
tests (tests/swift/) and by the CronJob's night on the real servers (tests/k8s/).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SWIFT_S3 = REPO_ROOT.parent / "shared" / "services" / "swift-s3"
START = SWIFT_S3 / "start.sh"
STOP = SWIFT_S3 / "stop.sh"
OLD_VERSION = "2.33.1"
_START_TIMEOUT = 600  # a cold install downloads Swift and its dependencies


@dataclass(frozen=True)
class SwiftS3:
    """One running Swift, as start.sh printed it."""

    name: str
    endpoint: str
    access_key: str
    secret_key: str
    region: str
    ca_bundle: Path | None
    state_dir: Path

    @property
    def old(self) -> bool:
        """Swift before 2.35.1: no aws-chunked bodies, Content-MD5 required on DeleteObjects."""
        return self.name == "swift_https_old"


def parse_start_output(name: str, output: str, state_dir: Path) -> SwiftS3:
    """start.sh prints eval-able KEY=VALUE lines; progress goes to stderr."""
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    ca_bundle = values.get("AWS_CA_BUNDLE")
    return SwiftS3(
        name=name,
        endpoint=values["S3_ENDPOINT_URL"],
        access_key=values["AWS_ACCESS_KEY_ID"],
        secret_key=values["AWS_SECRET_ACCESS_KEY"],
        region=values["AWS_DEFAULT_REGION"],
        ca_bundle=Path(ca_bundle) if ca_bundle else None,
        state_dir=state_dir,
    )


def start_swift(name: str, **settings: str) -> Iterator[SwiftS3]:
    """Start one Swift in a fresh state directory and stop it (purging its data) when the session ends.

    A machine without the shared service skips these tests locally, but fails them under CI (env CI set), so a
    broken runner cannot pass by skipping.
    """
    if not START.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{START} is missing")
        pytest.skip(f"no Swift test service at {START}")
    # under TMPDIR, which must support user xattrs (ext4, xfs, btrfs, or tmpfs on Linux >= 6.6)
    state_dir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    environment = dict(os.environ, SWIFT_S3_PORT="auto", SWIFT_S3_BACKEND_PORT="auto", **settings)
    result = subprocess.run(
        ["bash", str(START), str(state_dir)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=_START_TIMEOUT,
        check=False,
    )
    try:
        if result.returncode != 0:
            pytest.fail(f"{START} failed with exit status {result.returncode}: {result.stderr[-2000:]}")
        yield parse_start_output(name, result.stdout, state_dir)
    finally:
        subprocess.run(["bash", str(STOP), str(state_dir), "--purge"], capture_output=True, check=False)
