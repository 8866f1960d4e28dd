"""S3Store against moto (in process), plus canned answers for the failures moto cannot produce.

moto does no authentication and checks no Content-MD5, so credentials, region and Swift's refusals are simulated
with a `before-send` hook that answers a request with what a real store would say; tests/swift runs the same
store against real Swift.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from exporter.archive import s3store
from exporter.archive.filestore import FileStore
from exporter.archive.open import open_store
from exporter.archive.s3store import Digest, S3Destination, S3Store, digest_stream
from exporter.config import ArchiveSettings
from exporter.errors import ArchiveError, MissingObjectError

MIB = 1024 * 1024
BUCKET = "archive"
ACCESS_KEY = "AKIDEXAMPLEONLY"
SECRET = "s3cr3t/Key+ThatMustNeverBePrinted"
TOKEN = "SessionTokenThatMustNeverBePrintedEither"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """moto in process, known credentials, and nothing from the developer's AWS environment or files."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    with mock_aws(config={"core": {"mock_credentials": False}}):
        yield


def make_store(*, create: bool = True, list_page_size: int = 1000, **overrides: Any) -> S3Store:
    settings: dict[str, Any] = {
        "destination": f"s3://{BUCKET}/clusters/prod",
        "region": "us-east-1",
        "multipart_threshold": 5 * MIB,
        "multipart_chunksize": 5 * MIB,
        "max_attempts": 1,
    }
    settings.update(overrides)
    store = S3Store(ArchiveSettings(**settings), list_page_size=list_page_size)
    if create:
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    return store


def raw() -> Any:
    """A plain client on the same moto backend, to look and act behind the store's back."""
    return boto3.client("s3", region_name="us-east-1")


def record(store: S3Store, event: str = "before-send.s3") -> list[Any]:
    """Every request the store sends (after signing), for assertions on headers, methods and counts."""
    sent: list[Any] = []
    store._client.meta.events.register(event, lambda request, **_: sent.append(request))
    return sent


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def answer(store: S3Store, operation: str, status: int, body: str = "", **headers: str) -> list[Any]:
    """Make the "store" answer `operation` with a canned response, as Swift or AWS would; returns the requests."""
    sent: list[Any] = []

    def respond(request: Any, **_: Any) -> AWSResponse:
        sent.append(request)
        return AWSResponse(request.url, status, headers, _Body(body.encode()))

    store._client.meta.events.register_first(f"before-send.s3.{operation}", respond)
    return sent


def header(request: Any, name: str) -> str:
    value = request.headers[name]
    return value.decode() if isinstance(value, bytes) else str(value)


def error_xml(code: str, message: str, **fields: str) -> str:
    extra = "".join(f"<{name}>{value}</{name}>" for name, value in fields.items())
    return (
        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message>{extra}</Error>"
    )


def failure(call: Any) -> str:
    """The ArchiveError message of `call`, checked to be one line and free of every secret."""
    with pytest.raises(ArchiveError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    assert SECRET not in message
    assert TOKEN not in message
    return message


def stored_etag(key: str) -> str:
    return str(raw().head_object(Bucket=BUCKET, Key=f"clusters/prod/{key}")["ETag"]).strip('"')


# ---- digests and destinations -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 5 * MIB - 1, 5 * MIB, 10 * MIB, 12 * MIB + 7])
def test_digest_cuts_parts_where_the_uploader_does(size: int) -> None:
    data = os.urandom(size)
    digest = digest_stream(io.BytesIO(data), 5 * MIB)
    parts = [data[start : start + 5 * MIB] for start in range(0, size, 5 * MIB)] or [b""]
    assert digest.size == size
    assert digest.md5 == hashlib.md5(data).hexdigest()
    assert digest.part_md5s == tuple(hashlib.md5(part).digest() for part in parts)
    combined = hashlib.md5(b"".join(hashlib.md5(part).digest() for part in parts)).hexdigest()
    assert digest.etag(multipart=True) == f"{combined}-{len(parts)}"


def test_single_part_etag_is_the_hex_md5() -> None:
    assert Digest(3, "abc", ()).etag(multipart=False) == "abc"


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://archive", "archive", ""),
        ("s3://archive/", "archive", ""),
        ("s3://archive/clusters/prod", "archive", "clusters/prod/"),
        ("s3://archive/clusters/prod/", "archive", "clusters/prod/"),
    ],
)
def test_destination_prefix_ends_with_one_slash(url: str, bucket: str, prefix: str) -> None:
    assert S3Destination.parse(url) == S3Destination(bucket, prefix)


