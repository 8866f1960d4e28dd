"""Fixtures for tests that need a real Kubernetes API server (marker ``k8s``).

The binaries come from ``scripts/k8s/ensure-binaries.sh``: the first session on
a machine builds them from the Go module proxy (many minutes), every later one
finds them in the cache outside the repository and starts in seconds.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.k8s.testenv import KubeTestEnv

REPO_ROOT = Path(__file__).resolve().parents[2]
ENSURE_BINARIES = REPO_ROOT / "scripts" / "k8s" / "ensure-binaries.sh"
ENSURE_HELM = REPO_ROOT / "scripts" / "helm" / "ensure-helm.sh"
TRIVY_CRD_DIR = REPO_ROOT.parent / "shared" / "crds" / "trivy-operator"
_NO_TOOLCHAIN_EXIT = 3  # ensure-binaries.sh: no Go here and nothing cached
_THIS_DIR = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker here because this directory owns it."""
    config.addinivalue_line(
        "markers", "k8s: needs a real kube-apiserver + etcd (built on first use; deselect with -m 'not k8s')"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this directory, so `-m "not k8s"` skips the whole suite."""
    for item in items:
        if _THIS_DIR in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.k8s)


def _ensure(script: Path, what: str) -> Path:
    """Run an ensure-*.sh script and return the path it prints, building on first use.

    A machine without Go skips these tests locally, but fails them under CI
    (env CI set) so a broken runner cannot pass by skipping.
    """
    result = subprocess.run(["bash", str(script)], stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode == _NO_TOOLCHAIN_EXIT and not os.environ.get("CI"):
        pytest.skip(f"no Go toolchain to build {what} (see {script.relative_to(REPO_ROOT)})")
    if result.returncode != 0:
        pytest.fail(f"{script} failed with exit status {result.returncode}; see the captured stderr")
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def k8s_bin_dir() -> Path:
    """Directory holding kube-apiserver, kubectl and etcd, building them if needed."""
    return _ensure(ENSURE_BINARIES, "kube-apiserver/etcd")


@pytest.fixture(scope="session")
def helm_binary() -> Path:
    """The pinned helm that kubernetes.core.helm drives, building it if needed."""
    return _ensure(ENSURE_HELM, "helm")


@pytest.fixture(scope="session")
def trivy_crd_paths() -> list[Path]:
    """The trivy-operator CRD manifests shared next to the repository."""
    paths = sorted(TRIVY_CRD_DIR.glob("*.yaml"))
    if not paths:
        pytest.fail(f"no trivy-operator CRDs found in {TRIVY_CRD_DIR}")
    return paths


@pytest.fixture(scope="session")
def kube_env(k8s_bin_dir: Path, trivy_crd_paths: list[Path]) -> Iterator[KubeTestEnv]:
    """A running API server with the trivy-operator CRDs installed, for the whole session.

    Shared by all tests because starting costs seconds: tests isolate
    themselves with fresh namespaces rather than a fresh server.
    """
    with KubeTestEnv(k8s_bin_dir) as env:
        env.apply_crds(trivy_crd_paths)
        yield env
