"""One typed settings object, from a YAML file, the environment and flags, validated up front.

Precedence: flags win over the environment, the environment over the file, the file over the defaults. Every
setting has a dotted YAML key; `ENVIRONMENT` maps the environment variables users and the CronJob set. A bad value
is reported with its key and where it came from, before anything touches the cluster.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from exporter import catalog, selectors
from exporter.errors import ConfigError

CONFIG_ENV = "REPORT_EXPORTER_CONFIG"


class LogFormat(StrEnum):
    AUTO = "auto"
    RICH = "rich"
    JSON = "json"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KubeSettings(_Section):
    """How the getter reaches the Kubernetes API."""

    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool | None = Field(
        default=None,
        description="force in-cluster (true) or kubeconfig (false); unset: in-cluster when inside a pod",
    )
    page_size: int = Field(default=500, ge=1, le=10_000)
    request_timeout: float = Field(default=60.0, gt=0)
    retries: int = Field(default=6, ge=0, le=20)
    backoff_factor: float = Field(default=0.5, ge=0)
    fetch_concurrency: int = Field(
        default=4, ge=1, le=32, description="parallel GETs for kinds whose list omits the report"
    )
    max_list_restarts: int = Field(default=3, ge=0, le=10)


class FilterSettings(_Section):
    """Which kinds, namespaces and labels a run covers."""

    kinds: tuple[str, ...] = ()
    exclude_kinds: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    exclude_namespaces: tuple[str, ...] = ()
    label_selector: str = ""

    @field_validator("kinds", "exclude_kinds")
    @classmethod
    def _known_kinds(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            catalog.resolve(name)
        return names

    @field_validator("label_selector")
    @classmethod
    def _valid_selector(cls, selector: str) -> str:
        selectors.parse(selector)
        return selector


class AddressingStyle(StrEnum):
    PATH = "path"
    VIRTUAL = "virtual"
    AUTO = "auto"


class RetentionSettings(_Section):
    """Which archived runs of this cluster to keep (restic's `forget` semantics); unset keeps everything."""

    keep_last: int | None = Field(default=None, ge=0)
    keep_daily: int | None = Field(default=None, ge=0)
    keep_weekly: int | None = Field(default=None, ge=0)
    keep_monthly: int | None = Field(default=None, ge=0)
    keep_yearly: int | None = Field(default=None, ge=0)
    keep_within: str | None = Field(default=None, pattern=r"^(\d+[ymwdh])+$", description="e.g. 30d, 1y6m, 2w")
    incomplete_grace: str = Field(
        default="2d", pattern=r"^(\d+[ymwdh])+$", description="runs without manifest older than this are deleted"
    )


class ArchiveSettings(_Section):
    """Where runs are archived: `s3://bucket/prefix` (any S3-compatible store) or `file:///path`."""

    destination: str | None = Field(default=None, pattern=r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?|file://.+)$")
    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: AddressingStyle = AddressingStyle.PATH
    signature_version: str = "s3v4"
    ca_bundle: Path | None = None
    insecure: bool = False
    access_key_file: Path | None = None
    secret_key_file: Path | None = None
    create_bucket: bool = False
    multipart_threshold: int = Field(default=64 * 1024 * 1024, ge=5 * 1024 * 1024)
    multipart_chunksize: int = Field(default=16 * 1024 * 1024, ge=5 * 1024 * 1024)
    max_concurrency: int = Field(default=4, ge=1, le=64)
    max_attempts: int = Field(default=8, ge=1, le=30)
    retry_mode: str = Field(default="standard", pattern=r"^(standard|adaptive|legacy)$")
    retention: RetentionSettings = RetentionSettings()


class DojoSettings(_Section):
    """DefectDojo: where findings go. No `url`: DefectDojo is off and runs are only archived."""

    url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    ca_bundle: Path | None = None
    verify_tls: bool = True
    timeout: float = Field(default=300.0, gt=0, description="seconds per request; imports of large files are slow")
    connect_timeout: float = Field(
        default=10.0, gt=0, description="seconds to open a connection: a DefectDojo that drops packets fails fast"
    )
    retries: int = Field(default=5, ge=0, le=20)
    backoff_factor: float = Field(default=1.0, ge=0)
    concurrency: int = Field(default=2, ge=1, le=16)
    product_type: str = "Kubernetes"
    product: str = "{cluster}"
    engagement: str = "{scanner}"
    test: str = "{family} {scope}"
    auto_create_context: bool = True
    minimum_severity: str = Field(default="Info", pattern=r"^(Info|Low|Medium|High|Critical)$")
    trivy_fixed_version: str = Field(
        default="description",
        pattern=r"^(description|references)$",
        description="where a Trivy vulnerability's fixed version goes: the parser's hashed description (upstream), "
        "or the references, so a fix published upstream does not re-create the finding",
    )
    max_document_bytes: int = Field(
        default=90 * 1024 * 1024, ge=1024, description="below DefectDojo's default upload limit of 100 MB"
    )
    max_close_share: float = Field(
        default=0.5, ge=0, le=1, description="hold a test whose reimport would close more than this share of it"
    )
    mass_close_min: int = Field(
        default=5, ge=1, description="closing fewer findings than this is never held (1 of 1 fixed goes through)"
    )
    allow_mass_close: bool = Field(default=False, description="send tests the mass-close valve would hold")
    max_connection_failures: int = Field(
        default=3, ge=1, le=100, description="consecutive failed calls (after retries) that end the night's sync"
    )

    @field_validator("product", "engagement", "test", "product_type")
    @classmethod
    def _known_placeholders(cls, template: str) -> str:
        try:
            template.format(cluster="c", scanner="s", family="f", scope="n")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"unknown placeholder {exc}; use {{cluster}}, {{scanner}}, {{family}}, {{scope}}"
            ) from None
        return template


class Settings(_Section):
    """Everything a run needs to know, checked before it starts."""

    cluster: str = Field(default="default", pattern=r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$")
    log_format: LogFormat = LogFormat.AUTO
    strict: bool = Field(
        default=False, description="count objects missing an optional part (status, report) as malformed: exit 3"
    )
    kube: KubeSettings = KubeSettings()
    filters: FilterSettings = FilterSettings()
    archive: ArchiveSettings = ArchiveSettings()
    dojo: DojoSettings = DojoSettings()


def _split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


# environment variable -> (dotted key, parser). Lists are comma-separated.
ENVIRONMENT: dict[str, tuple[str, Any]] = {
    "REPORT_EXPORTER_CLUSTER": ("cluster", str),
    "REPORT_EXPORTER_LOG_FORMAT": ("log_format", str),
    "REPORT_EXPORTER_STRICT": ("strict", str),
    "KUBECONFIG": ("kube.kubeconfig", str),
    "REPORT_EXPORTER_KUBE_CONTEXT": ("kube.context", str),
    "REPORT_EXPORTER_PAGE_SIZE": ("kube.page_size", str),
    "REPORT_EXPORTER_REQUEST_TIMEOUT": ("kube.request_timeout", str),
    "REPORT_EXPORTER_FETCH_CONCURRENCY": ("kube.fetch_concurrency", str),
    "REPORT_EXPORTER_KINDS": ("filters.kinds", _split_list),
    "REPORT_EXPORTER_EXCLUDE_KINDS": ("filters.exclude_kinds", _split_list),
    "REPORT_EXPORTER_NAMESPACES": ("filters.namespaces", _split_list),
    "REPORT_EXPORTER_EXCLUDE_NAMESPACES": ("filters.exclude_namespaces", _split_list),
    "REPORT_EXPORTER_LABEL_SELECTOR": ("filters.label_selector", str),
    "REPORT_EXPORTER_ARCHIVE": ("archive.destination", str),
    "AWS_ENDPOINT_URL_S3": ("archive.endpoint_url", str),
    "AWS_DEFAULT_REGION": ("archive.region", str),
    "AWS_CA_BUNDLE": ("archive.ca_bundle", str),
    "REPORT_EXPORTER_S3_INSECURE": ("archive.insecure", str),
    "REPORT_EXPORTER_S3_ACCESS_KEY_FILE": ("archive.access_key_file", str),
    "REPORT_EXPORTER_S3_SECRET_KEY_FILE": ("archive.secret_key_file", str),
    "REPORT_EXPORTER_CREATE_BUCKET": ("archive.create_bucket", str),
    "DD_URL": ("dojo.url", str),
    "DD_API_KEY": ("dojo.api_key", str),
    "REPORT_EXPORTER_DD_API_KEY_FILE": ("dojo.api_key_file", str),
    "REPORT_EXPORTER_DD_CA_BUNDLE": ("dojo.ca_bundle", str),
    "REPORT_EXPORTER_DD_TRIVY_FIXED_VERSION": ("dojo.trivy_fixed_version", str),
    "REPORT_EXPORTER_DD_MAX_CLOSE_SHARE": ("dojo.max_close_share", str),
    "REPORT_EXPORTER_DD_MASS_CLOSE_MIN": ("dojo.mass_close_min", str),
    "REPORT_EXPORTER_DD_ALLOW_MASS_CLOSE": ("dojo.allow_mass_close", str),
    "REPORT_EXPORTER_DD_MAX_CONNECTION_FAILURES": ("dojo.max_connection_failures", str),
}


def load_settings(
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge defaults, file, environment and flags (dotted keys, None = not given) and validate the result."""
    env = os.environ if environ is None else environ
    origins: dict[str, str] = {}
    merged: dict[str, Any] = {}
    path = config_file or (Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None)
    if path is not None:
        for key, value in _flatten(_read_yaml(path)).items():
            _assign(merged, origins, key, value, f"config file {path}")
    for name, (key, parse) in ENVIRONMENT.items():
        if env.get(name):
            _assign(merged, origins, key, parse(env[name]), f"environment variable {name}")
    for key, value in (flags or {}).items():
        if value is not None:
            _assign(merged, origins, key, value, "command line")
    try:
        return Settings.model_validate(_nest(merged))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origins)) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {_one_line(str(exc))}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings, not {type(document).__name__}")
    return document


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def _assign(merged: dict[str, Any], origins: dict[str, str], key: str, value: Any, origin: str) -> None:
    merged[key] = value
    origins[key] = origin


def _describe(exc: ValidationError, origins: Mapping[str, str]) -> str:
    """One line per problem, each naming the dotted key and where its value came from."""
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        origin = origins.get(key, "default")
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling; see docs/configuration.md)"
        elif error["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        lines.append(f"setting {key!r} ({origin}): {message}")
    return "; ".join(lines)


def _one_line(text: str) -> str:
    return " ".join(text.split())
