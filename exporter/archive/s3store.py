"""Archive to S3-compatible object storage: OpenStack Swift's s3api, Ceph RGW, MinIO or AWS.

Written for the oldest store our users run, Swift 2.33 (OpenStack 2024.1), so it also works on the newer ones:

* boto3 >= 1.36 sends checksums (aws-chunked bodies with CRC32 trailers over https) that Swift < 2.35.1 answers
  with 501, so the client computes checksums only when an operation requires them (`when_required`);
* old Swift demands Content-MD5 on DeleteObjects, which boto3 no longer sends, so a hook adds it;
* a DELETE on a bucket sub-resource s3api does not know removes an *empty bucket*, so this module never sends one
  (no lifecycle, tagging, object lock: retention is done by listing and deleting);
* a request signed for the wrong region gets 400 AuthorizationHeaderMalformed, which boto3 silently re-signs and
  retries (every call then costs two requests); a hook turns it into a clear error instead.

Every upload is read back with HEAD and its size and ETag compared with the MD5 computed locally, because some
stores accept bytes they never check. Errors become one-line ArchiveErrors that name the cause, the endpoint and
bucket and what to do, and never contain a secret: known secret values are masked as a last line of defence.
"""

from __future__ import annotations

import base64
import hashlib
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from boto3.session import Session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
    SSLError,
)
from s3transfer.utils import ChunksizeAdjuster

from exporter.archive.store import StoredObject
from exporter.config import ArchiveSettings
from exporter.errors import ArchiveError

CONNECT_TIMEOUT = 10.0  # seconds; a store that does not accept a connection by then is not coming back soon
READ_TIMEOUT = 120.0  # seconds of silence on an open connection, generous for a slow store assembling a part
DELETE_BATCH = 1000  # the most keys one DeleteObjects request may carry
LIST_PAGE = 1000  # the most keys one ListObjectsV2 page holds
_HASH_BLOCK = 1024 * 1024
_NO_REGION = frozenset({None, "", "us-east-1", "aws-global"})
_CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired", "403"}
)
_REGION_CODES = frozenset(
    {
        "AuthorizationHeaderMalformed",
        "AuthorizationQueryParametersError",
        "IllegalLocationConstraintException",
        "InvalidLocationConstraint",
        "PermanentRedirect",
    }
)
_MISSING_KEY_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
_CREDENTIALS_ADVICE = (
    "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the files named by archive.access_key_file and "
    "archive.secret_key_file) and that the key belongs to this store"
)
_REGION_ADVICE = "set AWS_DEFAULT_REGION to the store's location (e.g. us-east-1 or RegionOne)"


class InsecureArchiveWarning(UserWarning):
    """Issued when a store is built with `archive.insecure`: nothing proves the store is the one configured."""


@dataclass(frozen=True)
class S3Destination:
    """`s3://bucket/prefix` split up; `prefix` is empty or ends with one slash, so keys append to it."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Destination:
        if not url.startswith("s3://"):
            raise ArchiveError(f"archive destination {url!r} is not of the form s3://bucket/prefix")
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ArchiveError(f"archive destination {url!r} names no bucket: use s3://bucket/prefix")
        prefix = prefix.strip("/")
        return cls(bucket, f"{prefix}/" if prefix else "")


@dataclass(frozen=True)
class Digest:
    """Size and MD5s of a body, taken in one pass, enough to predict the ETag of a single or multipart upload."""

    size: int
    md5: str
    part_md5s: tuple[bytes, ...]

    def etag(self, *, multipart: bool) -> str:
        """S3's ETag: the hex MD5, or for multipart the MD5 of the concatenated part MD5s plus `-<parts>`."""
        if not multipart:
            return self.md5
        combined = hashlib.md5(b"".join(self.part_md5s), usedforsecurity=False).hexdigest()
        return f"{combined}-{len(self.part_md5s)}"


def digest_stream(stream: IO[bytes], part_size: int) -> Digest:
    """Hash a stream block by block (never all in memory), cutting parts where the uploader cuts them."""
    whole = hashlib.md5(usedforsecurity=False)
    parts: list[bytes] = []
    part = hashlib.md5(usedforsecurity=False)
    size = in_part = 0
    while block := stream.read(min(_HASH_BLOCK, part_size - in_part)):
        whole.update(block)
        part.update(block)
        size += len(block)
        in_part += len(block)
        if in_part == part_size:
            parts.append(part.digest())
            part, in_part = hashlib.md5(usedforsecurity=False), 0
    if in_part or not parts:
        parts.append(part.digest())
    return Digest(size, whole.hexdigest(), tuple(parts))


