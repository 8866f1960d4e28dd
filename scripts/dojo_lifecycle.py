#!/usr/bin/env python3
"""Findings through their life in a DefectDojo: the numbers docs/defectdojo.md records.

Runs the exporter's getter (on files) and DefectDojo sync night after night on the bundled sample cluster, changing
it between nights as a cluster changes, and counts after each night what DefectDojo holds: findings created,
closed and reactivated, tests reimported, API calls, families held. Against a real DefectDojo:

    python scripts/dojo_lifecycle.py --url http://127.0.0.1:8080 --token <api v2 token>

Without --url it starts the project's DefectDojo stand-in (tests/dojo_standin) on loopback, so the two can be
compared. Each invocation uses a fresh product (cluster name `lifecycle-<time>`), so reruns do not interfere.

`--scenario templates` runs the nights of a name template change instead: the test template, then the engagement
template, changed between nights; `tests` counts the product's tests holding findings, so a duplicated test shows.
`--scenario split` runs the cluster's nights with `dojo.max_document_bytes` at 16 KiB, below many a workload's own
document: every test is split, by workload and by finding, and every part must go through DefectDojo's parsers.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from exporter.archive.filestore import FileStore  # noqa: E402
from exporter.config import Settings, load_settings  # noqa: E402
from exporter.dojo.client import DojoClient  # noqa: E402
from exporter.dojo.sync import SyncResult, sync_run  # noqa: E402
from exporter.filesource import FileScan, iter_report_objects  # noqa: E402
from exporter.getter import get_from_files  # noqa: E402
from exporter.progress import JsonReporter  # noqa: E402
from exporter.samples import sample_cluster_dir  # noqa: E402

Objects = list[dict[str, Any]]
# Kubernetes' SafeEncodeString alphabet: what pod-template hashes are made of.
_HASH = re.compile(r"\b([a-z][a-z0-9-]*?)-([bcdfghjklmnpqrstvwxz2456789]{9,10})\b")


class Dojo:
    """What a DefectDojo holds for one product, read through its API v2."""

    def __init__(self, url: str, token: str, product: str) -> None:
        self.url, self.product = url.rstrip("/"), product
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def findings(self) -> dict[int, bool]:
        """Every finding of the product: id -> active."""
        found: dict[int, bool] = {}
        url: str | None = f"{self.url}/api/v2/findings/?product_name={self.product}&limit=500"
        while url:
            page = self.session.get(url, timeout=120)
            page.raise_for_status()
            body = page.json()
            found.update({int(item["id"]): bool(item["active"]) for item in body["results"]})
            url = body.get("next")
        return found

    def delete_a_test(self, title: str = "vulnerability shop") -> None:
        """Delete one test of the product, as an analyst cleaning up might: the one titled `title`."""
        page = self.session.get(f"{self.url}/api/v2/tests/?title={title}&limit=1000", timeout=120)
        page.raise_for_status()
        ours = {test["id"] for test in page.json()["results"]} & self.tests()
        for test in ours:
            self.session.delete(f"{self.url}/api/v2/tests/{test}/", timeout=300).raise_for_status()

    def rename_engagement(self, old: str, new: str) -> None:
        """Rename the product's engagement `old` to `new`, as an operator following the exporter's advice would."""
        products = self.session.get(f"{self.url}/api/v2/products/", params={"name": self.product}, timeout=120)
        products.raise_for_status()
        [product] = [p for p in products.json()["results"] if p["name"] == self.product]
        found = self.session.get(f"{self.url}/api/v2/engagements/", params={"product": product["id"], "name": old},
                                 timeout=120)  # fmt: skip
        found.raise_for_status()
        for engagement in found.json()["results"]:
            patched = self.session.patch(f"{self.url}/api/v2/engagements/{engagement['id']}/", json={"name": new},
                                         timeout=120)  # fmt: skip
            patched.raise_for_status()

    def tests(self) -> set[int]:
        """The ids of the tests holding the product's findings."""
        tests: set[int] = set()
        url: str | None = f"{self.url}/api/v2/findings/?product_name={self.product}&limit=500"
        while url:
            page = self.session.get(url, timeout=120)
            page.raise_for_status()
            body = page.json()
            tests.update(int(item["test"]) for item in body["results"])
            url = body.get("next")
        return tests


