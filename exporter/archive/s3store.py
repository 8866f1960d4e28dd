"""Archive to S3-compatible object storage: OpenStack Swift's s3api, Ceph RGW, MinIO or AWS.

`S3Store` is the Store the uploader sees; the work is done by one module per concern:

* `s3client`: the client (endpoint, credentials, region, TLS, botocore settings and the hooks old Swift needs),
  the destination's keys, and failures turned into one-line ArchiveErrors with no secret in them;
* `s3transfers`: uploads verified against the store's ETag, downloads, and the digests they rely on;
* `s3bucket`: checking or creating the bucket, listing, deleting, aborting stale multipart uploads;
* `s3errors`: the wording of every failure, with the cause, the endpoint and bucket, and what to do.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from exporter.archive import s3bucket
from exporter.archive.s3bucket import DELETE_BATCH, LIST_PAGE
from exporter.archive.s3client import (
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    InsecureArchiveWarning,
    S3Connection,
    S3Destination,
)
from exporter.archive.s3transfers import Digest, S3Transfers, digest_stream
from exporter.archive.store import StoredObject
from exporter.config import ArchiveSettings

__all__ = [
    "CONNECT_TIMEOUT",
    "DELETE_BATCH",
    "LIST_PAGE",
    "READ_TIMEOUT",
    "Digest",
    "InsecureArchiveWarning",
    "S3Destination",
    "S3Store",
    "digest_stream",
]


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
        self._s3 = S3Connection(settings)
        self.url: str = self._s3.url
        self.endpoint: str = self._s3.endpoint
        self.warning: str | None = self._s3.warning
        # the client and the destination, for tests that hook into the requests or check the bucket directly
        self._client = self._s3.client
        self._where = self._s3.where
        self._create_bucket: bool = settings.create_bucket
        self._list_page_size = max(1, min(list_page_size, LIST_PAGE))
        self._delete_batch_size = max(1, min(delete_batch_size, DELETE_BATCH))
        self._transfers = S3Transfers(self._s3, settings)

    def check(self) -> None:
        """HEAD the bucket; create it when it is missing and `create_bucket` is set."""
        s3bucket.check_bucket(self._s3, create=self._create_bucket)

    def put_file(self, path: Path, key: str) -> None:
        self._transfers.put_file(path, key)

    def put_bytes(self, data: bytes, key: str) -> None:
        """put_object with Content-MD5, so the stores that check it refuse a body damaged on the way."""
        self._transfers.put_bytes(data, key)

    def get_file(self, key: str, path: Path) -> None:
        """Managed download: ranged GETs in parallel into a temporary file renamed into place when complete."""
        self._transfers.get_file(key, path)

    def get_bytes(self, key: str) -> bytes:
        return self._transfers.get_bytes(key)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """ListObjectsV2 page by page, in the store's (lexicographic) order."""
        yield from s3bucket.list_objects(self._s3, prefix, page_size=self._list_page_size)

    def delete(self, keys: Sequence[str]) -> None:
        """DeleteObjects in batches; a key the store reports it could not delete is an error."""
        s3bucket.delete_objects(self._s3, keys, batch_size=self._delete_batch_size)

    def abort_stale_uploads(self, prefix: str, older_than: datetime) -> int:
        """Abort multipart uploads a crashed run left behind: their parts cost storage but no listing shows them."""
        return s3bucket.abort_stale_uploads(self._s3, prefix, older_than)