def test_open_store_picks_s3_for_s3_urls() -> None:
    store = open_store(ArchiveSettings(destination="s3://archive/x", region="us-east-1"))
    assert isinstance(store, S3Store)
    assert store.url == "s3://archive/x"


# ---- client settings ------------------------------------------------------------------------------------------


def test_client_is_configured_for_old_swift_and_the_settings() -> None:
    store = make_store(create=False, max_concurrency=16, max_attempts=5, retry_mode="adaptive")
    config = store._client.meta.config
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 5}
    assert config.max_pool_connections >= 16
    assert config.s3 == {"addressing_style": "path"}
    assert config.signature_version == "s3v4"
    assert (config.connect_timeout, config.read_timeout) == (s3store.CONNECT_TIMEOUT, s3store.READ_TIMEOUT)


def test_uploads_carry_no_aws_chunked_body_or_checksum_trailer(tmp_path: Path) -> None:
    """Swift < 2.35.1 answers both with 501; boto3 >= 1.36 sends them by default over https."""
    store = make_store()
    sent = record(store)
    big = tmp_path / "big"
    big.write_bytes(os.urandom(6 * MIB))
    store.put_file(big, "big")
    store.put_bytes(b"small", "small")
    uploads = [request for request in sent if request.method == "PUT"]
    assert len(uploads) == 3  # two parts and one put_object
    for request in uploads:
        headers = {name.lower(): value for name, value in request.headers.items()}
        assert "aws-chunked" not in headers.get("content-encoding", "")
        assert "x-amz-trailer" not in headers
        assert not [name for name in headers if name.startswith("x-amz-checksum-")]


def test_insecure_warns_loudly_and_keeps_the_text() -> None:
    with pytest.warns(s3store.InsecureArchiveWarning, match="NOT verified"):
        store = make_store(create=False, insecure=True)
    assert store.warning is not None
    assert "AWS_CA_BUNDLE" in store.warning


def test_a_missing_ca_bundle_fails_at_once(tmp_path: Path) -> None:
    message = failure(lambda: make_store(create=False, ca_bundle=tmp_path / "missing.pem"))
    assert message == f"CA bundle {tmp_path / 'missing.pem'} (archive.ca_bundle / AWS_CA_BUNDLE) is not a file"


def test_credentials_from_files_are_stripped_and_win_over_the_environment(tmp_path: Path) -> None:
    (tmp_path / "access").write_text("AKIDFROMFILE\n")
    (tmp_path / "secret").write_text(f"  {SECRET}\n")
    store = make_store(access_key_file=tmp_path / "access", secret_key_file=tmp_path / "secret")
    sent = record(store)
    store.put_bytes(b"x", "k")
    assert "Credential=AKIDFROMFILE/" in header(sent[0], "Authorization")
    answer(store, "ListObjectsV2", 403, error_xml("SignatureDoesNotMatch", f"we compared with {SECRET}"))
    assert "***" in failure(lambda: list(store.list("")))


@pytest.mark.parametrize(
    ("access", "secret", "expected"),
    [
        ("AKID\n", None, "set both archive.access_key_file and archive.secret_key_file, or neither"),
        ("AKID\n", "  \n", "archive.secret_key_file {secret} is empty"),
        ("AKID\n", "missing", "cannot read archive.secret_key_file {secret}: No such file or directory"),
    ],
)
def test_bad_credential_files_are_named(tmp_path: Path, access: str, secret: str | None, expected: str) -> None:
    access_file = tmp_path / "access"
    access_file.write_text(access)
    secret_file = None
    if secret is not None:
        secret_file = tmp_path / "secret"
        if secret != "missing":
            secret_file.write_text(secret)
    message = failure(lambda: make_store(create=False, access_key_file=access_file, secret_key_file=secret_file))
    assert message == expected.format(secret=secret_file)


# ---- check ----------------------------------------------------------------------------------------------------


