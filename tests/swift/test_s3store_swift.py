"""S3Store against real OpenStack Swift s3api: the current release over http and 2.33.1 over https.

moto accepts what Swift refuses (no auth, no Content-MD5 check, aws-chunked everywhere), so these are the tests
that prove the store works where our users archive to.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from exporter.archive import s3bucket, s3client, s3store
from exporter.archive.s3store import S3Store
from exporter.config import ArchiveSettings
from exporter.errors import ArchiveError
from tests.swift.conftest import SwiftS3

MIB = 1024 * 1024


@pytest.fixture(autouse=True)
def _no_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing from the developer's AWS environment or files reaches the stores under test."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


def with_credentials(server: SwiftS3, monkeypatch: pytest.MonkeyPatch) -> SwiftS3:
    """The Swift test account in the environment, where boto3's default chain finds it."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    return server


@pytest.fixture
def server(swift: SwiftS3, monkeypatch: pytest.MonkeyPatch) -> SwiftS3:
    """Each Swift version in turn, with its credentials in the environment."""
    return with_credentials(swift, monkeypatch)


@pytest.fixture
def old_server(swift_https_old: SwiftS3, monkeypatch: pytest.MonkeyPatch) -> SwiftS3:
    """Only the https one, for the TLS tests."""
    return with_credentials(swift_https_old, monkeypatch)


def bucket_name(request: pytest.FixtureRequest) -> str:
    """A bucket per test and Swift version, so tests share a server but no state."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    return name[-60:].strip("-")


def store_for(server: SwiftS3, bucket: str, *, list_page_size: int = s3store.LIST_PAGE, **overrides: Any) -> S3Store:
    settings: dict[str, Any] = {
        "destination": f"s3://{bucket}/archive/prod",
        "endpoint_url": server.endpoint,
        "region": server.region,
        "ca_bundle": server.ca_bundle,
        "multipart_threshold": 5 * MIB,
        "multipart_chunksize": 5 * MIB,
        "max_attempts": 2,
        "create_bucket": True,
    }
    settings.update(overrides)
    return S3Store(ArchiveSettings(**settings), list_page_size=list_page_size)


def raw_client(server: SwiftS3) -> Any:
    """A plain boto3 client, to act behind the store's back."""
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name=server.region,
        verify=str(server.ca_bundle) if server.ca_bundle else True,
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


@pytest.fixture
def store(server: SwiftS3, request: pytest.FixtureRequest) -> S3Store:
    archive = store_for(server, bucket_name(request))
    archive.check()
    return archive


def assert_one_line_without(message: str, *secrets: str) -> None:
    assert "\n" not in message
    for secret in secrets:
        assert secret not in message


def test_check_creates_the_bucket_and_tolerates_one_it_already_owns(
    server: SwiftS3, request: pytest.FixtureRequest
) -> None:
    bucket = bucket_name(request)
    archive = store_for(server, bucket)
    archive.check()
    archive.check()
    assert bucket in [b["Name"] for b in raw_client(server).list_buckets()["Buckets"]]
    s3bucket.make_bucket(archive._s3)  # Swift answers 409 BucketAlreadyOwnedByYou, which means "done"


def test_missing_bucket_without_create_bucket_is_a_clear_error(server: SwiftS3) -> None:
    archive = store_for(server, "never-created", create_bucket=False)
    with pytest.raises(ArchiveError) as caught:
        archive.check()
    message = str(caught.value)
    assert message == (
        f"bucket never-created does not exist at {server.endpoint}; "
        "create it or set archive.create_bucket (REPORT_EXPORTER_CREATE_BUCKET=true)"
    )


def test_put_file_single_part_and_multipart_are_verified_and_round_trip(store: S3Store, tmp_path: Path) -> None:
    small = tmp_path / "small.jsonl.gz"
    small.write_bytes(os.urandom(4096))
    big = tmp_path / "big.jsonl.gz"
    big.write_bytes(os.urandom(12 * MIB))

    store.put_file(small, "runs/r1/small.jsonl.gz")
    store.put_file(big, "runs/r1/big.jsonl.gz")

    head = store._client.head_object(Bucket=store._where.bucket, Key="archive/prod/runs/r1/big.jsonl.gz")
    assert head["ETag"].strip('"').endswith("-3")  # 5 + 5 + 2 MiB parts, checked against the local MD5s
    for path in (small, big):
        back = tmp_path / "back" / path.name
        store.get_file(f"runs/r1/{path.name}", back)
        assert hashlib.md5(back.read_bytes()).digest() == hashlib.md5(path.read_bytes()).digest()


def test_put_bytes_list_and_get_bytes(store: S3Store) -> None:
    for name in ("a", "b", "c", "d", "e"):
        store.put_bytes(name.encode() * 10, f"runs/r2/{name}.json")
    store.put_bytes(b"{}", "other/x.json")

    listed = list(store.list("runs/r2/"))

    assert [item.key for item in listed] == [f"runs/r2/{name}.json" for name in "abcde"]
    assert {item.size for item in listed} == {10}
    assert all(item.last_modified.tzinfo is UTC for item in listed)
    assert store.get_bytes("runs/r2/c.json") == b"c" * 10


