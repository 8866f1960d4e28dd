"""The scanned things: container images, their packages, and the workloads that run them.

Both scanners describe the same image, so Trivy's VulnerabilityReport, Grype's payload in kubescape's
VulnerabilityManifest and both SBOM flavours are built from one `Image` and one pick of advisories.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from samplegen.catalog import ADVISORIES, BASE_PACKAGES, Advisory
from samplegen.common import CLUSTER_NAME, digest, rng, sha256_ref

WORKLOAD_API_GROUPS = {
    "Deployment": "apps",
    "ReplicaSet": "apps",
    "StatefulSet": "apps",
    "DaemonSet": "apps",
    "CronJob": "batch",
    "Job": "batch",
    "Pod": "",
    "Node": "",
    "Namespace": "",
    "Role": "rbac.authorization.k8s.io",
    "ClusterRole": "rbac.authorization.k8s.io",
}


def api_version_of(kind: str) -> str:
    """The `apiVersion` of a built-in workload kind (`apps/v1`, `batch/v1`, `v1`)."""
    group = WORKLOAD_API_GROUPS[kind]
    return f"{group}/v1" if group else "v1"


def dns_slug(text: str) -> str:
    """`text` made into a DNS-1123 name the way kubescape names its image objects."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9.-]", "-", text.lower())).strip("-.")


@dataclass(frozen=True)
class Package:
    """An installed package as the SBOM generators list it."""

    name: str
    version: str
    ecosystem: str
    source: str
    license: str
    path: str


