"""The S3 client an archive talks through: endpoint, credentials, region, TLS and botocore settings.

Written for the oldest store our users run, Swift 2.33 (OpenStack 2024.1), so it also works on the newer ones:

* boto3 >= 1.36 sends checksums (aws-chunked bodies with CRC32 trailers over https) that Swift < 2.35.1 answers
  with 501, so the client computes checksums only when an operation requires them (`when_required`);
* old Swift demands Content-MD5 on DeleteObjects, which boto3 no longer sends, so a hook adds it;
* a request signed for the wrong region gets 400 AuthorizationHeaderMalformed, which boto3 silently re-signs and
  retries (every call then costs two requests); a hook turns it into a clear error instead.

`S3Connection` also owns what every operation shares: the destination's keys and URLs, and turning a boto3
failure into one ArchiveError line that never contains a secret (known secret values are masked as a last line
of defence).

The standard AWS variables people already set are honoured (`_client_config`): AWS_REGION beside
AWS_DEFAULT_REGION, AWS_RETRY_MODE, AWS_MAX_ATTEMPTS, AWS_REQUEST_CHECKSUM_CALCULATION and
AWS_RESPONSE_CHECKSUM_VALIDATION. botocore reads most of them itself, but only for what a client's Config leaves
unset, and ours sets everything; so they are read here, when the client is built.
"""

from __future__ import annotations

import base64
import hashlib
import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boto3.session import Session
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from exporter.archive import s3errors
from exporter.config import ArchiveSettings
from exporter.errors import ArchiveError, ConfigError, MissingObjectError
from exporter.redact import redact_url, redact_urls

CONNECT_TIMEOUT = 10.0  # seconds; a store that does not accept a connection by then is not coming back soon
READ_TIMEOUT = 120.0  # seconds of silence on an open connection, generous for a slow store assembling a part
CHECKSUM_DEFAULT = "when_required"  # Swift < 2.35.1 answers 501 to the checksums boto3 >= 1.36 sends by default
_CHECKSUM_CHOICES = ("when_supported", "when_required")
_RETRY_MODES = ("legacy", "standard", "adaptive")


class InsecureArchiveWarning(UserWarning):
    """Issued when a store is built with `archive.insecure`: nothing proves the store is the one configured."""


