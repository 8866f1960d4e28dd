"""The sample cluster `prod-eu-1`: its images, workloads, roles, control plane and compliance specs.

This is the description; `build_bundle` turns it into report objects and files.
"""

from __future__ import annotations

from dataclasses import dataclass

from samplegen.common import pod_template_hash
from samplegen.model import Container, Image, Workload
from samplegen.trivy import ComplianceControl

IMAGES: dict[str, Image] = {
    "shop-frontend": Image(
        "ghcr.io",
        "acme-retail/shop-frontend",
        "2.14.3",
        "debian",
        "12.4",
        ("debian", "node-pkg"),
        app_root="usr/src/app",
    ),
    "cart": Image(
        "ghcr.io",
        "acme-retail/cart",
        "1.9.0",
        "debian",
        "12.4",
        ("debian", "gobinary"),
        go_binary="usr/local/bin/cart",
    ),
    "redis": Image(
        "docker.io",
        "library/redis",
        "7.2.4-bookworm",
        "debian",
        "12.4",
        ("debian", "gobinary"),
        go_binary="usr/local/bin/gosu",
    ),
    "payments-api": Image(
        "registry.acme.io",
        "payments/api",
        "3.2.1",
        "ubuntu",
        "22.04",
        ("ubuntu", "jar"),
        app_root="app",
    ),
    "settlement-worker": Image(
        "registry.acme.io",
        "payments/settlement-worker",
        "0.18.2",
        "debian",
        "12.4",
        ("debian", "python-pkg"),
    ),
    "prometheus": Image(
        "quay.io",
        "prometheus/prometheus",
        "v2.48.1",
        "",
        "",
        ("gobinary",),
        go_binary="bin/prometheus",
    ),
    "config-reloader": Image(
        "quay.io",
        "prometheus-operator/prometheus-config-reloader",
        "v0.70.0",
        "",
        "",
        ("gobinary",),
        go_binary="bin/prometheus-config-reloader",
    ),
    "grafana": Image(
        "docker.io",
        "grafana/grafana",
        "10.2.3",
        "alpine",
        "3.18.5",
        ("alpine", "gobinary", "node-pkg"),
        go_binary="usr/share/grafana/bin/grafana",
        app_root="usr/share/grafana/plugins-bundled",
    ),
    "node-exporter": Image(
        "quay.io",
        "prometheus/node-exporter",
        "v1.7.0",
        "",
        "",
        ("gobinary",),
        go_binary="bin/node_exporter",
    ),
    "coredns": Image(
        "registry.k8s.io",
        "coredns/coredns",
        "v1.10.1",
        "",
        "",
        ("gobinary",),
        go_binary="coredns",
    ),
    "kube-proxy": Image(
        "registry.k8s.io",
        "kube-proxy",
        "v1.28.5",
        "debian",
        "12.4",
        ("debian", "gobinary"),
        go_binary="usr/local/bin/kube-proxy",
    ),
    "kube-apiserver": Image(
        "registry.k8s.io",
        "kube-apiserver",
        "v1.28.5",
        "",
        "",
        ("gobinary",),
        go_binary="usr/local/bin/kube-apiserver",
    ),
}

# The control plane's Kubernetes components, scanned as one cluster-scoped "image" per node.
K8S_COMPONENTS = Image(
    "registry.k8s.io",
    "kubelet",
    "v1.28.3",
    "",
    "",
    ("kubernetes",),
    go_binary="usr/bin/kubelet",
)

# Advisories each image's reports list: sizes reports from ~10 KB to ~60 KB like real ones.
VULN_COUNTS: dict[str, int] = {
    "shop-frontend": 42,
    "cart": 24,
    "redis": 30,
    "payments-api": 22,
    "settlement-worker": 36,
    "prometheus": 12,
    "config-reloader": 7,
    "grafana": 28,
    "node-exporter": 9,
    "coredns": 11,
    "kube-proxy": 30,
    "kube-apiserver": 10,
}

_WORKLOAD_HARDENING = (
    "KSV001",
    "KSV003",
    "KSV012",
    "KSV014",
    "KSV020",
    "KSV021",
    "KSV104",
    "KSV106",
    "KSV118",
)

WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "shop",
        "Deployment",
        "frontend",
        (Container("frontend", IMAGES["shop-frontend"]),),
        "ReplicaSet",
        "frontend-7c9d8f6b5d",
        failing_checks=_WORKLOAD_HARDENING,
        failing_controls=("C-0013", "C-0016", "C-0017", "C-0034", "C-0055", "C-0260"),
    ),
    Workload(
        "shop",
        "Deployment",
        "cart",
        (Container("cart", IMAGES["cart"]),),
        "ReplicaSet",
        f"cart-{pod_template_hash('shop', 'cart')}",
        failing_checks=("KSV014", "KSV020", "KSV021"),
        failing_controls=("C-0017", "C-0034", "C-0260"),
    ),
    Workload(
        "shop",
        "StatefulSet",
        "cart-redis",
        (Container("redis", IMAGES["redis"]),),
        "StatefulSet",
        "cart-redis",
        failing_checks=(*_WORKLOAD_HARDENING, "KSV011", "KSV018"),
        failing_controls=("C-0009", "C-0013", "C-0016", "C-0017", "C-0034", "C-0055", "C-0270", "C-0271"),
    ),
    Workload(
        "payments",
        "Deployment",
        "payments-api",
        (Container("api", IMAGES["payments-api"]),),
        "ReplicaSet",
        "payments-api-6d4f9c8b7f",
        failing_checks=("KSV014", "KSV104", "KSV118"),
        failing_controls=("C-0017", "C-0055"),
    ),
    Workload(
        "payments",
        "CronJob",
        "settlement",
        (Container("worker", IMAGES["settlement-worker"]),),
        "CronJob",
        "settlement",
        failing_checks=("KSV001", "KSV003", "KSV012", "KSV014", "KSV104", "KSV118"),
        failing_controls=("C-0013", "C-0016", "C-0017", "C-0034"),
    ),
    Workload(
        "monitoring",
        "StatefulSet",
        "prometheus-k8s",
        (
            Container("prometheus", IMAGES["prometheus"]),
            Container("config-reloader", IMAGES["config-reloader"]),
        ),
        "StatefulSet",
        "prometheus-k8s",
        failing_checks=("KSV011", "KSV018", "KSV104"),
        failing_controls=("C-0009", "C-0260", "C-0270", "C-0271"),
    ),
    Workload(
        "monitoring",
        "Deployment",
        "grafana",
        (Container("grafana", IMAGES["grafana"]),),
        "ReplicaSet",
        f"grafana-{pod_template_hash('monitoring', 'grafana')}",
        failing_checks=("KSV001", "KSV003", "KSV014", "KSV104"),
        failing_controls=("C-0016", "C-0017", "C-0055"),
    ),
    Workload(
        "monitoring",
        "DaemonSet",
        "node-exporter",
        (Container("node-exporter", IMAGES["node-exporter"]),),
        "DaemonSet",
        "node-exporter",
        failing_checks=("KSV009", "KSV010", "KSV023", "KSV106"),
        failing_controls=("C-0038", "C-0041", "C-0044", "C-0048"),
    ),
    Workload(
        "kube-system",
        "Deployment",
        "coredns",
        (Container("coredns", IMAGES["coredns"]),),
        "ReplicaSet",
        "coredns-5d78c9869d",
        failing_checks=("KSV011", "KSV104", "KSV118"),
        failing_controls=("C-0009", "C-0270"),
    ),
    Workload(
        "kube-system",
        "DaemonSet",
        "kube-proxy",
        (Container("kube-proxy", IMAGES["kube-proxy"]),),
        "DaemonSet",
        "kube-proxy",
        failing_checks=("KSV001", "KSV009", "KSV012", "KSV014", "KSV017", "KSV023", "KSV104"),
        failing_controls=("C-0013", "C-0041", "C-0046", "C-0048", "C-0057"),
    ),
    Workload(
        "kube-system",
        "Pod",
        "kube-apiserver-cp-1",
        (Container("kube-apiserver", IMAGES["kube-apiserver"]),),
        "Pod",
        "kube-apiserver-cp-1",
        failing_checks=("KSV009", "KSV012", "KSV014", "KSV023", "KSV104"),
        failing_controls=("C-0013", "C-0041", "C-0048"),
    ),
)

# Secrets found per image (keys of catalog.SECRET_SETS); other containers get an empty report.
SECRETS_BY_IMAGE = {
    "shop-frontend": "shop-frontend",
    "settlement-worker": "settlement-worker",
    "grafana": "grafana",
}