@dataclass(frozen=True)
class Image:
    """A container image: where it comes from, its OS and which advisory tables it draws from."""

    registry: str
    repository: str
    tag: str
    os_family: str
    os_name: str
    ecosystems: tuple[str, ...]
    go_binary: str = ""
    app_root: str = "app"

    @property
    def ref(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"

    @property
    def digest(self) -> str:
        return sha256_ref("image", self.ref)

    @property
    def image_id(self) -> str:
        """`repo@digest`, kubescape's `kubescape.io/image-id` annotation."""
        return f"{self.registry}/{self.repository}@{self.digest}"

    @property
    def slug(self) -> str:
        """The name kubescape gives the image-level SBOM and vulnerability manifest."""
        return dns_slug(f"{self.registry}-{self.repository}-{self.tag}") + "-" + self.digest[-6:]

    @property
    def os_target(self) -> str:
        return f"{self.ref} ({self.os_family} {self.os_name})"

    @property
    def pool(self) -> tuple[Advisory, ...]:
        """Every advisory that applies to the image, in catalog order."""
        return tuple(adv for eco in self.ecosystems for adv in ADVISORIES[eco])

    def pick(self, count: int, salt: str = "") -> list[Advisory]:
        """`count` advisories of the image (all of them if fewer), a stable choice kept in catalog order."""
        pool = self.pool
        if count >= len(pool):
            return list(pool)
        chosen = set(rng("pick", self.ref, salt).sample(range(len(pool)), count))
        return [adv for index, adv in enumerate(pool) if index in chosen]

    def package_path(self, adv: Advisory, variant: int = 0) -> str:
        """Where a language package lives in the image; empty for OS packages (they are in the package DB)."""
        vendor = f"vendor/bundle-{variant}/" if variant else ""
        if adv.ecosystem == "jar":
            artifact = adv.package.split(":")[1]
            return f"{self.app_root}/BOOT-INF/lib/{vendor}{artifact}-{adv.installed}.jar"
        if adv.ecosystem == "python-pkg":
            site = "usr/local/lib/python3.11/site-packages"
            return f"{site}/{vendor}{adv.package}-{adv.installed}.dist-info/METADATA"
        if adv.ecosystem == "node-pkg":
            return f"{self.app_root}/{vendor}node_modules/{adv.package}/package.json"
        if adv.ecosystem in ("gobinary", "kubernetes"):
            return f"{self.go_binary}-{variant}" if variant else self.go_binary
        return ""

    def trivy_target(self, adv: Advisory, variant: int = 0) -> str:
        """Trivy's `target`: the OS line for OS packages, the binary or the language for the others."""
        targets = {"jar": "Java", "python-pkg": "Python", "node-pkg": "Node.js", "kubernetes": "Kubernetes"}
        if adv.ecosystem in targets:
            return targets[adv.ecosystem]
        if adv.ecosystem == "gobinary":
            return self.package_path(adv, variant)
        return self.os_target

    def purl(self, ecosystem: str, name: str, version: str) -> str:
        """A package URL as Trivy and Syft print it (versions percent-encoded)."""
        encoded = quote(version, safe=".-_~")
        if ecosystem in ("debian", "ubuntu"):
            return f"pkg:deb/{ecosystem}/{name}@{encoded}?arch=amd64&distro={ecosystem}-{self.os_name}"
        if ecosystem == "alpine":
            return f"pkg:apk/alpine/{name}@{encoded}?arch=x86_64&distro={self.os_name}"
        if ecosystem == "gobinary":
            return f"pkg:golang/{name}@{version}"
        if ecosystem == "jar":
            group, artifact = name.split(":")
            return f"pkg:maven/{group}/{artifact}@{encoded}"
        if ecosystem == "python-pkg":
            return f"pkg:pypi/{name.lower()}@{encoded}"
        if ecosystem == "node-pkg":
            return f"pkg:npm/{name}@{encoded}"
        return f"pkg:k8s/{quote(name, safe='')}@{encoded}"

    def packages(self, advisories: list[Advisory]) -> list[Package]:
        """The image's packages: its distribution's base set plus every package named by `advisories`."""
        seen: dict[tuple[str, str, str], Package] = {}
        for name, version, source, license_id in BASE_PACKAGES[self.os_family]:
            seen[(self.os_family, name, version)] = Package(name, version, self.os_family, source, license_id, "")
        for adv in advisories:
            key = (adv.ecosystem, adv.package, adv.installed)
            if key not in seen:
                license_id = _LANG_LICENSES.get(adv.ecosystem, "")
                seen[key] = Package(
                    adv.package,
                    adv.installed,
                    adv.ecosystem,
                    adv.source or adv.package,
                    license_id,
                    self.package_path(adv),
                )
        return list(seen.values())


_LANG_LICENSES = {
    "gobinary": "BSD-3-Clause",
    "jar": "Apache-2.0",
    "python-pkg": "Apache-2.0",
    "node-pkg": "MIT",
    "kubernetes": "Apache-2.0",
}


@dataclass(frozen=True)
class Container:
    name: str
    image: Image


@dataclass(frozen=True)
class Workload:
    """A workload and the object Trivy scans for it (the ReplicaSet of a Deployment, the Job of a CronJob)."""

    namespace: str
    kind: str
    name: str
    containers: tuple[Container, ...]
    owner_kind: str
    owner_name: str
    failing_checks: tuple[str, ...] = ()
    failing_controls: tuple[str, ...] = ()

    @property
    def api_group(self) -> str:
        return WORKLOAD_API_GROUPS[self.kind]

    @property
    def wlid(self) -> str:
        """Kubescape's workload id: `wlid://cluster-<c>/namespace-<ns>/<kind>-<name>`."""
        return f"wlid://cluster-{CLUSTER_NAME}/namespace-{self.namespace}/{self.kind.lower()}-{self.name}"

    def instance_id(self, container: str) -> str:
        """Kubescape's `kubescape.io/instance-id` of one container of the scanned pod owner."""
        api_version = api_version_of(self.owner_kind)
        return (
            f"apiVersion-{api_version}/namespace-{self.namespace}/kind-{self.owner_kind}/name-{self.owner_name}"
            f"/containerName-{container}"
        )

    def instance_slug(self, container: str) -> str:
        """The name of a relevancy-filtered kubescape object of one container."""
        suffix = digest("slug", self.instance_id(container))
        return f"{self.owner_kind.lower()}-{self.owner_name}-{container}-{suffix[:4]}-{suffix[4:8]}"