def test_list_pages_through_swift(server: SwiftS3, store: S3Store, request: pytest.FixtureRequest) -> None:
    for index in range(5):
        store.put_bytes(b"x", f"paged/{index}")
    paged = store_for(server, bucket_name(request), list_page_size=2)
    calls: list[str] = []
    paged._client.meta.events.register("before-send.s3.ListObjectsV2", lambda **_: calls.append("list"))

    assert [item.key for item in paged.list("paged/")] == [f"paged/{index}" for index in range(5)]
    assert len(calls) == 3


def test_delete_in_batches_with_content_md5(store: S3Store) -> None:
    keys = [f"old/{index}" for index in range(5)]
    for key in keys:
        store.put_bytes(b"x", key)
    store.put_bytes(b"keep", "new/0")
    store._delete_batch_size = 2

    store.delete([*keys, "old/never-existed"])

    assert [item.key for item in store.list("")] == ["new/0"]


def test_delete_objects_without_content_md5_is_refused_by_old_swift(server: SwiftS3, store: S3Store) -> None:
    """The negative control for the hook: Swift 2.33 needs it, the current release does not."""
    store.put_bytes(b"x", "md5/0")
    store._client.meta.events.unregister("before-sign.s3.DeleteObjects", s3client._add_content_md5)
    if not server.old:
        store.delete(["md5/0"])
        return
    with pytest.raises(ArchiveError, match="Content-MD5"):
        store.delete(["md5/0"])


def test_abort_stale_uploads_of_a_never_completed_multipart_upload(server: SwiftS3, store: S3Store) -> None:
    client = raw_client(server)
    bucket = store._where.bucket
    upload = client.create_multipart_upload(Bucket=bucket, Key="archive/prod/runs/crashed/big.jsonl.gz")
    client.upload_part(
        Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * (5 * MIB)
    )
    elsewhere = client.create_multipart_upload(Bucket=bucket, Key="archive/prod/other/big.jsonl.gz")

    assert store.abort_stale_uploads("runs/", datetime.now(UTC) - timedelta(hours=1)) == 0
    assert store.abort_stale_uploads("runs/", datetime.now(UTC) + timedelta(minutes=5)) == 1

    left = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [item["UploadId"] for item in left] == [elsewhere["UploadId"]]


def test_wrong_secret_is_a_one_line_credentials_error_without_the_secret(
    server: SwiftS3, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    secret = "Wr0ngSecretKeyThatMustNeverBePrinted"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    archive = store_for(server, bucket_name(request))

    for attempt in (archive.check, lambda: archive.put_bytes(b"x", "k")):
        with pytest.raises(ArchiveError) as caught:
            attempt()
        message = str(caught.value)
        assert f"the S3 store at {server.endpoint} rejected the credentials (403 SignatureDoesNotMatch" in message
        assert_one_line_without(message, secret)


def test_credentials_from_mounted_secret_files(
    server: SwiftS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (tmp_path / "access").write_text(f"{server.access_key}\n")
    (tmp_path / "secret").write_text(f"  {server.secret_key}\n\n")
    archive = store_for(server, "from-files", access_key_file=tmp_path / "access", secret_key_file=tmp_path / "secret")

    archive.check()
    archive.put_bytes(b"ok", "k")


def test_wrong_region_is_reported_not_silently_retried(server: SwiftS3, request: pytest.FixtureRequest) -> None:
    archive = store_for(server, bucket_name(request), region="RegionOne")
    requests: list[str] = []
    archive._client.meta.events.register("before-send.s3", lambda **_: requests.append("sent"))

    with pytest.raises(ArchiveError) as caught:
        archive.check()

    message = str(caught.value)
    assert f"expects requests signed for region {server.region!r}, not 'RegionOne'" in message
    assert "(or AWS_REGION, which wins) to the store's location (e.g. us-east-1 or RegionOne)" in message
    assert_one_line_without(message, server.secret_key)
    assert len(requests) == 2  # HEAD (no body, no cause) and a one-key listing that names it; no re-signed retry


def test_https_without_the_ca_bundle_is_a_tls_error(old_server: SwiftS3, request: pytest.FixtureRequest) -> None:
    archive = store_for(old_server, bucket_name(request), ca_bundle=None, max_attempts=1)
    with pytest.raises(ArchiveError, match=r"TLS verification failed .* set AWS_CA_BUNDLE") as caught:
        archive.check()
    assert_one_line_without(str(caught.value), old_server.secret_key)


def test_insecure_skips_tls_verification_with_a_warning(old_server: SwiftS3, request: pytest.FixtureRequest) -> None:
    with pytest.warns(s3store.InsecureArchiveWarning, match="NOT verified"):
        archive = store_for(old_server, bucket_name(request), ca_bundle=None, insecure=True)
    with pytest.warns(Warning):  # urllib3 repeats it for every new connection
        archive.check()