# Workloads kubescape has relevancy data for: they get filtered manifests and SBOMs.
RELEVANCY = ("frontend", "payments-api", "grafana")


@dataclass(frozen=True)
class Assessed:
    """A role, pod or node Trivy assessed: which checks it ran and which of them failed."""

    namespace: str | None
    kind: str
    name: str
    checks: tuple[str, ...]
    failing: tuple[str, ...]


_RBAC = ("KSV041", "KSV044", "KSV045", "KSV046", "KSV048", "KSV049", "KSV050", "KSV053", "KSV056", "KSV113")
ROLES: tuple[Assessed, ...] = (
    Assessed("shop", "Role", "shop-deployer", _RBAC, ("KSV048", "KSV049", "KSV053", "KSV113")),
    Assessed("payments", "Role", "payments-api", _RBAC, ("KSV113",)),
    Assessed("monitoring", "Role", "prometheus-k8s-config", _RBAC, ()),
    Assessed("kube-system", "Role", "kube-proxy", _RBAC, ("KSV049",)),
    Assessed(None, "ClusterRole", "cluster-admin", _RBAC, ("KSV044", "KSV046")),
    Assessed(None, "ClusterRole", "admin", _RBAC, ("KSV041", "KSV048", "KSV049", "KSV053", "KSV056", "KSV113")),
    Assessed(None, "ClusterRole", "edit", _RBAC, ("KSV041", "KSV048", "KSV049", "KSV053")),
    Assessed(None, "ClusterRole", "kubescape", _RBAC, ("KSV041",)),
    Assessed(None, "ClusterRole", "trivy-operator", _RBAC, ("KSV041", "KSV049")),
)

_APISERVER = ("KCV0001", "KCV0002", "KCV0007", "KCV0011", "KCV0019", "KCV0020", "KCV0021")
_NODE = ("KCV0069", "KCV0079", "KCV0080", "KCV0083")
INFRA: tuple[Assessed, ...] = (
    Assessed("kube-system", "Pod", "kube-apiserver-cp-1", _APISERVER, ("KCV0011", "KCV0019", "KCV0020", "KCV0021")),
    Assessed("kube-system", "Pod", "kube-controller-manager-cp-1", ("KCV0019",), ("KCV0019",)),
    Assessed("kube-system", "Pod", "kube-scheduler-cp-1", ("KCV0019",), ()),
    Assessed("kube-system", "Pod", "etcd-cp-1", ("KCV0042", "KCV0043"), ()),
    Assessed(None, "Node", "cp-1", _NODE, ()),
    Assessed(None, "Node", "worker-1", _NODE, ("KCV0069",)),
    Assessed(None, "Node", "worker-2", _NODE, ("KCV0069", "KCV0083")),
)

NAMESPACE_AUDITS: tuple[Assessed, ...] = (
    Assessed(None, "Namespace", "shop", ("KSV039", "KSV040"), ("KSV039", "KSV040")),
    Assessed(None, "Namespace", "payments", ("KSV039", "KSV040"), ("KSV040",)),
    Assessed(None, "Namespace", "monitoring", ("KSV039", "KSV040"), ()),
)

NSA_SPEC = {
    "description": "National Security Agency - Kubernetes Hardening Guidance",
    "id": "k8s-nsa-1.0",
    "platform": "k8s",
    "relatedResources": [
        "https://www.nsa.gov/Press-Room/News-Highlights/Article/Article/2716980/"
        "nsa-cisa-release-kubernetes-hardening-guidance/"
    ],
    "title": "National Security Agency - Kubernetes Hardening Guidance v1.0",
    "type": "nsa",
    "version": "1.0",
}