class Nights:
    def __init__(self, url: str, token: str, work: Path) -> None:
        self.url, self.token, self.work = url, token, work
        self.cluster = f"lifecycle-{int(time.time())}"
        self.dojo = Dojo(url, token, self.cluster)
        self.store = FileStore((work / "archive").as_uri())
        self.count = 0

    def forget_state(self) -> None:
        """A new archive: no state, so every test is sent again, with the same data."""
        self.store = FileStore((self.work / f"archive-{self.count}").as_uri())

    def night(self, name: str, objects: Objects, **flags: Any) -> dict[str, Any]:
        before = self.dojo.findings()
        result = self._sync(objects, **flags)
        after = self.dojo.findings()
        active_before = {i for i, active in before.items() if active}
        active_after = {i for i, active in after.items() if active}
        return {
            "night": name,
            "reimported": len(result.reimported) + len(result.emptied),
            "unchanged": len(result.unchanged),
            "calls": result.calls,
            "created": len(set(after) - set(before)),
            "closed": len(active_before - active_after),
            "reactivated": len({i for i in active_after if i in before and not before[i]}),
            "held": len(result.held) + len(getattr(result, "valve_held", [])),
            "failed": len(result.failed),
            "active": len(active_after),
            "renamed": len(getattr(result, "renamed", [])),
            "not moved": len(getattr(result, "not_moved", [])),
            "tests": len(self.dojo.tests()),
        }

    def _sync(self, objects: Objects, **flags: Any) -> SyncResult:
        self.count += 1
        source = self.work / f"source-{self.count}"
        source.mkdir(parents=True)
        (source / "reports.yaml").write_text(yaml.safe_dump_all(objects))
        settings = self._settings(**flags)
        run_dir = get_from_files(settings, source, self.work / "runs", JsonReporter(io.StringIO())).run_dir
        client = DojoClient(settings.dojo, api_key=self.token)
        try:
            return sync_run(run_dir, settings.dojo, client, JsonReporter(io.StringIO()), store=self.store)
        finally:
            client.close()

    def _settings(self, **flags: Any) -> Settings:
        values = {"cluster": self.cluster, "dojo.url": self.url, "dojo.api_key": self.token, "dojo.retries": 2,
                  "dojo.backoff_factor": 0.5, "dojo.timeout": 600} | flags  # fmt: skip
        return load_settings(environ={}, flags=values)


def scenarios(sample: Objects, nights: Nights) -> list[tuple[str, Callable[[], Objects], dict[str, Any]]]:
    """(night, its objects, settings): each night as the cluster looks that night."""
    frontend = next(i for i, obj in enumerate(sample) if obj["kind"] == "VulnerabilityReport"
                    and obj["metadata"]["name"].startswith("replicaset-frontend-"))  # fmt: skip
    fixed = [obj for i, obj in enumerate(sample) if i != frontend]
    rolled = rollout(sample)
    lingering = [*rolled, older_copy(sample[frontend])]
    no_payload = strip_payloads(sample, 2)
    monitoring = [i for i, obj in enumerate(sample) if obj["kind"] == "VulnerabilityReport"
                  and obj["metadata"].get("namespace") == "monitoring"]  # fmt: skip
    emptied = [obj for i, obj in enumerate(sample) if i not in monitoring[1:]]
    return [
        ("first sync", lambda: sample, {}),
        ("unchanged, fresh run directory", lambda: sample, {}),
        ("unchanged, every test re-sent (no state)", lambda: _then(nights.forget_state, sample), {}),
        ("a test deleted in DefectDojo", lambda: _then(nights.dojo.delete_a_test, sample), {}),
        ("a workload fixed (its report gone)", lambda: fixed, {}),
        ("the workload back", lambda: sample, {}),
        ("a rollout (every pod-template hash renamed)", lambda: rolled, {}),
        ("a lingering old ReplicaSet's report", lambda: lingering, {}),
        ("a run filtered to one namespace", lambda: lingering, {"filters.namespaces": ["shop"]}),
        ("two image scans without their payload", lambda: no_payload, {}),
        ("most of a namespace's reports gone (safety valve)", lambda: emptied, {}),
        ("the same, allowed (--allow-mass-close)", lambda: emptied, {"dojo.allow_mass_close": True}),
    ]


def template_scenarios(sample: Objects, nights: Nights) -> list[tuple[str, Callable[[], Objects], dict[str, Any]]]:
    """(night, its objects, settings): the name templates changed between nights, the cluster as it was."""
    frontend = next(i for i, obj in enumerate(sample) if obj["kind"] == "VulnerabilityReport"
                    and obj["metadata"]["name"].startswith("replicaset-frontend-"))  # fmt: skip
    fixed = [obj for i, obj in enumerate(sample) if i != frontend]
    titles = {"dojo.test": "{scope}: {family}"}
    moved = titles | {"dojo.engagement": "security-{scanner}"}
    return [
        ("first sync", lambda: sample, {}),
        ("dojo.test changed to `{scope}: {family}`", lambda: sample, titles),
        ("the night after", lambda: sample, titles),
        ("a workload fixed, under the new titles", lambda: fixed, titles),
        ("the workload back", lambda: sample, titles),
        ("dojo.engagement changed to `security-{scanner}`", lambda: sample, moved),
        ("the night after", lambda: sample, moved),
        ("a workload fixed, the engagement not moved", lambda: fixed, moved),
        ("the engagements renamed in DefectDojo", lambda: _then(lambda: _rename_engagements(nights), sample), moved),
        ("the night after", lambda: sample, moved),
    ]


