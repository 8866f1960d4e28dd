"""What boto3 raised, said for a person: the cause, the endpoint and bucket involved, and what to do.

Every S3 failure goes through `explain`, so one table decides the wording whichever operation failed. The texts
never contain a secret of their own; `S3Connection.redact` masks whatever a server or library echoed back.
"""

from __future__ import annotations

from boto3.exceptions import Boto3Error
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

REGION_CODES = frozenset(
    {
        "AuthorizationHeaderMalformed",
        "AuthorizationQueryParametersError",
        "IllegalLocationConstraintException",
        "InvalidLocationConstraint",
        "PermanentRedirect",
    }
)
_CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired", "403"}
)
_MISSING_KEY_CODES = frozenset({"NoSuchKey", "NotFound", "404"})
_CREDENTIALS_ADVICE = (
    "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the files named by archive.access_key_file and "
    "archive.secret_key_file) and that the key belongs to this store"
)
_REGION_ADVICE = (
    "set AWS_DEFAULT_REGION (or AWS_REGION, which wins) to the store's location (e.g. us-east-1 or RegionOne)"
)


class RegionMismatchError(Exception):
    """Raised by a hook, out of the request, when the store says which region it expects."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


# What `S3Connection.errors` turns into an ArchiveError; anything else is a bug and keeps its traceback.
S3_FAILURES = (RegionMismatchError, BotoCoreError, ClientError, Boto3Error)


def explain(exc: BaseException, *, endpoint: str, region: str | None, bucket: str, object_url: str | None) -> str:
    """The cause and what to do, by the kind of failure; `object_url` is set when the call was about one object."""
    if isinstance(exc, RegionMismatchError):
        return (
            f"the S3 store at {endpoint} expects requests signed for region {exc.expected!r}, not "
            f"{region!r}; {_REGION_ADVICE}"
        )
    if isinstance(exc, SSLError):
        return (
            f"TLS verification failed for the S3 store at {endpoint} ({one_line(str(exc))}); set AWS_CA_BUNDLE "
            "(archive.ca_bundle) to the CA certificate that signed the store's certificate"
        )
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return (
            f"cannot reach the S3 store at {endpoint} ({one_line(str(exc))}); check archive.endpoint_url "
            "(AWS_ENDPOINT_URL_S3), DNS, proxies and firewalls"
        )
    if isinstance(exc, ReadTimeoutError):
        return f"the S3 store at {endpoint} stopped answering ({one_line(str(exc))}); check its health"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (
            "no complete S3 credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
            "archive.access_key_file and archive.secret_key_file"
        )
    client_error = _client_error(exc)
    if client_error is not None:
        return _explain_client_error(
            client_error, endpoint=endpoint, region=region, bucket=bucket, object_url=object_url
        )
    return f"the S3 client failed talking to {endpoint}: {one_line(str(exc))}"


def is_missing_object(exc: BaseException) -> bool:
    """The store answered that the object is not there (GET or HEAD of a key), not that it could not say."""
    client_error = _client_error(exc)
    return client_error is not None and error_code(client_error) in _MISSING_KEY_CODES


def missing_bucket(bucket: str, endpoint: str) -> str:
    return (
        f"bucket {bucket} does not exist at {endpoint}; "
        "create it or set archive.create_bucket (REPORT_EXPORTER_CREATE_BUCKET=true)"
    )


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")) or str(http_status(exc))


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def _explain_client_error(
    exc: ClientError, *, endpoint: str, region: str | None, bucket: str, object_url: str | None
) -> str:
    code, status = error_code(exc), http_status(exc)
    message = one_line(exc.response.get("Error", {}).get("Message", ""))
    answer = f"{status} {code}" + (f": {message}" if message and not code.isdigit() else "")
    if code in _CREDENTIAL_CODES:
        return f"the S3 store at {endpoint} rejected the credentials ({answer}); {_CREDENTIALS_ADVICE}"
    if code == "AccessDenied":
        return (
            f"the S3 store at {endpoint} denied access to bucket {bucket} ({answer}); check that the "
            "credentials are meant for this bucket and may list, read, write and delete in it"
        )
    if code == "NoSuchBucket" or (code == "404" and object_url is None):
        return missing_bucket(bucket, endpoint)
    if code in _MISSING_KEY_CODES and object_url is not None:
        return f"there is no object {object_url} at {endpoint}"
    if code in REGION_CODES:
        return f"the S3 store at {endpoint} rejected the region {region!r} ({answer}); {_REGION_ADVICE}"
    if code == "NotImplemented" or status == 501:
        return (
            f"the S3 store at {endpoint} does not implement this request ({answer}); OpenStack Swift before "
            "2.35.1 refuses aws-chunked bodies and checksum trailers, which this client sends only when an "
            "operation requires them (request_checksum_calculation=when_required)"
        )
    if code in {"BadDigest", "XAmzContentSHA256Mismatch", "InvalidDigest"}:
        return f"the S3 store at {endpoint} received a damaged body ({answer}); run again"
    return f"the S3 store at {endpoint} answered {answer} for bucket {bucket}"


def _client_error(exc: BaseException) -> ClientError | None:
    """The ClientError behind `exc`: boto3's upload_file wraps it in S3UploadFailedError without `from`."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ClientError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