NSA_CONTROLS: tuple[ComplianceControl, ...] = (
    ComplianceControl("1.0", "Non-root containers", "Containers must not run as the root user", "MEDIUM", ("KSV012",)),
    ComplianceControl(
        "1.1",
        "Immutable container file systems",
        "Container root file systems must be read-only",
        "LOW",
        ("KSV014",),
    ),
    ComplianceControl(
        "1.2",
        "Preventing privileged containers",
        "Pods must not run privileged containers",
        "HIGH",
        ("KSV017",),
    ),
    ComplianceControl(
        "1.3",
        "Share containers process namespaces",
        "Containers of a pod must not share a process namespace",
        "HIGH",
        ("KSV008",),
    ),
    ComplianceControl(
        "1.4",
        "Share host process namespaces",
        "Pods must not share the host's process namespace",
        "HIGH",
        ("KSV010",),
    ),
    ComplianceControl(
        "1.5", "Use the host network", "Pods must not use the host's network namespace", "HIGH", ("KSV009",)
    ),
    ComplianceControl(
        "1.6",
        "Run with root privileges or with root group membership",
        "Containers must not run with root group membership",
        "LOW",
        ("KSV029",),
    ),
    ComplianceControl(
        "1.7",
        "Restricts escalation to root privileges",
        "Containers must not be allowed to escalate privileges",
        "MEDIUM",
        ("KSV001",),
    ),
    ComplianceControl(
        "1.8",
        "Sets the SELinux context of the container",
        "Containers must not set custom SELinux user or role options",
        "MEDIUM",
        ("KSV002",),
    ),
    ComplianceControl(
        "1.10",
        "Sets the seccomp profile used to sandbox containers",
        "Containers must run with a seccomp profile",
        "LOW",
        ("KSV104",),
    ),
    ComplianceControl(
        "1.11",
        "Protecting Pod service account tokens",
        "Pods must not mount service account tokens they do not need",
        "MEDIUM",
        ("KSV036",),
    ),
    ComplianceControl(
        "2.0",
        "Pod and/or namespace Selectors",
        "Network policies must select the pods or namespaces they protect",
        "MEDIUM",
        ("KSV038",),
    ),
    ComplianceControl(
        "3.0",
        "Use CNI plugin that supports NetworkPolicy API (Manual)",
        "The cluster network plugin must enforce NetworkPolicy objects",
        "CRITICAL",
        (),
        ("CMD-0001",),
    ),
    ComplianceControl(
        "4.0",
        "Use ResourceQuota policies to limit resources",
        "Every namespace must have a ResourceQuota",
        "MEDIUM",
        ("KSV040",),
    ),
    ComplianceControl(
        "4.1",
        "Use LimitRange policies to limit resources",
        "Every namespace must have a LimitRange",
        "MEDIUM",
        ("KSV039",),
    ),
    ComplianceControl(
        "6.0",
        "Ensure that the --audit-log-path argument is set",
        "The API server must write an audit log",
        "MEDIUM",
        ("KCV0020",),
    ),
)

PSS_SPEC = {
    "description": "Kubernetes Pod Security Standards - Baseline",
    "id": "k8s-pss-baseline-0.1",
    "platform": "k8s",
    "relatedResources": ["https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline"],
    "title": "Kubernetes Pod Security Standards - Baseline",
    "type": "pss-baseline",
    "version": "0.1",
}

PSS_CONTROLS: tuple[ComplianceControl, ...] = (
    ComplianceControl("1", "HostProcess", "Windows pods must not run HostProcess containers", "HIGH", ("KSV103",)),
    ComplianceControl(
        "2",
        "Host Namespaces",
        "Sharing the host namespaces must be disallowed",
        "HIGH",
        ("KSV008", "KSV009", "KSV010"),
    ),
    ComplianceControl(
        "3", "Privileged Containers", "Privileged pods disable most security mechanisms", "HIGH", ("KSV017",)
    ),
    ComplianceControl(
        "4",
        "Capabilities",
        "Adding capabilities beyond the default set must be disallowed",
        "MEDIUM",
        ("KSV022",),
    ),
    ComplianceControl("5", "HostPath Volumes", "HostPath volumes must be forbidden", "MEDIUM", ("KSV023",)),
    ComplianceControl(
        "6", "host ports", "HostPorts should be disallowed or restricted to a known list", "HIGH", ("KSV024",)
    ),
    ComplianceControl(
        "7", "AppArmor", "Overriding the default AppArmor profile must be disallowed", "HIGH", ("KSV002",)
    ),
    ComplianceControl("8", "SELinux", "Setting a custom SELinux user or role must be forbidden", "MEDIUM", ("KSV025",)),
    ComplianceControl("9", "/proc Mount Type", "The default /proc masks must be kept", "MEDIUM", ("KSV027",)),
    ComplianceControl(
        "10", "Seccomp", "Seccomp profile must not be explicitly set to Unconfined", "MEDIUM", ("KSV104",)
    ),
    ComplianceControl("11", "Sysctls", "Sysctls must be limited to a safe subset", "MEDIUM", ("KSV026",)),
)
