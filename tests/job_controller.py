"""What the kubelet and the Job controller do with a Job's pods, for tests that run the CronJob's containers here.

No kubelet or controller-manager runs on these machines, so the two rules that decide how a night ends are ported:
- the kubelet, with `restartPolicy: Never`: init containers run in order and the first that exits non-zero fails
  the pod, so the main containers never start; the pod succeeds when every main container exits 0.
- the Job controller: a failed pod is matched against `podFailurePolicy`, a port of kubernetes
  `pkg/controller/job/pod_failure_policy.go` (`matchPodFailurePolicy`): rules in order, the first match wins;
  `onExitCodes` looks at main containers first, then init containers, ignores exit code 0 and, without
  `containerName`, any container; `FailJob` fails the Job with reason `PodFailurePolicy`, `Ignore` retries without
  counting, `Count` (and no match) counts towards `backoffLimit`, past which the Job fails with
  `BackoffLimitExceeded` (the reasons of k8s.io/api/batch/v1 `JobReasonPodFailurePolicy`,
  `JobReasonBackoffLimitExceeded`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FAIL_JOB, IGNORE, COUNT = "FailJob", "Ignore", "Count"


@dataclass(frozen=True)
class ContainerRun:
    name: str
    exit_code: int


@dataclass(frozen=True)
class PodRun:
    """One pod's end: the containers that ran (init first), and the conditions a disruption would add."""

    name: str
    init_containers: tuple[ContainerRun, ...]
    containers: tuple[ContainerRun, ...]
    conditions: tuple[tuple[str, str], ...] = ()  # (type, status)

    @property
    def succeeded(self) -> bool:
        return all(run.exit_code == 0 for run in self.init_containers + self.containers) and bool(self.containers)


@dataclass
class JobOutcome:
    """The Job's terminal condition as `kubectl describe job` shows it."""

    condition: str  # Complete | Failed
    reason: str = ""
    message: str = ""
    pods: list[PodRun] = field(default_factory=list)


ContainerRunner = Callable[[Mapping[str, Any], int], int]  # (container spec, pod number) -> exit code


def run_pod(pod_spec: Mapping[str, Any], name: str, run_container: Callable[[Mapping[str, Any]], int]) -> PodRun:
    """The kubelet's order with `restartPolicy: Never`: a failed init container stops the pod."""
    assert pod_spec["restartPolicy"] == "Never", "podFailurePolicy requires restartPolicy: Never"
    inits: list[ContainerRun] = []
    for container in pod_spec.get("initContainers", []):
        inits.append(ContainerRun(container["name"], run_container(container)))
        if inits[-1].exit_code != 0:
            return PodRun(name, tuple(inits), ())
    mains = tuple(ContainerRun(container["name"], run_container(container)) for container in pod_spec["containers"])
    return PodRun(name, tuple(inits), mains)


def match_pod_failure_policy(policy: Mapping[str, Any] | None, pod: PodRun) -> tuple[str | None, bool, str | None]:
    """(FailJob message, counts towards backoffLimit, action): `matchPodFailurePolicy`, rule for rule."""
    if policy is None:
        return None, True, None
    for index, rule in enumerate(policy.get("rules", [])):
        if "onExitCodes" in rule:
            matched = _match_exit_codes(pod, rule["onExitCodes"])
            if matched is not None:
                if rule["action"] == FAIL_JOB:
                    message = (
                        f"Container {matched.name} for pod {pod.name} failed with exit code {matched.exit_code} "
                        f"matching {FAIL_JOB} rule at index {index}"
                    )
                    return message, True, FAIL_JOB
                return None, rule["action"] != IGNORE, rule["action"]
        elif "onPodConditions" in rule:
            patterns = {(pattern["type"], pattern.get("status", "True")) for pattern in rule["onPodConditions"]}
            condition = next((c for c in pod.conditions if c in patterns), None)
            if condition is not None:
                if rule["action"] == FAIL_JOB:
                    message = f"Pod {pod.name} has condition {condition[0]} matching {FAIL_JOB} rule at index {index}"
                    return message, True, FAIL_JOB
                return None, rule["action"] != IGNORE, rule["action"]
    return None, True, None


def run_job(job_spec: Mapping[str, Any], run_container: ContainerRunner, *, namespace: str = "ns") -> JobOutcome:
    """Pods until one succeeds, a FailJob rule matches, or the failures counted pass `backoffLimit`."""
    failed = 0
    pods: list[PodRun] = []
    policy = job_spec.get("podFailurePolicy")
    while True:
        pod = run_pod(job_spec["template"]["spec"], f"{namespace}/night-{len(pods)}",
                      functools.partial(_nth, run_container, len(pods)))  # fmt: skip
        pods.append(pod)
        if pod.succeeded:
            return JobOutcome("Complete", pods=pods)
        message, counts, action = match_pod_failure_policy(policy, pod)
        if action == FAIL_JOB:
            return JobOutcome("Failed", "PodFailurePolicy", message or "", pods)
        failed += 1 if counts else 0
        if failed > int(job_spec.get("backoffLimit", 6)):
            return JobOutcome("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit", pods)


def _nth(run_container: ContainerRunner, pod: int, container: Mapping[str, Any]) -> int:
    return run_container(container, pod)


def _match_exit_codes(pod: PodRun, requirement: Mapping[str, Any]) -> ContainerRun | None:
    for runs in (pod.containers, pod.init_containers):
        matched = _matching_container(runs, requirement)
        if matched is not None:
            return matched
    return None


def _matching_container(runs: Sequence[ContainerRun], requirement: Mapping[str, Any]) -> ContainerRun | None:
    name = requirement.get("containerName")
    for run in runs:
        if (name is None or name == run.name) and run.exit_code != 0:
            inside = run.exit_code in requirement["values"]
            if inside if requirement["operator"] == "In" else not inside:
                return run
    return None
