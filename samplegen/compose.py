"""Whole report objects for a workload, shared by the bundled sample and the synthetic generator.

The bundle sizes its reports by a number of advisories, the synthetic makers in bytes; both then go through
the same builders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from samplegen import kubescape as ks
from samplegen import trivy
from samplegen.catalog import CHECKS, ECOSYSTEMS, WORKLOAD_CHECK_IDS, Advisory, SecretRule
from samplegen.common import JSON, json_size, rng
from samplegen.model import Image, Workload

EntryMaker = Callable[[Advisory, int], JSON]


def advisory_stream(image: Image, salt: str) -> Iterator[tuple[Advisory, int]]:
    """The image's advisories in a stable shuffled order, then its language packages again under other paths.

    Repeats model bundled copies of one library (vendored node_modules, several Go binaries), which is how
    real images reach hundreds of findings; the stream is endless so any size can be reached.
    """
    shuffle = rng("stream", image.ref, salt)
    pool = list(image.pool)
    shuffle.shuffle(pool)
    yield from ((adv, 0) for adv in pool)
    language = [adv for adv in pool if ECOSYSTEMS[adv.ecosystem].trivy_class == "lang-pkgs"] or pool
    variant = 1
    while True:
        yield from ((adv, variant) for adv in language)
        variant += 1


def fill_to_size(make: EntryMaker, stream: Iterator[tuple[Advisory, int]], budget: int) -> list[JSON]:
    """Entries from `stream` while they bring the JSON size closer to `budget` bytes (separators counted)."""
    entries: list[JSON] = []
    size = 0
    for adv, variant in stream:
        entry = make(adv, variant)
        entry_size = json_size(entry) + 2
        if size + entry_size / 2 > budget:
            break
        entries.append(entry)
        size += entry_size
    return entries


def vulnerability_report(workload: Workload, container_index: int, advisories: list[Advisory]) -> JSON:
    container = workload.containers[container_index]
    entries = [trivy.vulnerability(adv, container.image) for adv in advisories]
    return trivy.vulnerability_report(trivy.workload_target(workload), container.name, container.image, entries)


def sized_vulnerability_report(workload: Workload, container_index: int, target_bytes: int) -> JSON:
    """A VulnerabilityReport whose JSON is about `target_bytes` long."""
    container = workload.containers[container_index]
    target = trivy.workload_target(workload)
    empty = trivy.vulnerability_report(target, container.name, container.image, [])
    stream = advisory_stream(container.image, f"{workload.namespace}/{workload.name}")
    entries = fill_to_size(
        lambda adv, variant: trivy.vulnerability(adv, container.image, variant),
        stream,
        target_bytes - json_size(empty),
    )
    return trivy.vulnerability_report(target, container.name, container.image, entries)


def config_audit_report(workload: Workload) -> JSON:
    """A ConfigAuditReport of the workload's pod owner: every workload check, failed or passed."""
    target = trivy.workload_target(workload)
    checks = []
    for check_id in WORKLOAD_CHECK_IDS:
        check = CHECKS[check_id]
        failed = check_id in workload.failing_checks
        messages = [trivy.check_message(check, target, c.name) for c in workload.containers] if failed else []
        checks.append(trivy.check_entry(check, not failed, messages))
    return trivy.checks_report("ConfigAuditReport", target, checks)


def exposed_secret_report(workload: Workload, container_index: int, rules: tuple[SecretRule, ...]) -> JSON:
    container = workload.containers[container_index]
    secrets = [trivy.secret_entry(rule) for rule in rules]
    return trivy.exposed_secret_report(trivy.workload_target(workload), container.name, container.image, secrets)


def image_vulnerability_manifest(image: Image, advisories: list[Advisory]) -> JSON:
    return ks.image_vulnerability_manifest(image, [ks.grype_match(adv, image) for adv in advisories])


def workload_vulnerability_manifest(workload: Workload, container_index: int, advisories: list[Advisory]) -> JSON:
    container = workload.containers[container_index]
    matches = [ks.grype_match(adv, container.image) for adv in advisories]
    return ks.workload_vulnerability_manifest(workload, container.name, container.image, matches)


def sized_workload_vulnerability_manifest(workload: Workload, container_index: int, target_bytes: int) -> JSON:
    """A filtered VulnerabilityManifest whose JSON is about `target_bytes` long."""
    container = workload.containers[container_index]
    empty = ks.workload_vulnerability_manifest(workload, container.name, container.image, [])
    stream = advisory_stream(container.image, f"grype/{workload.namespace}/{workload.name}")
    matches = fill_to_size(
        lambda adv, variant: ks.grype_match(adv, container.image, variant),
        stream,
        target_bytes - json_size(empty),
    )
    return ks.workload_vulnerability_manifest(workload, container.name, container.image, matches)


def workload_configuration_scans(workload: Workload) -> tuple[JSON, JSON]:
    """A WorkloadConfigurationScan and its WorkloadConfigurationScanSummary."""
    scan = ks.workload_configuration_scan(workload, ks.scanned_control_ids(workload))
    return scan, ks.workload_configuration_scan_summary(scan, workload)
