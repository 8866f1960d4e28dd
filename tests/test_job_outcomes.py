"""Every outcome of a night, as the shipped CronJob's Job ends it (docs/operations.md, "How a night ends").

The exit codes are given, the rules are the shipped manifest's, the evaluation is tests/job_controller.py's port of
the Job controller: what an operator sees in `kubectl describe job` and in kube-state-metrics' `kube_job_failed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.job_controller import ContainerRun, PodRun, match_pod_failure_policy, run_job

REPO = Path(__file__).resolve().parents[1]
JOB = yaml.safe_load((REPO / "cronjob" / "cronjob.yaml").read_text())["spec"]["jobTemplate"]["spec"]


def play(exit_codes: list[dict[str, int]]) -> tuple[str, str, str, int]:
    """Run the Job with the given exit codes per pod (getter, uploader); (condition, reason, message, pods)."""

    def container(spec: Mapping[str, Any], pod: int) -> int:
        return exit_codes[min(pod, len(exit_codes) - 1)][spec["name"]]

    outcome = run_job(JOB, container, namespace="report-exporter")
    return outcome.condition, outcome.reason, outcome.message, len(outcome.pods)


def test_the_getter_hands_over_whenever_it_wrote_a_manifest() -> None:
    (getter,) = JOB["template"]["spec"]["initContainers"]
    assert getter["args"] == ["get", "--out", "/data", "--exit-zero-on-manifest"]


def test_a_complete_night_completes_the_job() -> None:
    assert play([{"getter": 0, "uploader": 0}]) == ("Complete", "", "", 1)


def test_a_partial_night_fails_the_job_at_once_naming_the_uploader() -> None:
    assert play([{"getter": 0, "uploader": 3}]) == (
        "Failed", "PodFailurePolicy",
        "Container uploader for pod report-exporter/night-0 failed with exit code 3 matching FailJob rule at index 0",
        1,
    )  # fmt: skip


@pytest.mark.parametrize("container", ["getter", "uploader"])
def test_a_configuration_error_fails_the_job_at_once(container: str) -> None:
    codes = {"getter": 0, "uploader": 0, container: 2}
    condition, reason, message, pods = play([codes])
    assert (condition, reason, pods) == ("Failed", "PodFailurePolicy", 1)
    assert message.startswith(f"Container {container} for pod ") and "exit code 2" in message


def test_an_unreachable_api_is_retried_until_the_backoff_limit() -> None:
    assert JOB["backoffLimit"] == 2
    assert play([{"getter": 1, "uploader": 0}]) == (
        "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit", 3
    )  # fmt: skip


def test_an_unreachable_store_that_comes_back_completes_on_a_retry() -> None:
    assert play([{"getter": 0, "uploader": 1}, {"getter": 0, "uploader": 0}]) == ("Complete", "", "", 2)


def test_an_evicted_pod_is_retried_without_counting() -> None:
    evicted = PodRun("report-exporter/night-0", (ContainerRun("getter", 0),), (ContainerRun("uploader", 137),),
                     conditions=(("DisruptionTarget", "True"),))  # fmt: skip
    assert match_pod_failure_policy(JOB["podFailurePolicy"], evicted) == (None, False, "Ignore")