def test_check_passes_for_an_existing_bucket() -> None:
    make_store().check()


def test_check_without_create_bucket_names_the_bucket_and_the_setting() -> None:
    store = make_store(create=False)
    assert failure(store.check) == (
        "bucket archive does not exist at https://s3.us-east-1.amazonaws.com; "
        "create it or set archive.create_bucket (REPORT_EXPORTER_CREATE_BUCKET=true)"
    )


def test_check_creates_the_bucket_when_configured() -> None:
    store = make_store(create=False, create_bucket=True)
    store.check()
    assert BUCKET in [bucket["Name"] for bucket in raw().list_buckets()["Buckets"]]


def test_check_creates_the_bucket_in_the_configured_region() -> None:
    """Outside us-east-1 a LocationConstraint is required (moto, like AWS, refuses the request without one)."""
    store = make_store(create=False, create_bucket=True, region="eu-central-1")
    store.check()
    location = raw().get_bucket_location(Bucket=BUCKET)["LocationConstraint"]
    assert location == "eu-central-1"


def test_check_tolerates_409_for_a_bucket_already_owned() -> None:
    """Swift and Ceph answer 409 BucketAlreadyOwnedByYou where AWS us-east-1 answers 200."""
    store = make_store(create=False, create_bucket=True)
    answer(store, "HeadBucket", 404)
    answer(store, "CreateBucket", 409, error_xml("BucketAlreadyOwnedByYou", "Your previous request succeeded"))
    store.check()


def test_check_names_the_cause_a_head_cannot_carry() -> None:
    """A HEAD answer has no body: a one-key listing then tells the credentials problem apart."""
    store = make_store()
    answer(store, "HeadBucket", 403)
    answer(store, "ListObjectsV2", 403, error_xml("InvalidAccessKeyId", "The AWS Access Key Id does not exist"))
    message = failure(store.check)
    assert message.startswith(
        "cannot check s3://archive/clusters/prod: the S3 store at https://s3.us-east-1.amazonaws.com rejected the "
        "credentials (403 InvalidAccessKeyId: The AWS Access Key Id does not exist); check AWS_ACCESS_KEY_ID"
    )


# ---- put, verify, get -----------------------------------------------------------------------------------------


def test_put_file_single_part_is_verified_against_the_md5(tmp_path: Path) -> None:
    store = make_store()
    path = tmp_path / "kind.jsonl.gz"
    path.write_bytes(os.urandom(100_000))
    store.put_file(path, "runs/r1/kind.jsonl.gz")
    assert stored_etag("runs/r1/kind.jsonl.gz") == hashlib.md5(path.read_bytes()).hexdigest()


def test_put_file_multipart_is_verified_against_the_part_md5s(tmp_path: Path) -> None:
    store = make_store()
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(os.urandom(12 * MIB))
    sent = record(store)
    store.put_file(path, "runs/r1/big.jsonl.gz")
    assert len([request for request in sent if "partNumber=" in request.url]) == 3
    with path.open("rb") as stream:
        assert stored_etag("runs/r1/big.jsonl.gz") == digest_stream(stream, 5 * MIB).etag(multipart=True)


@pytest.mark.parametrize("size", [1000, 12 * MIB])
def test_verification_catches_a_store_that_stored_something_else(tmp_path: Path, size: int) -> None:
    """The ETag the store answers the upload with is its MD5 of what it stored; one of other bytes fails."""
    store = make_store()
    path = tmp_path / "kind.jsonl.gz"
    path.write_bytes(b"a" * size)
    other = hashlib.md5(b"b" * size).hexdigest()

    def misreport(parsed: dict[str, Any], **_: Any) -> None:
        parsed["ETag"] = f'"{other}"'

    for operation in ("PutObject", "CompleteMultipartUpload"):
        store._client.meta.events.register_first(f"after-call.s3.{operation}", misreport)
    heads = record(store, "before-send.s3.HeadObject")
    message = failure(lambda: store.put_file(path, "runs/r1/kind.jsonl.gz"))
    assert message.startswith(
        f"verification of s3://archive/clusters/prod/runs/r1/kind.jsonl.gz failed: the store holds {size} bytes "
        f"with ETag {other}"
    )
    assert f"but {path} has {size} bytes" in message
    assert heads == [], "the upload's own answer verifies it: no HEAD"