def split_scenarios(sample: Objects, nights: Nights) -> list[tuple[str, Callable[[], Objects], dict[str, Any]]]:
    """(night, its objects, settings): the cluster's first nights, every test split into parts of 16 KiB at most; then
    a workload's test grows past its parts and shrinks back; then coredns, whole in a part, gains one finding, which
    its part cannot hold beside the rest (its old findings must stay there)."""
    frontend = next(i for i, obj in enumerate(sample) if obj["kind"] == "VulnerabilityReport"
                    and obj["metadata"]["name"].startswith("replicaset-frontend-"))  # fmt: skip
    fixed = [obj for i, obj in enumerate(sample) if i != frontend]
    grown = [*sample[:frontend], with_more_vulnerabilities(sample[frontend], 60), *sample[frontend + 1 :]]
    coredns = next(i for i, obj in enumerate(sample) if obj["kind"] == "VulnerabilityReport"
                   and obj["metadata"]["name"].startswith("replicaset-coredns-"))  # fmt: skip
    gained = [*sample[:coredns], with_more_vulnerabilities(sample[coredns], 1), *sample[coredns + 1 :]]
    small = {"dojo.max_document_bytes": 16 * 1024}
    return [
        ("first sync, parts of 16 KiB", lambda: sample, small),
        ("unchanged, fresh run directory", lambda: sample, small),
        ("a workload fixed (its report gone)", lambda: fixed, small),
        ("the workload back", lambda: sample, small),
        ("the workload with 60 more findings: its test grows past its parts", lambda: grown, small),
        ("unchanged, grown", lambda: grown, small),
        ("the 60 fixed", lambda: sample, small),
        ("a workload one part held gains a finding the part cannot hold beside the rest", lambda: gained, small),
        ("unchanged, gained", lambda: gained, small),
    ]


def with_more_vulnerabilities(report: dict[str, Any], count: int) -> dict[str, Any]:
    """The VulnerabilityReport with `count` more vulnerabilities, copies of its first under new ids."""
    grown = copy.deepcopy(report)
    first = grown["report"]["vulnerabilities"][0]
    grown["report"]["vulnerabilities"] += [{**first, "vulnerabilityID": f"CVE-2099-{n:05d}", "resource": f"grown-{n}"}
                                           for n in range(count)]  # fmt: skip
    return grown


def _rename_engagements(nights: Nights) -> None:
    for scanner in ("trivy-operator", "kubescape"):
        nights.dojo.rename_engagement(scanner, f"security-{scanner}")


def _then(step: Callable[[], None], objects: Objects) -> Objects:
    step()
    return objects


def rollout(objects: Objects) -> Objects:
    """Every ReplicaSet renamed, as after a rollout with the same images."""
    text = json.dumps(objects)
    return list(json.loads(_HASH.sub(lambda m: f"{m.group(1)}-{'x7x7x7x7x7'[: len(m.group(2))]}", text)))


def older_copy(report: dict[str, Any]) -> dict[str, Any]:
    """The report of the ReplicaSet before the rollout, still there, with a CVE the rollout fixed."""
    old = copy.deepcopy(report)
    old["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z"
    extra = copy.deepcopy(old["report"]["vulnerabilities"][0])
    extra["vulnerabilityID"] = "CVE-2020-0001"
    old["report"]["vulnerabilities"].append(extra)
    return old


def strip_payloads(objects: Objects, count: int) -> Objects:
    """The first `count` image scans with findings, stored without their report (too large, or a failed GET)."""
    scans = [i for i, obj in enumerate(objects) if obj["kind"] == "VulnerabilityManifest"
             and (obj["spec"].get("payload") or {}).get("matches")][:count]  # fmt: skip
    return [
        {**obj, "spec": {"metadata": obj["spec"].get("metadata", {})}} if i in scans else obj
        for i, obj in enumerate(objects)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="DefectDojo base URL; default: start the stand-in")
    parser.add_argument("--token", default="lifecycle-token", help="API v2 token")
    parser.add_argument(
        "--scenario",
        choices=("lifecycle", "templates", "split"),
        default="lifecycle",
        help="the nights to run: the cluster changing (default), the name templates changing, or tests split small",
    )
    arguments = parser.parse_args()
    sample = [dict(obj) for _, obj in iter_report_objects(sample_cluster_dir(), FileScan())]
    standin = None
    if arguments.url is None:
        from tests.dojo_standin import DojoStandin  # noqa: PLC0415 - only without a real DefectDojo

        standin = DojoStandin(token=arguments.token)
        url = standin.url
    else:
        url = arguments.url
    columns: tuple[str, ...] = ("night", "reimported", "unchanged", "calls", "created", "closed", "reactivated",
                                "held", "failed", "active")  # fmt: skip
    if arguments.scenario == "templates":
        columns = (*columns, "renamed", "not moved", "tests")
    if arguments.scenario == "split":
        columns = (*columns, "tests")
    plan = {"lifecycle": scenarios, "templates": template_scenarios, "split": split_scenarios}[arguments.scenario]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    try:
        with tempfile.TemporaryDirectory(prefix="lifecycle-") as work:
            nights = Nights(url, arguments.token, Path(work))
            for name, objects, flags in plan(sample, nights):
                started = time.monotonic()
                row = nights.night(name, objects(), **flags)
                row["night"] = f"{name} ({time.monotonic() - started:.1f} s)"
                print("| " + " | ".join(str(row[column]) for column in columns) + " |", flush=True)
    finally:
        if standin is not None:
            standin.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
