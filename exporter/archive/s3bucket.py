"""The bucket as a whole: check (and create) it, list its keys, delete them, abort stale multipart uploads.

A DELETE on a bucket sub-resource s3api does not know removes an *empty bucket*, so nothing here sends one (no
lifecycle, tagging, object lock): retention is done by listing and deleting.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from exporter.archive import s3errors
from exporter.archive.s3client import S3Connection
from exporter.archive.store import StoredObject
from exporter.errors import ArchiveError

DELETE_BATCH = 1000  # the most keys one DeleteObjects request may carry
LIST_PAGE = 1000  # the most keys one ListObjectsV2 page holds
_NO_REGION = frozenset({None, "", "us-east-1", "aws-global"})


def check_bucket(s3: S3Connection, *, create: bool) -> None:
    """HEAD the bucket; create it when it is missing and `create` is set."""
    with s3.errors(f"check {s3.url}"):
        exists = _bucket_exists(s3)
    if exists:
        return
    if not create:
        raise ArchiveError(s3errors.missing_bucket(s3.where.bucket, s3.endpoint))
    make_bucket(s3)


def make_bucket(s3: S3Connection) -> None:
    """Create the bucket, in the signing region (Swift refuses a LocationConstraint other than its own)."""
    region = s3.client.meta.region_name
    arguments: dict[str, Any] = {"Bucket": s3.where.bucket}
    if region not in _NO_REGION:
        arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
    with s3.errors(f"create bucket {s3.where.bucket} for {s3.url}"):
        try:
            s3.client.create_bucket(**arguments)
        except ClientError as exc:
            # Swift and Ceph answer 409 for a bucket you already own; AWS us-east-1 and moto answer 200
            if s3errors.error_code(exc) != "BucketAlreadyOwnedByYou":
                raise


def list_objects(s3: S3Connection, prefix: str, *, page_size: int) -> Iterator[StoredObject]:
    """ListObjectsV2 page by page, in the store's (lexicographic) order."""
    paginator = s3.client.get_paginator("list_objects_v2")
    pages = paginator.paginate(
        Bucket=s3.where.bucket, Prefix=s3.where.prefix + prefix, PaginationConfig={"PageSize": page_size}
    )
    with s3.errors(f"list {s3.url}/{prefix}"):
        for page in pages:
            for item in page.get("Contents", ()):
                yield StoredObject(
                    key=str(item["Key"]).removeprefix(s3.where.prefix),
                    size=int(item["Size"]),
                    last_modified=item["LastModified"].astimezone(UTC),
                )


def delete_objects(s3: S3Connection, keys: Sequence[str], *, batch_size: int) -> None:
    """DeleteObjects in batches; a key the store reports it could not delete is an error."""
    for start in range(0, len(keys), batch_size):
        _delete_batch(s3, keys[start : start + batch_size])


def abort_stale_uploads(s3: S3Connection, prefix: str, older_than: datetime) -> int:
    """Abort multipart uploads a crashed run left behind: their parts cost storage but no listing shows them."""
    cutoff = older_than if older_than.tzinfo else older_than.replace(tzinfo=UTC)
    paginator = s3.client.get_paginator("list_multipart_uploads")
    aborted = 0
    with s3.errors(f"abort stale multipart uploads under {s3.url}/{prefix}"):
        for page in paginator.paginate(Bucket=s3.where.bucket, Prefix=s3.where.prefix + prefix):
            for upload in page.get("Uploads", ()):
                if upload["Initiated"] < cutoff and _abort(s3, upload["Key"], upload["UploadId"]):
                    aborted += 1
    return aborted


def _bucket_exists(s3: S3Connection) -> bool:
    try:
        s3.client.head_bucket(Bucket=s3.where.bucket)
    except ClientError as exc:
        if s3errors.http_status(exc) == 404:
            return False
        # a HEAD answer has no body, so no error code: a one-key listing names the actual cause
        s3.client.list_objects_v2(Bucket=s3.where.bucket, MaxKeys=1)
        raise
    return True


def _delete_batch(s3: S3Connection, keys: Sequence[str]) -> None:
    objects = [{"Key": s3.key(key)} for key in keys]
    with s3.errors(f"delete {len(keys)} objects from {s3.url}"):
        response = s3.client.delete_objects(Bucket=s3.where.bucket, Delete={"Objects": objects, "Quiet": True})
    failed = [error for error in response.get("Errors", ()) if error.get("Code") != "NoSuchKey"]
    if failed:
        shown = ", ".join(
            f"{str(error.get('Key', '?')).removeprefix(s3.where.prefix)} ({error.get('Code')}: "
            f"{s3errors.one_line(error.get('Message', ''))})"
            for error in failed[:3]
        )
        more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
        raise ArchiveError(
            s3.redact(f"cannot delete {len(failed)} of {len(keys)} objects from {s3.url}: {shown}{more}")
        )


def _abort(s3: S3Connection, full_key: str, upload_id: str) -> bool:
    """Abort one upload; one that completed or was aborted meanwhile is not an error."""
    try:
        s3.client.abort_multipart_upload(Bucket=s3.where.bucket, Key=full_key, UploadId=upload_id)
    except ClientError as exc:
        if s3errors.error_code(exc) in {"NoSuchUpload", "404"}:
            return False
        raise
    return True