@pytest.mark.parametrize("size", [1000, 12 * MIB])
def test_a_store_that_answers_no_etag_is_verified_with_a_head(tmp_path: Path, size: int) -> None:
    store = make_store()
    path = tmp_path / "kind.jsonl.gz"
    path.write_bytes(b"a" * size)

    def no_etag(parsed: dict[str, Any], **_: Any) -> None:
        parsed.pop("ETag", None)

    def tamper(**_: Any) -> None:
        raw().put_object(Bucket=BUCKET, Key="clusters/prod/runs/r1/kind.jsonl.gz", Body=b"b" * size)

    for operation in ("PutObject", "CompleteMultipartUpload"):
        store._client.meta.events.register_first(f"after-call.s3.{operation}", no_etag)
    store._client.meta.events.register("before-call.s3.HeadObject", tamper)
    message = failure(lambda: store.put_file(path, "runs/r1/kind.jsonl.gz"))
    assert message.startswith(
        f"verification of s3://archive/clusters/prod/runs/r1/kind.jsonl.gz failed: the store holds {size} bytes"
    )


def test_verification_catches_a_short_object() -> None:
    store = make_store()

    def no_etag(parsed: dict[str, Any], **_: Any) -> None:
        parsed.pop("ETag", None)

    def truncate(**_: Any) -> None:  # a before-call handler that returned something would replace the response
        raw().put_object(Bucket=BUCKET, Key="clusters/prod/manifest.json", Body=b"{")

    store._client.meta.events.register_first("after-call.s3.PutObject", no_etag)
    store._client.meta.events.register("before-call.s3.HeadObject", truncate)
    message = failure(lambda: store.put_bytes(b"{}", "manifest.json"))
    assert "the store holds 1 bytes" in message
    assert "but 2 bytes in memory has 2 bytes" in message


def test_put_bytes_sends_content_md5_so_stores_check_the_body() -> None:
    store = make_store()
    sent = record(store, "before-send.s3.PutObject")
    store.put_bytes(b'{"runs": 1}', "manifest.json")
    expected = base64.b64encode(hashlib.md5(b'{"runs": 1}').digest()).decode()
    assert header(sent[0], "Content-MD5") == expected
    assert store.get_bytes("manifest.json") == b'{"runs": 1}'


def test_get_file_round_trip(tmp_path: Path) -> None:
    store = make_store()
    source = tmp_path / "source"
    source.write_bytes(os.urandom(7 * MIB))
    store.put_file(source, "runs/r1/x")
    target = tmp_path / "restore" / "deep" / "x"
    store.get_file("runs/r1/x", target)
    assert target.read_bytes() == source.read_bytes()


def test_missing_objects_are_named(tmp_path: Path) -> None:
    store = make_store()
    assert failure(lambda: store.get_bytes("nope")).endswith(
        "there is no object s3://archive/clusters/prod/nope at https://s3.us-east-1.amazonaws.com"
    )
    assert "there is no object s3://archive/clusters/prod/nope" in failure(
        lambda: store.get_file("nope", tmp_path / "x")
    )


def test_only_an_object_the_store_says_is_not_there_is_missing(tmp_path: Path) -> None:
    """MissingObjectError is a certain absence (a first night's DefectDojo state); a store that failed to answer is
    an ArchiveError of its own, never taken for "not there"."""
    store = make_store()
    with pytest.raises(MissingObjectError):
        store.get_bytes("nope")
    answer(store, "GetObject", 500, error_xml("InternalError", "We encountered an internal error"))
    with pytest.raises(ArchiveError) as caught:
        store.get_bytes("nope")
    assert not isinstance(caught.value, MissingObjectError) and "500 InternalError" in str(caught.value)
    with pytest.raises(MissingObjectError):
        FileStore(tmp_path.as_uri()).get_bytes("nope")


def test_unreadable_local_file_is_named(tmp_path: Path) -> None:
    store = make_store()
    gone = tmp_path / "gone"
    message = failure(lambda: store.put_file(gone, "k"))
    assert (
        message
        == f"cannot upload {gone} to s3://archive/clusters/prod/k: cannot read {gone}: No such file or directory"
    )


