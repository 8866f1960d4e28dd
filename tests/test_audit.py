"""The dependency audit (make audit): pip-audit of requirements.lock against OSV records served on loopback,
offline, failing on what is not triaged (scripts/audit/offline_audit.py, docs/security.md). The records here are
written for the test (the advisory database itself is not redistributed in this repository)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "audit" / "offline_audit.py"


def offline_audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("offline_audit", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TWO_BRANCHES = [{"introduced": "2.0"}, {"fixed": "2.0.7"}, {"introduced": "0"}, {"fixed": "1.26.18"}]


def record(*ranges: dict[str, Any], versions: tuple[str, ...] = (), name: str = "demo") -> dict[str, Any]:
    return {"id": "PYSEC-0000-1", "affected": [{"package": {"name": name, "ecosystem": "PyPI"},
                                                "ranges": list(ranges), "versions": list(versions)}]}  # fmt: skip


@pytest.mark.parametrize(
    ("advisory", "version", "affected"),
    [
        (record({"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.26.5"}]}), "1.26.4", True),
        (record({"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.26.5"}]}), "1.26.5", False),
        (record({"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.26.5"}]}), "2.0.0", False),
        (record({"type": "ECOSYSTEM", "events": TWO_BRANCHES}), "2.0.6", True),
        (record({"type": "ECOSYSTEM", "events": TWO_BRANCHES}), "1.26.17", True),
        (record({"type": "ECOSYSTEM", "events": TWO_BRANCHES}), "1.26.20", False),
        (record({"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"last_affected": "1.4"}]}), "1.4", True),
        (record({"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"last_affected": "1.4"}]}), "1.4.1", False),
        (record({"type": "ECOSYSTEM", "events": [{"introduced": "3.1"}]}), "9.0", True),
        (record({"type": "ECOSYSTEM", "events": [{"introduced": "3.1"}]}), "3.0", False),
        (record(versions=("0.9", "1.0.0")), "1.0", True),
        (record({"type": "GIT", "events": [{"introduced": "0"}]}), "1.0", False),  # only PyPI versions count
        (record({"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}, name="other"), "1.0", False),
        ({**record({"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}), "withdrawn": "2024-01-01"}, "1.0", False),
    ],
)
def test_affects_reads_osv_ranges(advisory: dict[str, Any], version: str, affected: bool) -> None:
    assert offline_audit().affects(advisory, "demo", version) is affected


URLLIB3_RECORD = {
    "id": "PYSEC-2021-108", "aliases": ["CVE-2021-33503"],
    "affected": [{"package": {"name": "urllib3", "ecosystem": "PyPI"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.26.5"}]}]}],
}  # fmt: skip
SETUPTOOLS_RECORD = {
    "id": "PYSEC-2022-43012", "aliases": ["CVE-2022-40897"],
    "affected": [{"package": {"name": "setuptools", "ecosystem": "PyPI"},
                  "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "65.5.1"}]}]}],
}  # fmt: skip


def advisories(tmp_path: Path) -> Path:
    root = tmp_path / "advisory-database" / "vulns"
    for record in (URLLIB3_RECORD, SETUPTOOLS_RECORD):
        package = record["affected"][0]["package"]["name"]  # type: ignore[index]
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / f"{record['id']}.yaml").write_text(yaml.safe_dump(record))
    return root.parent


def audit(
    tmp_path: Path, lock: str | None = None, triage: dict[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, str(SCRIPT), "--advisories", str(advisories(tmp_path))]
    if lock is not None:
        (tmp_path / "requirements.lock").write_text(lock)
        args += ["--lock", str(tmp_path / "requirements.lock")]
    if triage is not None:
        (tmp_path / "triage.yaml").write_text(yaml.safe_dump(triage))
        args += ["--triage", str(tmp_path / "triage.yaml")]
    return subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)


def test_the_locked_dependencies_pass_with_their_findings_triaged(tmp_path: Path) -> None:
    """What `make audit` runs; offline: the OSV API it queries is served on loopback. SETUPTOOLS_RECORD finds
    nothing: the lock holds no setuptools (test_the_lock_holds_what_the_image_installs_without_pip_or_setuptools)."""
    completed = audit(tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "No known vulnerabilities found" in completed.stdout + completed.stderr


def test_an_untriaged_finding_fails_and_triaging_it_with_a_reason_passes(tmp_path: Path) -> None:
    """urllib3 1.26.4 has CVE-2021-33503 (PYSEC-2021-108, fixed in 1.26.5), among others."""
    failed = audit(tmp_path, "urllib3==1.26.4\n", {"triaged": []})
    assert failed.returncode == 1
    found = set(re.findall(r"PYSEC-\d{4}-\d+", failed.stdout))
    assert "PYSEC-2021-108" in found
    entries = [{"id": vuln, "package": "urllib3", "reason": "test"} for vuln in sorted(found)]
    assert audit(tmp_path, "urllib3==1.26.4\n", {"triaged": entries}).returncode == 0
    fixed = audit(tmp_path, "urllib3==2.2.3\n", {"triaged": entries})
    assert fixed.returncode == 0 and "matches no locked version any more" in fixed.stderr


def test_a_triaged_finding_needs_a_reason(tmp_path: Path) -> None:
    completed = audit(tmp_path, "urllib3==1.26.4\n", {"triaged": [{"id": "PYSEC-2021-108", "package": "urllib3"}]})
    assert completed.returncode != 0 and "lacks reason" in completed.stderr


def test_every_triaged_finding_is_explained_in_docs_security() -> None:
    triaged = yaml.safe_load((REPO / "security" / "triage.yaml").read_text())["triaged"]
    text = (REPO / "docs" / "security.md").read_text()
    for entry in triaged:
        assert entry["id"] in text and entry["reason"].strip()


def test_the_lock_pins_every_runtime_dependency_of_pyproject() -> None:
    """A dependency added to pyproject.toml without `make lock` would go unaudited."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = [line for line in (REPO / "requirements.lock").read_text().splitlines() if line and line[0] != "#"]
    pinned = {canonicalize_name(line.split("==")[0]): line.split("==")[1] for line in lines}
    for dependency in map(Requirement, project["dependencies"]):
        name = canonicalize_name(dependency.name)
        assert name in pinned, f"{name} is not in requirements.lock: run make lock"
        assert dependency.specifier.contains(pinned[name], prereleases=True), f"{name}=={pinned[name]}: make lock"


def test_the_lock_holds_what_the_image_installs_without_pip_or_setuptools() -> None:
    """The image's virtual environment is made without pip and the base's pip, setuptools and wheel are uninstalled
    (Dockerfile), so the lock, which is what `make audit` checks, must not list them: an audit of tools the image
    does not carry would hide that the image's own dependencies are what is audited."""
    lines = [line for line in (REPO / "requirements.lock").read_text().splitlines() if line and line[0] != "#"]
    locked = {canonicalize_name(line.split("==")[0]) for line in lines}
    assert locked.isdisjoint({"pip", "setuptools", "wheel"}), sorted(locked & {"pip", "setuptools", "wheel"})
    assert "--without-pip" in (REPO / "Makefile").read_text().split("\nlock:", 1)[1].split("\n\n", 1)[0]
