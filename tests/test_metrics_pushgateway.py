"""exporter/metrics.py against a real Pushgateway on loopback (Debian's prometheus-pushgateway; see
tests/metrics_services.py): grouping per cluster, the last complete night surviving the nights between, a gateway
that is down or refuses, and credentials that never reach the log."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from exporter.config import Settings
from exporter.metrics import LAST_COMPLETE_NIGHT, MetricsError, night_registry, publish, push
from exporter.progress import JsonReporter
from tests.metrics_services import Pushgateway, free_port, start_pushgateway
from tests.night_summaries import COMPLETE_FINISHED, complete_night, failed_night, partial_night
from tests.test_metrics import Samples, samples, value

USER, PASSWORD = "night-pusher", "s3cr3t-night"
# bcrypt of PASSWORD (cost 4, made once with Python's crypt module): exporter-toolkit's basic_auth_users format
PASSWORD_HASH = "$2b$04$vhSJlS9pGfa6qQNntqHNculTMZ7dPO9BPDXaduQTvsfWiystKCQue"


@pytest.fixture(scope="session")
def gateway_service() -> Iterator[Pushgateway]:
    yield from start_pushgateway()


@pytest.fixture
def gateway(gateway_service: Pushgateway) -> Pushgateway:
    gateway_service.wipe()
    return gateway_service


@pytest.fixture(scope="session")
def gateway_with_auth() -> Iterator[Pushgateway]:
    yield from start_pushgateway(web_config=f"basic_auth_users:\n  {USER}: '{PASSWORD_HASH}'\n")


def scraped(gateway: Pushgateway) -> Samples:
    """What Prometheus scrapes from the gateway (honor_labels: the pushed job and cluster), ours only."""
    return {key: found for key, found in samples(gateway.get("/metrics")).items() if key[0].startswith("report_")}


def gateway_value(found: Samples, name: str, cluster: str = "prod-eu-1", **labels: str) -> float:
    return value(found, name, cluster, job="report-exporter", instance="", **labels)


def published(settings: Settings, summary: dict[str, Any]) -> list[dict[str, Any]]:
    stream = io.StringIO()
    publish(settings, summary, JsonReporter(stream))
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_two_clusters_keep_their_own_groups(gateway: Pushgateway, settings_with: Callable[..., Settings]) -> None:
    settings = settings_with(metrics__pushgateway=gateway.url)
    assert [line["event"] for line in published(settings, complete_night("prod-eu-1"))] == ["metrics_pushed"]
    published(settings, partial_night("staging"))
    groups = {(group["labels"]["job"], group["labels"]["cluster"]) for group in gateway.groups()}
    assert groups == {("report-exporter", "prod-eu-1"), ("report-exporter", "staging")}
    found = scraped(gateway)
    assert gateway_value(found, "report_exporter_night_outcome", "prod-eu-1", outcome="complete") == 1
    assert gateway_value(found, "report_exporter_night_outcome", "staging", outcome="partial") == 1
    assert gateway_value(found, LAST_COMPLETE_NIGHT, "prod-eu-1") == COMPLETE_FINISHED
    assert not any(key[0] == LAST_COMPLETE_NIGHT and ("cluster", "staging") in key[1] for key in found)


@pytest.mark.parametrize("later", [partial_night, failed_night])
def test_a_night_that_is_not_complete_keeps_the_last_complete_night_in_the_gateway(
    gateway: Pushgateway, settings_with: Callable[..., Settings], later: Callable[[], dict[str, Any]]
) -> None:
    settings = settings_with(metrics__pushgateway=gateway.url)
    published(settings, complete_night())
    published(settings, later())
    found = scraped(gateway)
    assert gateway_value(found, LAST_COMPLETE_NIGHT) == COMPLETE_FINISHED
    assert gateway_value(found, "report_exporter_night_outcome", outcome="complete") == 0
    assert gateway_value(found, "report_exporter_night_outcome", outcome=later()["outcome"]) == 1


def test_a_failed_night_replaces_the_numbers_it_did_not_measure(
    gateway: Pushgateway, settings_with: Callable[..., Settings]
) -> None:
    """Yesterday's new Critical findings must not stand as tonight's when tonight imported nothing."""
    settings = settings_with(metrics__pushgateway=gateway.url)
    published(settings, complete_night())
    published(settings, failed_night())
    found = scraped(gateway)
    assert math.isnan(gateway_value(found, "report_exporter_findings", severity="critical", state="new"))
    assert math.isnan(gateway_value(found, "report_exporter_archived_bytes"))
    assert not any(("stage", "dojo") in key[1] for key in found)  # only the stages the night ran
    assert gateway_value(found, "report_exporter_stage_outcome", stage="get", outcome="failed") == 1


def test_a_gateway_that_is_down_is_one_warning(settings_with: Callable[..., Settings], tmp_path: Any) -> None:
    path = tmp_path / "report_exporter.prom"
    down = f"http://127.0.0.1:{free_port()}"
    lines = published(settings_with(metrics__pushgateway=down, metrics__file=str(path)), complete_night())
    assert [(line["level"], line["event"]) for line in lines] == [
        ("warning", "metrics_push_failed"),
        ("info", "metrics_written"),  # the file does not depend on the gateway
    ]
    assert down in lines[0]["message"] and "unaffected" in lines[0]["message"]
    assert path.exists()


def test_basic_auth_from_the_url_is_sent_and_never_shown(
    gateway_with_auth: Pushgateway, settings_with: Callable[..., Settings]
) -> None:
    host = gateway_with_auth.url.removeprefix("http://")
    lines = published(settings_with(metrics__pushgateway=f"http://{USER}:{PASSWORD}@{host}"), complete_night())
    assert [line["event"] for line in lines] == ["metrics_pushed"]
    assert PASSWORD not in json.dumps(lines) and f"{USER}:***@" in lines[0]["message"]

    refused = published(settings_with(metrics__pushgateway=f"http://{USER}:wrong-{PASSWORD}@{host}"), complete_night())
    assert [(line["level"], line["event"]) for line in refused] == [("warning", "metrics_push_failed")]
    assert "401" in refused[0]["message"] and PASSWORD not in json.dumps(refused)


def test_push_names_the_gateway_without_its_password() -> None:
    with pytest.raises(MetricsError) as raised:
        push(night_registry(complete_night()), f"http://ops:{PASSWORD}@127.0.0.1:{free_port()}", job="j", cluster="c")
    assert PASSWORD not in str(raised.value)
