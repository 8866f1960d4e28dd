"""Fixtures for tests against a real OpenStack Swift with s3api (marker ``swift``).

Swift comes from ``../shared/services/swift-s3/start.sh`` next to the repository: the first session on a machine
installs it from PyPI into ``~/.cache/swift-s3/`` (about 15 s per version), later ones start in about 2 s. Two
versions run side by side, each in its own state directory on its own free ports: the current release over http,
and 2.33.1 (OpenStack 2024.1, still common in clouds) over https with a self-signed CA, because that is the one
whose s3api lacks aws-chunked uploads and demands Content-MD5 on DeleteObjects.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.swift_service import OLD_VERSION, SwiftS3, start_swift

_THIS_DIR = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker here because this directory owns it."""
    config.addinivalue_line(
        "markers",
        "swift: needs a real OpenStack Swift with s3api (installed on first use; deselect with -m 'not swift')",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this directory, so `-m "not swift"` skips the whole suite."""
    for item in items:
        if _THIS_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.swift)


@pytest.fixture(scope="session")
def swift_http() -> Iterator[SwiftS3]:
    """The current Swift release (start.sh's default) over plain http."""
    yield from start_swift("swift_http")


@pytest.fixture(scope="session")
def swift_https_old() -> Iterator[SwiftS3]:
    """Swift 2.33.1 over https with a self-signed certificate, printed as its CA bundle."""
    yield from start_swift("swift_https_old", SWIFT_S3_VERSION=OLD_VERSION, SWIFT_S3_TLS="1")


@pytest.fixture(params=["swift_http", "swift_https_old"])
def swift(request: pytest.FixtureRequest) -> SwiftS3:
    """Each test runs against both versions; a version starts only when a selected test needs it."""
    server: SwiftS3 = request.getfixturevalue(request.param)
    return server