def _digest_file(path: Path, part_size: int) -> Digest:
    with path.open("rb") as stream:
        return digest_stream(stream, part_size)


_KEY_CONTEXT = "report_exporter_key"


def _remember_key(params: Any = None, context: Any = None, **_: Any) -> None:
    """before-parameter-build hook: note the upload's key in the request context its after-call hook sees."""
    if isinstance(params, dict) and isinstance(context, dict) and "Key" in params:
        context[_KEY_CONTEXT] = params["Key"]


def _content_md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode("ascii")


def _add_content_md5(request: Any, **_: Any) -> None:
    """before-sign hook for DeleteObjects: Swift < 2.35 refuses it without Content-MD5, which boto3 stopped sending."""
    if "Content-MD5" in request.headers:
        return
    body = request.body or b""
    request.headers["Content-MD5"] = _content_md5(body.encode("utf-8") if isinstance(body, str) else bytes(body))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _read_secret_file(path: Path, setting: str) -> str:
    """A value from a mounted Kubernetes Secret; editors and `echo` leave a trailing newline, so strip it."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ArchiveError(f"cannot read {setting} {path}: {exc.strerror or exc}") from None
    if not value:
        raise ArchiveError(f"{setting} {path} is empty")
    return value


class _RegionMismatchError(Exception):
    """Raised by a hook, out of the request, when the store says which region it expects."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


