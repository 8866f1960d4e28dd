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
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from exporter import catalog, selectors
from exporter.dojo import names
from exporter.errors import ConfigError

CONFIG_ENV = "REPORT_EXPORTER_CONFIG"


class LogFormat(StrEnum):
    AUTO = "auto"
    RICH = "rich"
    JSON = "json"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    def origin(self, key: str) -> str:
        """Where this section's setting `key` came from, as errors name it: "command line", "environment variable
        KUBECONFIG", "config file /etc/x.yaml" or "default"; so a part that uses a value can blame its source."""
        return self._origins.get(key, "default")


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
    def _known_placeholders(cls, template: str, info: ValidationInfo) -> str:
        return names.check_template(template, str(info.field_name))


class MetricsSettings(_Section):
    """Where the night's Prometheus metrics go (exporter/metrics.py): a Pushgateway, a textfile, both, or nowhere."""

    pushgateway: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
        description="Pushgateway URL; may carry user:password@",
    )
    job: str = Field(default="report-exporter", min_length=1, description="the Pushgateway group's job label")
    file: Path | None = Field(default=None, description="a *.prom file in node-exporter's textfile directory")
    timeout: float = Field(default=10.0, gt=0, le=300, description="seconds for a push")

    @field_validator("file")
    @classmethod
    def _prom_file(cls, path: Path | None) -> Path | None:
        if path is not None and path.suffix != ".prom":
            raise ValueError("must end in .prom: node-exporter's textfile collector reads no other file")
        return path


class Settings(_Section):
    """Everything a run needs to know, checked before it starts."""

    cluster: str = Field(default="default", pattern=r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$")
    log_format: LogFormat = LogFormat.AUTO
    strict: bool = Field(
        default=False, description="count objects missing an optional part (status, report) as malformed: exit 3"
    )
    mask_secrets: bool = Field(
        default=True, description="mask exposed secrets the scanner did not censor, before writing (secretmask.py)"
    )
    kube: KubeSettings = KubeSettings()
    filters: FilterSettings = FilterSettings()
    archive: ArchiveSettings = ArchiveSettings()
    dojo: DojoSettings = DojoSettings()
    metrics: MetricsSettings = MetricsSettings()


def _split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


# environment variable -> (dotted key, parser). Lists are comma-separated.
ENVIRONMENT: dict[str, tuple[str, Any]] = {
    "REPORT_EXPORTER_CLUSTER": ("cluster", str),
    "REPORT_EXPORTER_LOG_FORMAT": ("log_format", str),
    "REPORT_EXPORTER_STRICT": ("strict", str),
    "REPORT_EXPORTER_MASK_SECRETS": ("mask_secrets", str),
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
    "REPORT_EXPORTER_PUSHGATEWAY": ("metrics.pushgateway", str),
    "REPORT_EXPORTER_METRICS_FILE": ("metrics.file", str),
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
        named_by = "--config" if config_file else CONFIG_ENV
        for key, value in _flatten(_read_yaml(path, named_by)).items():
            _assign(merged, origins, key, value, f"config file {path}")
    for name, (key, parse) in ENVIRONMENT.items():
        if env.get(name):
            _assign(merged, origins, key, parse(env[name]), f"environment variable {name}")
    for key, value in (flags or {}).items():
        if value is not None:
            _assign(merged, origins, key, value, "command line")
    try:
        settings = Settings.model_validate(_nest(merged, origins))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origins)) from None
    _record_origins(settings, origins)
    return settings


def _record_origins(section: _Section, origins: Mapping[str, str], prefix: str = "") -> None:
    """Give each section the origins of its own keys (`_Section.origin`); sections nothing set keep none."""
    own = {key.removeprefix(prefix): origin for key, origin in origins.items() if key.startswith(prefix)}
    if not own:
        return  # possibly the shared default instance: leave it untouched
    section._origins = own
    for name in type(section).model_fields:
        value = getattr(section, name)
        if isinstance(value, _Section):
            _record_origins(value, origins, f"{prefix}{name}.")


def _read_yaml(path: Path, named_by: str) -> dict[str, Any]:
    """The file's settings; errors say whether --config or REPORT_EXPORTER_CONFIG named the file."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path} (from {named_by}): {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} (from {named_by}) is not valid YAML: {_one_line(str(exc))}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(
            f"config file {path} (from {named_by}) must hold a mapping of settings, not {type(document).__name__}"
        )
    return document


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys; an empty mapping stays a value, so `dojo: {prodcut: {}}` is still seen as an unknown key."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{dotted}."))
        else:
            flat[dotted] = {} if isinstance(value, Mapping) else value
    return flat


def _nest(flat: Mapping[str, Any], origins: Mapping[str, str]) -> dict[str, Any]:
    """The dotted keys as a tree; a section the file set to a value (`kube:` left empty, `dojo: 5`) while another
    source sets a key in it is a ConfigError naming the section, not a TypeError."""
    tree: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for depth, part in enumerate(parents):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                section = ".".join(parents[: depth + 1])
                shown = "null" if node is None else type(node).__name__
                raise ConfigError(
                    f"setting {section!r} ({_origin(section, origins)}): must be a mapping of settings, not {shown} "
                    f"(setting {dotted!r} needs it)"
                )
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
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling; see docs/configuration.md)"
        elif error["type"] == "value_error":
            message = message.removeprefix("Value error, ")
        elif error["type"] == "string_pattern_mismatch" and key in _PATTERNS_IN_WORDS:
            message = _PATTERNS_IN_WORDS[key]
        lines.append(f"setting {key!r} ({_origin(key, origins)}): {message}")
    return "; ".join(lines)


_PATTERNS_IN_WORDS = {
    "cluster": "must be a DNS label: up to 63 lowercase letters, digits, '-' and '.', starting and ending with a "
    "letter or digit",
    "archive.destination": "must be s3://bucket/prefix or file:///path (a bucket name is 3 to 63 lowercase letters, "
    "digits, '.' and '-')",
    "archive.retention.keep_within": "must be a duration such as 30d, 2w, 1y6m or 12h",
    "archive.retention.incomplete_grace": "must be a duration such as 2d, 12h or 1w",
    "archive.retry_mode": "must be standard, adaptive or legacy",
    "dojo.url": "must be an http:// or https:// URL without spaces",
    "dojo.minimum_severity": "must be Info, Low, Medium, High or Critical",
    "dojo.trivy_fixed_version": "must be description or references",
    "metrics.pushgateway": "must be an http:// or https:// URL of the Pushgateway without spaces, e.g. "
    "http://pushgateway.monitoring:9091",
}
"""What a pattern-checked setting accepts, in words: pydantic's message would show the regular expression."""


def _origin(key: str, origins: Mapping[str, str]) -> str:
    """Where `key` came from: its own entry; for an unknown section or a key whose value is a mapping, the entry of
    a key below it (the file set it); for an item of a list, the setting that holds it."""
    if key in origins:
        return origins[key]
    below = next((origin for dotted, origin in origins.items() if dotted.startswith(f"{key}.")), None)
    if below is not None:
        return below
    parts = key.split(".")
    holders = (".".join(parts[:end]) for end in range(len(parts) - 1, 0, -1))
    return next((origins[holder] for holder in holders if holder in origins), "default")


def _one_line(text: str) -> str:
    return " ".join(text.split())
