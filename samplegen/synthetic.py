"""Synthetic report objects for tests and benchmarks: pure, typed, deterministic in their arguments.

Each maker builds a workload `(namespace, index)` on one of the sample images and returns the report a
scanner would write for it, with the same builders as the bundled sample. Sizes are `len(json.dumps(obj))`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from samplegen import compose
from samplegen.catalog import CONTROLS, SECRET_SETS, WORKLOAD_CHECK_IDS
from samplegen.cluster import IMAGES
from samplegen.common import pod_template_hash, rng
from samplegen.model import Container, Workload

_NAMES = ("api", "worker", "gateway", "billing", "search", "ingest", "auth", "cache", "reports", "notifier")
_KINDS = (
    ("Deployment", "ReplicaSet"),
    ("StatefulSet", "StatefulSet"),
    ("DaemonSet", "DaemonSet"),
    ("CronJob", "CronJob"),
    ("Deployment", "ReplicaSet"),
)
_IMAGES = tuple(IMAGES.values())

# The mix of kinds `synthetic_cluster` yields, per 20 objects: dominated by VulnerabilityReports.
_MIX = ("vuln",) * 13 + ("config",) * 2 + ("secret",) * 2 + ("manifest",) * 2 + ("scan",)


def workload(namespace: str, index: int) -> Workload:
    """The synthetic workload `index` of `namespace`, with failures picked deterministically."""
    pick = rng("synthetic-workload", namespace, index)
    kind, owner_kind = _KINDS[index % len(_KINDS)]
    name = f"{_NAMES[index % len(_NAMES)]}-{index:04d}"
    owner_name = f"{name}-{pod_template_hash(namespace, name)}" if owner_kind == "ReplicaSet" else name
    image = _IMAGES[pick.randrange(len(_IMAGES))]
    return Workload(
        namespace=namespace,
        kind=kind,
        name=name,
        containers=(Container(name.split("-", maxsplit=1)[0], image),),
        owner_kind=owner_kind,
        owner_name=owner_name,
        failing_checks=tuple(sorted(pick.sample(WORKLOAD_CHECK_IDS, pick.randint(2, 9)))),
        failing_controls=tuple(sorted(pick.sample(sorted(CONTROLS), pick.randint(1, 6)))),
    )


def vulnerability_report(namespace: str, index: int, *, target_bytes: int = 30_000) -> dict[str, Any]:
    """A VulnerabilityReport of about `target_bytes` (within a few percent above ~5 KB)."""
    return compose.sized_vulnerability_report(workload(namespace, index), 0, target_bytes)


def config_audit_report(namespace: str, index: int) -> dict[str, Any]:
    """A ConfigAuditReport with failed and passed checks."""
    return compose.config_audit_report(workload(namespace, index))


def exposed_secret_report(namespace: str, index: int) -> dict[str, Any]:
    """An ExposedSecretReport; about a third find secrets, the others list none, as in real clusters."""
    sets = sorted(SECRET_SETS)
    pick = rng("synthetic-secrets", namespace, index)
    rules = SECRET_SETS[sets[pick.randrange(len(sets))]] if pick.random() < 0.35 else ()
    return compose.exposed_secret_report(workload(namespace, index), 0, rules)


def vulnerability_manifest(namespace: str, index: int, *, target_bytes: int = 40_000) -> dict[str, Any]:
    """A kubescape VulnerabilityManifest (Grype payload) of one workload container, about `target_bytes`."""
    return compose.sized_workload_vulnerability_manifest(workload(namespace, index), 0, target_bytes)


def workload_configuration_scan(namespace: str, index: int) -> dict[str, Any]:
    """A kubescape WorkloadConfigurationScan with failed and passed controls."""
    scan, _summary = compose.workload_configuration_scans(workload(namespace, index))
    return scan


def synthetic_cluster(n_reports: int, namespaces: int = 10) -> Iterator[dict[str, Any]]:
    """`n_reports` report objects spread over `namespaces` namespaces, about 65 % VulnerabilityReports."""
    for number in range(n_reports):
        namespace = f"team-{number % namespaces:02d}"
        index = number // namespaces
        kind = _MIX[number % len(_MIX)]
        if kind == "vuln":
            size = 10_000 + int(rng("synthetic-size", number).random() * 50_000)
            yield vulnerability_report(namespace, index, target_bytes=size)
        elif kind == "config":
            yield config_audit_report(namespace, index)
        elif kind == "secret":
            yield exposed_secret_report(namespace, index)
        elif kind == "manifest":
            yield vulnerability_manifest(namespace, index)
        else:
            yield workload_configuration_scan(namespace, index)
