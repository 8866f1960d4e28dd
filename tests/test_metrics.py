"""exporter/metrics.py: the night's metrics from its summary, the textfile, and publishing without failing a night.

The Pushgateway edge is in tests/test_metrics_pushgateway.py; the alerts on these metrics in
tests/test_prometheus_rules.py.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import Settings, load_settings
from exporter.errors import ConfigError
from exporter.metrics import LAST_COMPLETE_NIGHT, night_registry, publish, write_textfile
from exporter.progress import JsonReporter
from tests.night_summaries import (
    COMPLETE_FINISHED,
    FAILED_FINISHED,
    PARTIAL_FINISHED,
    complete_night,
    failed_night,
    partial_night,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition text, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def night(summary: dict[str, Any]) -> Samples:
    return samples(generate_latest(night_registry(summary)).decode())


def value(found: Samples, name: str, cluster: str = "prod-eu-1", **labels: str) -> float:
    return found[(name, frozenset({"cluster": cluster, **labels}.items()))]


def test_a_complete_night_sets_every_metric() -> None:
    found = night(complete_night())
    assert [value(found, "report_exporter_night_outcome", outcome=o) for o in ("complete", "partial", "failed")] == [
        1,
        0,
        0,
    ]
    assert value(found, "report_exporter_stage_outcome", stage="dojo", outcome="complete") == 1
    assert value(found, "report_exporter_stage_outcome", stage="dojo", outcome="partial") == 0
    assert value(found, "report_exporter_stage_duration_seconds", stage="get") == 100.0
    assert value(found, "report_exporter_stage_duration_seconds", stage="dojo") == 30.25
    assert value(found, "report_exporter_objects", kind="vulnerabilityreports", status="complete") == 120
    assert value(found, "report_exporter_objects", kind="clustercompliancereports", status="absent") == 0
    assert value(found, "report_exporter_run_bytes") == 3_400_000
    assert value(found, "report_exporter_archived_bytes") == 3_400_512
    assert value(found, "report_exporter_retention_deleted_runs") == 2
    assert value(found, "report_exporter_dojo_tests", result="reimported") == 5
    assert value(found, "report_exporter_dojo_tests", result="unchanged") == 20
    assert value(found, "report_exporter_dojo_tests", result="emptied") == 1
    assert value(found, "report_exporter_dojo_tests", result="valve_held") == 0
    assert value(found, "report_exporter_dojo_api_calls") == 31
    assert value(found, "report_exporter_findings", severity="critical", state="new") == 2
    assert value(found, "report_exporter_findings", severity="high", state="new") == 3
    assert value(found, "report_exporter_findings", severity="medium", state="closed") == 4
    assert value(found, "report_exporter_findings", severity="low", state="reactivated") == 1
    assert value(found, "report_exporter_findings", severity="high", state="active") == 40
    assert value(found, "report_exporter_night_timestamp_seconds") == COMPLETE_FINISHED
    assert value(found, LAST_COMPLETE_NIGHT) == COMPLETE_FINISHED


def test_a_partial_night_reports_what_it_did_but_not_as_the_last_complete_one() -> None:
    found = night(partial_night())
    assert value(found, "report_exporter_night_outcome", outcome="partial") == 1
    assert value(found, "report_exporter_night_outcome", outcome="complete") == 0
    assert value(found, "report_exporter_stage_outcome", stage="get", outcome="partial") == 1
    assert value(found, "report_exporter_stage_outcome", stage="retention", outcome="complete") == 1
    assert value(found, "report_exporter_objects", kind="configauditreports", status="failed") == 0
    assert ("report_exporter_objects", frozenset({"cluster": "prod-eu-1", "kind": "configauditreports",
                                                  "status": "complete"}.items())) not in found  # fmt: skip
    assert value(found, "report_exporter_dojo_tests", result="held") == 4
    assert value(found, "report_exporter_dojo_tests", result="valve_held") == 1
    assert value(found, "report_exporter_dojo_tests", result="not_moved") == 2  # a template change DefectDojo refused
    assert value(found, "report_exporter_findings", severity="critical", state="new") == 0
    assert value(found, "report_exporter_retention_deleted_runs") == 0
    assert value(found, "report_exporter_night_timestamp_seconds") == PARTIAL_FINISHED
    assert not any(name == LAST_COMPLETE_NIGHT for name, _ in found)


def test_a_failed_night_marks_what_it_did_not_measure_as_nan() -> None:
    """NaN, not absent: the Pushgateway would keep yesterday's numbers for a metric left out of tonight's push."""
    found = night(failed_night())
    assert value(found, "report_exporter_night_outcome", outcome="failed") == 1
    assert value(found, "report_exporter_stage_outcome", stage="get", outcome="failed") == 1
    assert value(found, "report_exporter_stage_duration_seconds", stage="get") == 50.0
    assert value(found, "report_exporter_objects", kind="vulnerabilityreports", status="failed") == 0
    assert value(found, "report_exporter_run_bytes") == 0
    for name, labels in [("report_exporter_archived_bytes", {}), ("report_exporter_retention_deleted_runs", {}),
                         ("report_exporter_dojo_tests", {"result": "failed"}),
                         ("report_exporter_dojo_api_calls", {}),
                         ("report_exporter_findings", {"severity": "critical", "state": "new"})]:  # fmt: skip
        assert math.isnan(value(found, name, **labels)), name
    assert value(found, "report_exporter_night_timestamp_seconds") == FAILED_FINISHED
    assert not any(name == LAST_COMPLETE_NIGHT for name, _ in found)


def test_every_metric_is_a_gauge_with_the_cluster_and_a_conventional_name() -> None:
    text = generate_latest(night_registry(complete_night("staging"))).decode()
    families = list(text_string_to_metric_families(text))
    assert len(families) == 12
    for family in families:
        assert family.type == "gauge", family.name
        assert family.name.startswith("report_exporter_"), family.name
        assert not family.name.endswith("_total"), family.name  # gauges of one night, not counters
        assert all(sample.labels["cluster"] == "staging" for sample in family.samples), family.name
    assert {"report_exporter_stage_duration_seconds", "report_exporter_archived_bytes", LAST_COMPLETE_NIGHT} <= {
        family.name for family in families
    }


def test_the_textfile_is_valid_exposition_text_and_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "report_exporter.prom"
    assert write_textfile(night_registry(complete_night()), path) == ()
    found = samples(path.read_text())
    assert value(found, LAST_COMPLETE_NIGHT) == COMPLETE_FINISHED
    assert value(found, "report_exporter_dojo_tests", result="reimported") == 5
    assert os.listdir(tmp_path) == ["report_exporter.prom"]  # the temporary file was renamed, none is left


@pytest.mark.parametrize("later", [partial_night, failed_night])
def test_a_night_that_is_not_complete_keeps_the_previous_files_last_complete_night(
    tmp_path: Path, later: Callable[[], dict[str, Any]]
) -> None:
    path = tmp_path / "report_exporter.prom"
    write_textfile(night_registry(complete_night()), path)
    write_textfile(night_registry(later()), path)
    found = samples(path.read_text())
    assert value(found, LAST_COMPLETE_NIGHT) == COMPLETE_FINISHED
    assert value(found, "report_exporter_night_outcome", outcome="complete") == 0  # the rest is tonight's


def test_a_complete_night_replaces_the_last_complete_night(tmp_path: Path) -> None:
    path = tmp_path / "report_exporter.prom"
    write_textfile(night_registry(complete_night()), path)
    newer = complete_night()
    newer["finished_at"] = "2026-11-24T02:32:05.000000Z"
    write_textfile(night_registry(newer), path)
    assert value(samples(path.read_text()), LAST_COMPLETE_NIGHT) == PARTIAL_FINISHED


def test_a_partial_first_night_writes_no_last_complete_night(tmp_path: Path) -> None:
    path = tmp_path / "report_exporter.prom"
    write_textfile(night_registry(partial_night()), path)
    assert LAST_COMPLETE_NIGHT not in path.read_text()


def test_an_unreadable_previous_file_is_replaced_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "report_exporter.prom"
    path.write_text('report_exporter_last_complete_night_timestamp_seconds{cluster="prod-eu-1" 17\n')
    notes = write_textfile(night_registry(partial_night()), path)
    assert len(notes) == 1 and "nothing carried over" in notes[0]
    assert value(samples(path.read_text()), "report_exporter_night_outcome", outcome="partial") == 1


def reporter_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_publish_writes_the_file_the_settings_name(tmp_path: Path, settings_with: Callable[..., Settings]) -> None:
    path = tmp_path / "report_exporter.prom"
    stream = io.StringIO()
    publish(settings_with(metrics__file=str(path)), complete_night(), JsonReporter(stream))
    assert value(samples(path.read_text()), LAST_COMPLETE_NIGHT) == COMPLETE_FINISHED
    assert [(line["level"], line["event"]) for line in reporter_lines(stream)] == [("info", "metrics_written")]


def test_a_file_that_cannot_be_written_is_one_warning(tmp_path: Path, settings_with: Callable[..., Settings]) -> None:
    path = tmp_path / "missing-directory" / "report_exporter.prom"
    stream = io.StringIO()
    publish(settings_with(metrics__file=str(path)), complete_night(), JsonReporter(stream))  # returns: no exception
    lines = reporter_lines(stream)
    assert [(line["level"], line["event"]) for line in lines] == [("warning", "metrics_file_failed")]
    assert str(path) in lines[0]["message"] and "unaffected" in lines[0]["message"]


def test_a_summary_the_metrics_cannot_read_is_one_warning(
    tmp_path: Path, settings_with: Callable[..., Settings]
) -> None:
    summary = complete_night()
    del summary["finished_at"]
    stream = io.StringIO()
    publish(settings_with(metrics__file=str(tmp_path / "night.prom")), summary, JsonReporter(stream))
    assert [(line["level"], line["event"]) for line in reporter_lines(stream)] == [("warning", "metrics_failed")]
    assert not (tmp_path / "night.prom").exists()


def test_publish_without_a_destination_does_nothing(settings_with: Callable[..., Settings]) -> None:
    stream = io.StringIO()
    publish(settings_with(), complete_night(), JsonReporter(stream))
    assert stream.getvalue() == ""


def test_the_metrics_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(environ={"REPORT_EXPORTER_PUSHGATEWAY": "https://ops:pw@pushgateway.example:9091",
                                      "REPORT_EXPORTER_METRICS_FILE": str(tmp_path / "night.prom")})  # fmt: skip
    assert settings.metrics.pushgateway == "https://ops:pw@pushgateway.example:9091"
    assert settings.metrics.file == tmp_path / "night.prom"
    assert settings.metrics.job == "report-exporter"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REPORT_EXPORTER_PUSHGATEWAY": "pushgateway:9091"}, "must be an http:// or https:// URL"),
        ({"REPORT_EXPORTER_METRICS_FILE": "/var/lib/node-exporter/night.txt"}, "must end in .prom"),
    ],
)
def test_a_bad_metrics_setting_names_its_key(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        load_settings(environ=env)
    assert "metrics." in str(raised.value) and next(iter(env)) in str(raised.value)