@pytest.mark.parametrize("key", ["", "/absolute"])
def test_keys_must_be_relative(key: str) -> None:
    assert "invalid archive key" in failure(lambda: make_store().put_bytes(b"x", key))


# ---- list, delete, abort --------------------------------------------------------------------------------------


def test_list_pages_and_strips_the_prefix() -> None:
    store = make_store(list_page_size=2)
    for index in range(5):
        store.put_bytes(b"x" * index, f"runs/{index}/manifest.json")
    raw().put_object(Bucket=BUCKET, Key="clusters/staging/runs/0/manifest.json", Body=b"other cluster")
    sent = record(store, "before-send.s3.ListObjectsV2")

    listed = list(store.list("runs/"))

    assert [item.key for item in listed] == [f"runs/{index}/manifest.json" for index in range(5)]
    assert [item.size for item in listed] == list(range(5))
    assert all(item.last_modified.tzinfo is UTC for item in listed)
    assert len(sent) == 3


def test_delete_batches_and_adds_content_md5() -> None:
    store = make_store()
    store._delete_batch_size = 2
    keys = [f"runs/old/{index}" for index in range(5)]
    for key in keys:
        store.put_bytes(b"x", key)
    store.put_bytes(b"x", "runs/new/0")
    sent = record(store, "before-send.s3.DeleteObjects")

    store.delete([*keys, "runs/old/never-existed"])

    assert len(sent) == 3
    for request in sent:
        assert header(request, "Content-MD5") == base64.b64encode(hashlib.md5(request.body).digest()).decode()
    assert [item.key for item in store.list("")] == ["runs/new/0"]


def test_delete_sends_at_most_1000_keys_per_request() -> None:
    store = make_store()
    sent = record(store, "before-send.s3.DeleteObjects")
    store.delete([f"missing/{index}" for index in range(2001)])
    assert [request.body.count(b"<Key>") for request in sent] == [1000, 1000, 1]


def test_delete_reports_the_keys_the_store_refused() -> None:
    store = make_store()
    body = (
        "<?xml version='1.0' encoding='UTF-8'?><DeleteResult>"
        "<Error><Key>clusters/prod/runs/a</Key><Code>AccessDenied</Code><Message>Access\nDenied</Message></Error>"
        "<Error><Key>clusters/prod/runs/b</Key><Code>NoSuchKey</Code><Message>gone</Message></Error>"
        "</DeleteResult>"
    )
    answer(store, "DeleteObjects", 200, body)
    message = failure(lambda: store.delete(["runs/a", "runs/b"]))
    assert (
        message == "cannot delete 1 of 2 objects from s3://archive/clusters/prod: runs/a (AccessDenied: Access Denied)"
    )


def test_abort_stale_uploads_only_under_the_prefix_and_before_the_cutoff() -> None:
    store = make_store()
    client = raw()
    for key in ("clusters/prod/runs/a", "clusters/prod/runs/b", "clusters/prod/other/c", "clusters/staging/runs/d"):
        client.create_multipart_upload(Bucket=BUCKET, Key=key)

    # moto reports every upload as initiated at 2010-11-10T20:48:33Z
    assert store.abort_stale_uploads("runs/", datetime(2010, 11, 10, 20, 48, tzinfo=UTC)) == 0
    assert store.abort_stale_uploads("runs/", datetime.now(UTC).replace(tzinfo=None)) == 2  # naive means UTC

    left = sorted(upload["Key"] for upload in client.list_multipart_uploads(Bucket=BUCKET)["Uploads"])
    assert left == ["clusters/prod/other/c", "clusters/staging/runs/d"]


def test_no_request_deletes_a_bucket_or_a_bucket_subresource(tmp_path: Path) -> None:
    """On Swift a DELETE of a sub-resource s3api does not know deletes the (empty) bucket itself."""
    store = make_store(create=False, create_bucket=True)
    sent = record(store)
    path = tmp_path / "f"
    path.write_bytes(os.urandom(6 * MIB))
    store.check()
    store.put_file(path, "runs/f")
    raw().create_multipart_upload(Bucket=BUCKET, Key="clusters/prod/runs/stale")
    store.abort_stale_uploads("runs/", datetime.now(UTC) + timedelta(hours=1))
    store.delete(["runs/f"])
    list(store.list(""))
    for request in sent:
        if request.method == "DELETE":
            assert "uploadId=" in request.url, request.url
    assert not [request.url for request in sent if any(word in request.url for word in ("lifecycle", "tagging"))]