@dataclass(frozen=True)
class S3Destination:
    """`s3://bucket/prefix` split up; `prefix` is empty or ends with one slash, so keys append to it."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Destination:
        """Split the URL; ConfigError (exit 2) for a prefix with an empty, `.` or `..` segment or a backslash.

        S3 keys are plain strings, but stores and tools do not all agree: a proxy or Swift's WSGI stack may
        normalise `a/../b` in the request path, and a sync to disk would write `..` where it leads. A prefix that
        means something else to someone else is refused rather than guessed at. One trailing slash is allowed.
        """
        if not url.startswith("s3://"):
            raise ArchiveError(f"archive destination {url!r} is not of the form s3://bucket/prefix")
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ArchiveError(f"archive destination {url!r} names no bucket: use s3://bucket/prefix")
        prefix = prefix.removesuffix("/")
        if prefix and ("\\" in prefix or any(part in ("", ".", "..") for part in prefix.split("/"))):
            raise ConfigError(
                f"setting archive.destination {url!r}: the prefix {prefix!r} has an empty, '.' or '..' segment or a "
                "backslash; write it as s3://bucket/a/b"
            )
        return cls(bucket, f"{prefix}/" if prefix else "")


class S3Connection:
    """A boto3 client for one destination, with the hooks old Swift needs; nothing is sent until the first call."""

    def __init__(self, settings: ArchiveSettings) -> None:
        """An `insecure` connection issues InsecureArchiveWarning and keeps the same text in `warning`."""
        if not settings.destination:
            raise ArchiveError("no archive destination: set REPORT_EXPORTER_ARCHIVE to s3://bucket/prefix")
        self.url: str = settings.destination
        self.where = S3Destination.parse(self.url)
        self.warning: str | None = None
        self._file_secrets: tuple[str, ...] = ()
        self._session = Session()
        try:
            self.client: Any = self._session.client(
                "s3",
                endpoint_url=settings.endpoint_url,
                verify=self._verify_option(settings),
                config=_client_config(settings),
                **self._file_credentials(settings),
            )
        except ValueError as exc:  # botocore's "Invalid endpoint: <the URL, password and all>", a bad region
            raise ConfigError(
                f"the S3 client refuses the settings: {redact_urls(str(exc))}; check archive.endpoint_url "
                "(AWS_ENDPOINT_URL_S3) and archive.region (AWS_DEFAULT_REGION)"
            ) from None
        self.client.meta.events.register("before-sign.s3.DeleteObjects", _add_content_md5)
        self.client.meta.events.register_first("needs-retry.s3", self._refuse_region_redirect)
        self.endpoint: str = redact_url(self.client.meta.endpoint_url)  # shown in messages: no password

    def key(self, key: str) -> str:
        """The full object key of an archive key: the destination's prefix applied. A key that could mean another
        place to a store or tool that normalises paths (see S3Destination.parse) is refused, as FileStore does."""
        if not key or key.startswith("/") or "\\" in key or any(part in (".", "..") for part in key.split("/")):
            raise ArchiveError(f"invalid archive key {key!r}: keys are relative to {self.url}")
        return self.where.prefix + key

    def object_url(self, key: str) -> str:
        return f"s3://{self.where.bucket}/{self.where.prefix}{key}"

    @contextmanager
    def errors(self, action: str, *, key: str | None = None) -> Iterator[None]:
        """Turn whatever boto3 raises into one ArchiveError line; the original stays as __cause__ for debugging."""
        try:
            yield
        except ArchiveError:
            raise
        except s3errors.S3_FAILURES as exc:
            cause = s3errors.explain(
                exc,
                endpoint=self.endpoint,
                region=self.client.meta.region_name,
                bucket=self.where.bucket,
                object_url=None if key is None else self.object_url(key),
            )
            missing = key is not None and s3errors.is_missing_object(exc)
            raise (MissingObjectError if missing else ArchiveError)(self.redact(f"cannot {action}: {cause}")) from exc

    def redact(self, text: str) -> str:
        """Mask the secret key and session token wherever a server or library echoed them."""
        for secret in self._secrets():
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return s3errors.one_line(redact_urls(text))  # botocore quotes the endpoint URL, userinfo and all

    # ---- construction -------------------------------------------------------------------------------------

    def _verify_option(self, settings: ArchiveSettings) -> bool | str | None:
        """TLS verification: off only when asked, loudly; a CA bundle must exist now, not at the first request."""
        if settings.insecure:
            self.warning = (
                f"archive.insecure is set: TLS certificates of the S3 store for {self.url} are NOT verified, so "
                "anyone on the network path can read or change the archive; set AWS_CA_BUNDLE instead"
            )
            # stacklevel 4 points past this method, S3Connection() and S3Store() at the code that built the store
            warnings.warn(self.warning, InsecureArchiveWarning, stacklevel=4)
            return False
        if settings.ca_bundle is None:
            return None
        if not Path(settings.ca_bundle).is_file():
            raise ArchiveError(f"CA bundle {settings.ca_bundle} (archive.ca_bundle / AWS_CA_BUNDLE) is not a file")
        return str(settings.ca_bundle)

    def _file_credentials(self, settings: ArchiveSettings) -> dict[str, str]:
        """Keys from mounted files win over boto3's chain (environment, profiles, instance roles)."""
        access_file, secret_file = settings.access_key_file, settings.secret_key_file
        if access_file is None and secret_file is None:
            return {}
        if access_file is None or secret_file is None:
            raise ArchiveError("set both archive.access_key_file and archive.secret_key_file, or neither")
        access = _read_secret_file(Path(access_file), "archive.access_key_file")
        secret = _read_secret_file(Path(secret_file), "archive.secret_key_file")
        self._file_secrets = (secret,)
        return {"aws_access_key_id": access, "aws_secret_access_key": secret}

    def _refuse_region_redirect(self, response: Any = None, **_: Any) -> None:
        """needs-retry hook: fail on a region mismatch rather than let boto3 re-sign and retry every call."""
        if not response:
            return
        http, parsed = response
        error = parsed.get("Error", {}) if isinstance(parsed, dict) else {}
        expected = error.get("Region") or http.headers.get("x-amz-bucket-region")
        region_error = error.get("Code") in s3errors.REGION_CODES or http.status_code == 301
        if region_error and expected and expected != self.client.meta.region_name:
            raise s3errors.RegionMismatchError(str(expected))

    def _secrets(self) -> tuple[str, ...]:
        if self._file_secrets:
            return self._file_secrets
        try:
            credentials = self._session.get_credentials()
            frozen = credentials.get_frozen_credentials() if credentials is not None else None
        except BotoCoreError:
            return ()
        if frozen is None:
            return ()
        return tuple(value for value in (frozen.secret_key, frozen.token) if value)


def content_md5(body: bytes) -> str:
    """The Content-MD5 header of a body: base64 of the binary MD5."""
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode("ascii")


