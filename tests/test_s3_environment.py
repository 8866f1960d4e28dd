"""The standard AWS variables people already set reach the S3 client: a setting of ours that the user set wins,
then the AWS variable, then our default. Asserted on the client's effective config, against moto."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from exporter.archive.s3store import S3Store
from exporter.config import load_settings
from exporter.errors import ConfigError
from tests.archive_helpers import BUCKET, moto_s3


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    with moto_s3(monkeypatch, tmp_path):
        yield


def store(config_file: dict[str, Any] | None = None) -> S3Store:
    """A store from the settings as the CLI loads them: file (if any), then the real environment."""
    archive = {"destination": f"s3://{BUCKET}/nightly", **(config_file or {})}
    flags = {f"archive.{key}": value for key, value in archive.items()}
    return S3Store(load_settings(flags=flags).archive)


def config_of(built: S3Store) -> Any:
    return built._client.meta.config


# ---- checksums: no setting of ours; the variable wins over the Swift-safe default ---------------------------------


def test_without_variables_checksums_are_computed_only_when_required() -> None:
    config = config_of(store())
    assert (config.request_checksum_calculation, config.response_checksum_validation) == (
        "when_required", "when_required"
    )  # fmt: skip


@pytest.mark.parametrize("variable", ["AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_RESPONSE_CHECKSUM_VALIDATION"])
def test_a_checksum_variable_wins_over_the_default(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "WHEN_SUPPORTED")
    config = config_of(store())
    attribute = variable.removeprefix("AWS_").lower()
    assert getattr(config, attribute) == "when_supported"
    other = {"request_checksum_calculation", "response_checksum_validation"} - {attribute}
    assert getattr(config, other.pop()) == "when_required"


def test_a_checksum_variable_with_another_value_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "always")
    with pytest.raises(ConfigError, match="AWS_REQUEST_CHECKSUM_CALCULATION is 'always': use one of when_supported"):
        store()


# ---- retries: archive.retry_mode / max_attempts when set, else AWS_RETRY_MODE / AWS_MAX_ATTEMPTS ------------------


def test_without_variables_the_retry_defaults_hold() -> None:
    assert config_of(store()).retries == {"mode": "standard", "total_max_attempts": 8}


def test_retry_variables_win_over_our_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    assert config_of(store()).retries == {"mode": "adaptive", "total_max_attempts": 3}


def test_retry_settings_given_in_the_config_win_over_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    explicit = store({"retry_mode": "legacy", "max_attempts": 8})
    assert config_of(explicit).retries == {"mode": "legacy", "total_max_attempts": 8}, "8 given, though the default"
    only_mode = store({"retry_mode": "standard"})
    assert config_of(only_mode).retries == {"mode": "standard", "total_max_attempts": 3}


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [("AWS_RETRY_MODE", "fast", "AWS_RETRY_MODE is 'fast': use one of legacy, standard, adaptive"),
     ("AWS_MAX_ATTEMPTS", "0", "AWS_MAX_ATTEMPTS is '0': give a whole number, 1 or more"),
     ("AWS_MAX_ATTEMPTS", "many", "AWS_MAX_ATTEMPTS is 'many': give a whole number, 1 or more")],
)  # fmt: skip
def test_a_retry_variable_botocore_would_refuse_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        store()
    assert str(refused.value) == f"environment variable {expected}"


# ---- region: AWS_REGION beside AWS_DEFAULT_REGION -----------------------------------------------------------------


def test_aws_default_region_alone_is_the_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert store()._client.meta.region_name == "eu-west-1"


def test_aws_region_alone_is_the_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    assert store()._client.meta.region_name == "eu-north-1"


def test_aws_region_wins_over_aws_default_region_as_in_botocore(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    built = store()
    assert built._client.meta.region_name == "eu-north-1"
    assert config_of(built).region_name == "eu-north-1"


# ---- addressing: path-style (the default) and virtual-hosted both work ------------------------------------------


@pytest.mark.parametrize(
    ("style", "url_start"),
    [("path", f"https://s3.amazonaws.com/{BUCKET}/nightly/"),
     ("virtual", f"https://{BUCKET}.s3.amazonaws.com/nightly/")],
)  # fmt: skip
def test_both_addressing_styles_round_trip(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, style: str, url_start: str
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    built = store({"addressing_style": style, "max_attempts": 1})
    assert config_of(built).s3 == {"addressing_style": style}
    sent: list[str] = []
    built._client.meta.events.register("before-send.s3", lambda request, **_: sent.append(request.url))
    source = tmp_path / "report.jsonl.gz"
    source.write_bytes(b"x" * 1000)
    built.put_file(source, "prod/runs/report.jsonl.gz")
    built.get_file("prod/runs/report.jsonl.gz", tmp_path / "back")
    assert [item.key for item in built.list("prod/")] == ["prod/runs/report.jsonl.gz"]
    assert (tmp_path / "back").read_bytes() == source.read_bytes()
    objects = [url for url in sent if "report.jsonl.gz" in url]
    assert objects and all(url.startswith(url_start) for url in objects), objects