# ---- errors ---------------------------------------------------------------------------------------------------


def test_rejected_credentials_message_is_one_line_and_secret_free(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    store = make_store()
    echo = f"signature over {SECRET}\nwith token {TOKEN}"
    answer(store, "ListObjectsV2", 403, error_xml("SignatureDoesNotMatch", echo, StringToSign=SECRET))
    message = failure(lambda: list(store.list("runs/")))
    assert message == (
        "cannot list s3://archive/clusters/prod/runs/: the S3 store at https://s3.us-east-1.amazonaws.com rejected the "
        "credentials (403 SignatureDoesNotMatch: signature over *** with token ***); check AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (or the files named by archive.access_key_file and archive.secret_key_file) and that "
        "the key belongs to this store"
    )


def test_access_denied_is_told_apart_from_bad_credentials() -> None:
    store = make_store()
    answer(store, "PutObject", 403, error_xml("AccessDenied", "Access Denied"))
    assert "denied access to bucket archive (403 AccessDenied: Access Denied)" in failure(
        lambda: store.put_bytes(b"x", "k")
    )


def test_region_mismatch_is_reported_instead_of_silently_retried() -> None:
    store = make_store(region="eu-central-1")
    sent = answer(
        store,
        "ListObjectsV2",
        400,
        error_xml("AuthorizationHeaderMalformed", "the region 'eu-central-1' is wrong", Region="RegionOne"),
    )
    message = failure(lambda: list(store.list("")))
    assert message == (
        "cannot list s3://archive/clusters/prod/: the S3 store at https://s3.eu-central-1.amazonaws.com expects "
        "requests signed for region 'RegionOne', not 'eu-central-1'; set AWS_DEFAULT_REGION (or AWS_REGION, which "
        "wins) to the store's location (e.g. us-east-1 or RegionOne)"
    )
    assert len(sent) == 1


def test_region_error_without_a_region_still_says_what_to_set() -> None:
    store = make_store()
    answer(store, "PutObject", 400, error_xml("AuthorizationHeaderMalformed", "malformed"))
    assert "rejected the region 'us-east-1'" in failure(lambda: store.put_bytes(b"x", "k"))


def test_not_implemented_mentions_swift_and_when_required() -> None:
    store = make_store()
    answer(store, "PutObject", 501, error_xml("NotImplemented", "aws-chunked is not supported."))
    message = failure(lambda: store.put_bytes(b"x", "k"))
    assert "does not implement this request (501 NotImplemented: aws-chunked is not supported.)" in message
    assert "OpenStack Swift before 2.35.1" in message
    assert "when_required" in message


def test_missing_bucket_on_an_operation() -> None:
    store = make_store(create=False)
    assert failure(lambda: list(store.list(""))).endswith(
        "bucket archive does not exist at https://s3.us-east-1.amazonaws.com; create it or set archive.create_bucket "
        "(REPORT_EXPORTER_CREATE_BUCKET=true)"
    )


def test_other_answers_are_quoted_on_one_line() -> None:
    store = make_store()
    answer(store, "PutObject", 500, error_xml("InternalError", "We encountered\nan internal error"))
    assert failure(lambda: store.put_bytes(b"x", "k")).endswith(
        "the S3 store at https://s3.us-east-1.amazonaws.com answered 500 InternalError: We encountered an internal "
        "error for bucket archive"
    )


def test_unreachable_endpoint() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = make_store(create=False, endpoint_url=f"http://127.0.0.1:{port}")
    message = failure(store.check)
    assert message.startswith(
        f"cannot check s3://archive/clusters/prod: cannot reach the S3 store at http://127.0.0.1:{port}"
    )
    assert message.endswith("check archive.endpoint_url (AWS_ENDPOINT_URL_S3), DNS, proxies and firewalls")


def test_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = make_store(create=False)
    assert failure(store.check).endswith(
        "no complete S3 credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
        "archive.access_key_file and archive.secret_key_file"
    )