class S3Store:
    """An archive in a bucket of an S3-compatible store; keys are relative to the destination's prefix."""

    def __init__(
        self, settings: ArchiveSettings, *, list_page_size: int = LIST_PAGE, delete_batch_size: int = DELETE_BATCH
    ) -> None:
        """Build the client; nothing is sent until the first call (`check()` is the one to start with).

        An `insecure` store issues InsecureArchiveWarning through `warnings` (shown by Python's default filter;
        `logging.captureWarnings` routes it to the log) and keeps the same text in `warning` for a caller that
        prints notices itself. The page and batch sizes are for tests; the defaults are S3's maximums.
        """
        if not settings.destination:
            raise ArchiveError("no archive destination: set REPORT_EXPORTER_ARCHIVE to s3://bucket/prefix")
        self.url: str = settings.destination
        self._where = S3Destination.parse(self.url)
        self._create_bucket: bool = settings.create_bucket
        self._list_page_size = max(1, min(list_page_size, LIST_PAGE))
        self._delete_batch_size = max(1, min(delete_batch_size, DELETE_BATCH))
        self._file_secrets: tuple[str, ...] = ()
        self.warning: str | None = None
        self._session = Session()
        self._client: Any = self._session.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            verify=self._verify_option(settings),
            config=_client_config(settings),
            **self._file_credentials(settings),
        )
        self._client.meta.events.register("before-sign.s3.DeleteObjects", _add_content_md5)
        self._client.meta.events.register_first("needs-retry.s3", self._refuse_region_redirect)
        # The ETag the store answers an upload with is its MD5 of what it stored: kept per key, it verifies the
        # upload without a HEAD round trip (the managed transfer does not return it).
        self._stored_etags: dict[str, str] = {}
        for operation in ("PutObject", "CompleteMultipartUpload"):
            self._client.meta.events.register(f"before-parameter-build.s3.{operation}", _remember_key)
            self._client.meta.events.register(f"after-call.s3.{operation}", self._remember_etag)
        self._transfer = TransferConfig(
            multipart_threshold=settings.multipart_threshold,
            multipart_chunksize=settings.multipart_chunksize,
            max_concurrency=settings.max_concurrency,
            # the classic transfer manager cuts parts of multipart_chunksize, which the ETag check relies on;
            # the CRT one (used when awscrt is installed) picks its own part size
            preferred_transfer_client="classic",
        )
        self.endpoint: str = self._client.meta.endpoint_url

    # ---- construction -------------------------------------------------------------------------------------

    def _verify_option(self, settings: ArchiveSettings) -> bool | str | None:
        """TLS verification: off only when asked, loudly; a CA bundle must exist now, not at the first request."""
        if settings.insecure:
            self.warning = (
                f"archive.insecure is set: TLS certificates of the S3 store for {self.url} are NOT verified, so "
                "anyone on the network path can read or change the archive; set AWS_CA_BUNDLE instead"
            )
            warnings.warn(self.warning, InsecureArchiveWarning, stacklevel=3)
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
        region_error = error.get("Code") in _REGION_CODES or http.status_code == 301
        if region_error and expected and expected != self._client.meta.region_name:
            raise _RegionMismatchError(str(expected))

    # ---- Store --------------------------------------------------------------------------------------------

    def check(self) -> None:
        """HEAD the bucket; create it when it is missing and `create_bucket` is set."""
        with self._errors(f"check {self.url}"):
            exists = self._bucket_exists()
        if exists:
            return
        if not self._create_bucket:
            raise ArchiveError(self._missing_bucket())
        self._make_bucket()

    def put_file(self, path: Path, key: str) -> None:
        full = self._key(key)
        action = f"upload {path} to {self._object_url(key)}"
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ArchiveError(f"cannot {action}: cannot read {path}: {exc.strerror or exc}") from None
        part_size = ChunksizeAdjuster().adjust_chunksize(self._transfer.multipart_chunksize, size)
        # The local digest is taken while the file uploads (hashing releases the GIL), not before: for the largest
        # file of a run that is a read of tens of MiB off the critical path.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest") as hasher:
            local = hasher.submit(_digest_file, path, part_size)
            with self._errors(action, key=key):
                self._client.upload_file(str(path), self._where.bucket, full, Config=self._transfer)
            try:
                digest = local.result()
            except OSError as exc:
                raise ArchiveError(f"cannot {action}: cannot read {path}: {exc.strerror or exc}") from None
        self._verify(key, digest, multipart=size >= self._transfer.multipart_threshold, source=str(path))

    def put_bytes(self, data: bytes, key: str) -> None:
        """put_object with Content-MD5, so the stores that check it refuse a body damaged on the way."""
        with self._errors(f"upload {self._object_url(key)}", key=key):
            self._client.put_object(
                Bucket=self._where.bucket, Key=self._key(key), Body=data, ContentMD5=_content_md5(data)
            )
        digest = Digest(len(data), hashlib.md5(data, usedforsecurity=False).hexdigest(), ())
        self._verify(key, digest, multipart=False, source=f"{len(data)} bytes in memory")

    def get_file(self, key: str, path: Path) -> None:
        """Managed download: ranged GETs in parallel into a temporary file renamed into place when complete."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._errors(f"download {self._object_url(key)} to {path}", key=key):
            self._client.download_file(self._where.bucket, self._key(key), str(path), Config=self._transfer)

    def get_bytes(self, key: str) -> bytes:
        with self._errors(f"download {self._object_url(key)}", key=key):
            response = self._client.get_object(Bucket=self._where.bucket, Key=self._key(key))
            return cast(bytes, response["Body"].read())

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """ListObjectsV2 page by page, in the store's (lexicographic) order."""
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self._where.bucket,
            Prefix=self._where.prefix + prefix,
            PaginationConfig={"PageSize": self._list_page_size},
        )
        with self._errors(f"list {self.url}/{prefix}"):
            for page in pages:
                for item in page.get("Contents", ()):
                    yield StoredObject(
                        key=str(item["Key"]).removeprefix(self._where.prefix),
                        size=int(item["Size"]),
                        last_modified=item["LastModified"].astimezone(UTC),
                    )

    def delete(self, keys: Sequence[str]) -> None:
        """DeleteObjects in batches; a key the store reports it could not delete is an error."""
        batch = self._delete_batch_size
        for start in range(0, len(keys), batch):
            self._delete_batch(keys[start : start + batch])

    def abort_stale_uploads(self, prefix: str, older_than: datetime) -> int:
        """Abort multipart uploads a crashed run left behind: their parts cost storage but no listing shows them."""
        cutoff = older_than if older_than.tzinfo else older_than.replace(tzinfo=UTC)
        paginator = self._client.get_paginator("list_multipart_uploads")
        aborted = 0
        with self._errors(f"abort stale multipart uploads under {self.url}/{prefix}"):
            for page in paginator.paginate(Bucket=self._where.bucket, Prefix=self._where.prefix + prefix):
                for upload in page.get("Uploads", ()):
                    if upload["Initiated"] < cutoff and self._abort(upload["Key"], upload["UploadId"]):
                        aborted += 1
        return aborted

    # ---- helpers ------------------------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        if not key or key.startswith("/"):
            raise ArchiveError(f"invalid archive key {key!r}: keys are relative to {self.url}")
        return self._where.prefix + key

    def _object_url(self, key: str) -> str:
        return f"s3://{self._where.bucket}/{self._where.prefix}{key}"

    def _remember_etag(self, parsed: Any = None, context: Any = None, **_: Any) -> None:
        """after-call hook: the ETag of a successful PutObject or CompleteMultipartUpload, by key."""
        key = (context or {}).get(_KEY_CONTEXT)
        etag = parsed.get("ETag") if isinstance(parsed, dict) and "Error" not in parsed else None
        if key and etag:
            self._stored_etags[key] = str(etag).strip('"').lower()

    def _verify(self, key: str, digest: Digest, *, multipart: bool, source: str) -> None:
        """Compare the ETag the store answered the upload with (an MD5 of what it stored, so size too) with what
        was sent; HEAD the object when the store answered none."""
        url = self._object_url(key)
        expected = digest.etag(multipart=multipart)
        stored_etag = self._stored_etags.pop(self._key(key), None)
        stored_size = digest.size
        if stored_etag is None:
            with self._errors(f"verify {url}", key=key):
                head = self._client.head_object(Bucket=self._where.bucket, Key=self._key(key))
            stored_size = int(head.get("ContentLength", -1))
            stored_etag = str(head.get("ETag", "")).strip('"').lower()
        if stored_size != digest.size or stored_etag != expected:
            raise ArchiveError(
                f"verification of {url} failed: the store holds {stored_size} bytes with ETag {stored_etag or '-'}, "
                f"but {source} has {digest.size} bytes and ETag {expected}; the object was damaged or replaced "
                "during the upload: run again"
            )

    def _bucket_exists(self) -> bool:
        try:
            self._client.head_bucket(Bucket=self._where.bucket)
        except ClientError as exc:
            if _status(exc) == 404:
                return False
            # a HEAD answer has no body, so no error code: a one-key listing names the actual cause
            self._client.list_objects_v2(Bucket=self._where.bucket, MaxKeys=1)
            raise
        return True

    def _make_bucket(self) -> None:
        """Create the bucket, in the signing region (Swift refuses a LocationConstraint other than its own)."""
        region = self._client.meta.region_name
        arguments: dict[str, Any] = {"Bucket": self._where.bucket}
        if region not in _NO_REGION:
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
        with self._errors(f"create bucket {self._where.bucket} for {self.url}"):
            try:
                self._client.create_bucket(**arguments)
            except ClientError as exc:
                # Swift and Ceph answer 409 for a bucket you already own; AWS us-east-1 and moto answer 200
                if _code(exc) != "BucketAlreadyOwnedByYou":
                    raise

    def _missing_bucket(self) -> str:
        return (
            f"bucket {self._where.bucket} does not exist at {self.endpoint}; "
            "create it or set archive.create_bucket (REPORT_EXPORTER_CREATE_BUCKET=true)"
        )

    def _delete_batch(self, keys: Sequence[str]) -> None:
        objects = [{"Key": self._key(key)} for key in keys]
        with self._errors(f"delete {len(keys)} objects from {self.url}"):
            response = self._client.delete_objects(
                Bucket=self._where.bucket, Delete={"Objects": objects, "Quiet": True}
            )
        failed = [error for error in response.get("Errors", ()) if error.get("Code") != "NoSuchKey"]
        if failed:
            shown = ", ".join(
                f"{str(error.get('Key', '?')).removeprefix(self._where.prefix)} ({error.get('Code')}: "
                f"{_one_line(error.get('Message', ''))})"
                for error in failed[:3]
            )
            more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
            raise ArchiveError(
                self._redact(f"cannot delete {len(failed)} of {len(keys)} objects from {self.url}: {shown}{more}")
            )

    def _abort(self, full_key: str, upload_id: str) -> bool:
        """Abort one upload; one that completed or was aborted meanwhile is not an error."""
        try:
            self._client.abort_multipart_upload(Bucket=self._where.bucket, Key=full_key, UploadId=upload_id)
        except ClientError as exc:
            if _code(exc) in {"NoSuchUpload", "404"}:
                return False
            raise
        return True

    @contextmanager
    def _errors(self, action: str, *, key: str | None = None) -> Iterator[None]:
        """Turn whatever boto3 raises into one ArchiveError line; the original stays as __cause__ for debugging."""
        try:
            yield
        except ArchiveError:
            raise
        except (_RegionMismatchError, BotoCoreError, ClientError, Boto3Error) as exc:
            raise ArchiveError(self._redact(f"cannot {action}: {self._explain(exc, key)}")) from exc

    def _explain(self, exc: BaseException, key: str | None) -> str:
        """The cause and what to do, by the kind of failure."""
        endpoint = self.endpoint
        if isinstance(exc, _RegionMismatchError):
            return (
                f"the S3 store at {endpoint} expects requests signed for region {exc.expected!r}, not "
                f"{self._client.meta.region_name!r}; {_REGION_ADVICE}"
            )
        if isinstance(exc, SSLError):
            return (
                f"TLS verification failed for the S3 store at {endpoint} ({_one_line(str(exc))}); set AWS_CA_BUNDLE "
                "(archive.ca_bundle) to the CA certificate that signed the store's certificate"
            )
        if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
            return (
                f"cannot reach the S3 store at {endpoint} ({_one_line(str(exc))}); check archive.endpoint_url "
                "(AWS_ENDPOINT_URL_S3), DNS, proxies and firewalls"
            )
        if isinstance(exc, ReadTimeoutError):
            return f"the S3 store at {endpoint} stopped answering ({_one_line(str(exc))}); check its health"
        if isinstance(exc, NoCredentialsError | PartialCredentialsError):
            return (
                "no complete S3 credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                "archive.access_key_file and archive.secret_key_file"
            )
        client_error = _client_error(exc)
        if client_error is not None:
            return self._explain_client_error(client_error, key)
        return f"the S3 client failed talking to {endpoint}: {_one_line(str(exc))}"

    def _explain_client_error(self, exc: ClientError, key: str | None) -> str:
        code, status, endpoint, bucket = _code(exc), _status(exc), self.endpoint, self._where.bucket
        message = _one_line(exc.response.get("Error", {}).get("Message", ""))
        answer = f"{status} {code}" + (f": {message}" if message and not code.isdigit() else "")
        if code in _CREDENTIAL_CODES:
            return f"the S3 store at {endpoint} rejected the credentials ({answer}); {_CREDENTIALS_ADVICE}"
        if code == "AccessDenied":
            return (
                f"the S3 store at {endpoint} denied access to bucket {bucket} ({answer}); check that the "
                "credentials are meant for this bucket and may list, read, write and delete in it"
            )
        if code == "NoSuchBucket" or (code == "404" and key is None):
            return self._missing_bucket()
        if code in _MISSING_KEY_CODES and key is not None:
            return f"there is no object {self._object_url(key)} at {endpoint}"
        if code in _REGION_CODES:
            return (
                f"the S3 store at {endpoint} rejected the region {self._client.meta.region_name!r} ({answer}); "
                f"{_REGION_ADVICE}"
            )
        if code == "NotImplemented" or status == 501:
            return (
                f"the S3 store at {endpoint} does not implement this request ({answer}); OpenStack Swift before "
                "2.35.1 refuses aws-chunked bodies and checksum trailers, which this client sends only when an "
                "operation requires them (request_checksum_calculation=when_required)"
            )
        if code in {"BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest"}:
            return f"the S3 store at {endpoint} received a damaged body ({answer}); run again"
        return f"the S3 store at {endpoint} answered {answer} for bucket {bucket}"

    def _redact(self, text: str) -> str:
        """Mask the secret key and session token wherever a server or library echoed them."""
        for secret in self._secrets():
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return _one_line(text)

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


def _client_config(settings: ArchiveSettings) -> Config:
    """botocore settings that hold for every S3-compatible store we know, old Swift included."""
    return Config(
        region_name=settings.region,
        signature_version=settings.signature_version,
        s3={"addressing_style": str(settings.addressing_style.value)},
        # total_max_attempts counts the first try, as archive.max_attempts (>= 1) does; botocore's own
        # "max_attempts" key counts retries only, one more request than the setting says
        retries={"mode": settings.retry_mode, "total_max_attempts": settings.max_attempts},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        max_pool_connections=max(10, settings.max_concurrency + 2),
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        user_agent_appid="report-exporter",
    )


def _client_error(exc: BaseException) -> ClientError | None:
    """The ClientError behind `exc`: boto3's upload_file wraps it in S3UploadFailedError without `from`."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ClientError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")) or str(_status(exc))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