def _add_content_md5(request: Any, **_: Any) -> None:
    """before-sign hook for DeleteObjects: Swift < 2.35 refuses it without Content-MD5, which boto3 stopped sending."""
    if "Content-MD5" in request.headers:
        return
    body = request.body or b""
    request.headers["Content-MD5"] = content_md5(body.encode("utf-8") if isinstance(body, str) else bytes(body))


def _client_config(settings: ArchiveSettings, environ: Mapping[str, str] | None = None) -> Config:
    """botocore settings that hold for every S3-compatible store we know, old Swift included.

    For each standard AWS variable: a value the user set in our settings (config file, flag, or our own variable)
    wins, then the AWS variable, then our default; `settings.model_fields_set` tells a set value from a default.
    botocore itself would let any value in Config win, so passing our defaults would silently hide the variables.

    * AWS_RETRY_MODE, AWS_MAX_ATTEMPTS (total attempts, the first included, as botocore reads it): beneath
      archive.retry_mode / archive.max_attempts when those are set;
    * AWS_REQUEST_CHECKSUM_CALCULATION, AWS_RESPONSE_CHECKSUM_VALIDATION: no setting of ours; `when_required` when
      unset, because old Swift refuses the checksums boto3 sends otherwise;
    * AWS_REGION: see `_region`.

    A variable with a value botocore would refuse is a ConfigError naming it.
    """
    env = os.environ if environ is None else environ
    return Config(
        region_name=_region(settings, env),
        signature_version=settings.signature_version,
        # archive.addressing_style: path (the default, which every store serves), virtual or auto
        s3={"addressing_style": str(settings.addressing_style.value)},
        retries=_retries(settings, env),
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        max_pool_connections=max(10, settings.max_concurrency + 2),
        request_checksum_calculation=_choice(env, "AWS_REQUEST_CHECKSUM_CALCULATION", _CHECKSUM_CHOICES),
        response_checksum_validation=_choice(env, "AWS_RESPONSE_CHECKSUM_VALIDATION", _CHECKSUM_CHOICES),
        user_agent_appid="report-exporter",
    )


def _retries(settings: ArchiveSettings, env: Mapping[str, str]) -> dict[str, Any]:
    """The retry mode and total attempts: archive.retry_mode / max_attempts when set, else AWS_RETRY_MODE /
    AWS_MAX_ATTEMPTS, else our defaults.

    total_max_attempts counts the first try, as archive.max_attempts (>= 1) and AWS_MAX_ATTEMPTS do; botocore's own
    "max_attempts" key of Config counts retries only, one more request than the setting says.
    """
    explicit = settings.model_fields_set
    mode = settings.retry_mode
    if "retry_mode" not in explicit:
        mode = _choice(env, "AWS_RETRY_MODE", _RETRY_MODES, default=settings.retry_mode)
    attempts = settings.max_attempts if "max_attempts" in explicit else _attempts(env, settings.max_attempts)
    return {"mode": mode, "total_max_attempts": attempts}


def _region(settings: ArchiveSettings, env: Mapping[str, str]) -> str | None:
    """AWS_REGION when set, else archive.region (which AWS_DEFAULT_REGION sets), else botocore's own chain.

    botocore's client reads only AWS_DEFAULT_REGION; where botocore reads both (its defaults-mode resolver) AWS_REGION
    wins, as in the other AWS SDKs and the AWS CLI v2. Environment over file is this project's rule, and
    AWS_DEFAULT_REGION already overrides the file's archive.region, so AWS_REGION overrides both.
    """
    return env.get("AWS_REGION") or settings.region


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], *, default: str = CHECKSUM_DEFAULT) -> str:
    """An AWS variable with one of `choices` (any case, as botocore reads it), or `default` when unset or empty."""
    value = env.get(name, "").strip().lower()
    if value and value not in choices:
        raise ConfigError(f"environment variable {name} is {env[name]!r}: use one of {', '.join(choices)}")
    return value or default


def _attempts(env: Mapping[str, str], default: int) -> int:
    """AWS_MAX_ATTEMPTS: total attempts, the first included (botocore's reading), or `default` when unset."""
    value = env.get("AWS_MAX_ATTEMPTS", "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"environment variable AWS_MAX_ATTEMPTS is {value!r}: give a whole number, 1 or more")
    return int(value)


def _read_secret_file(path: Path, setting: str) -> str:
    """A value from a mounted Kubernetes Secret; editors and `echo` leave a trailing newline, so strip it."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ArchiveError(f"cannot read {setting} {path}: {exc.strerror or exc}") from None
    if not value:
        raise ArchiveError(f"{setting} {path} is empty")
    return value
