"""The trivy-operator CRDs checked out beside the repository (`../shared/crds/trivy-operator`), for the tests that
pin the catalog and the sample cluster to them.

A developer's machine without them skips those tests; under CI (env CI set) a missing directory fails them, so a
CI that lost the checkout cannot pass by skipping (as tests/swift_service.py does for Swift).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TRIVY_CRD_DIR = Path(__file__).resolve().parents[2] / "shared" / "crds" / "trivy-operator"


def trivy_crd_paths() -> list[Path]:
    """The CRD manifests, sorted; skips the calling test locally, fails it under CI, when there are none."""
    paths = sorted(TRIVY_CRD_DIR.glob("*.yaml"))
    if paths:
        return paths
    message = f"no trivy-operator CRDs in {TRIVY_CRD_DIR}: check out shared/ beside the repository"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
