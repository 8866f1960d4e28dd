"""Moving objects in and out of S3, and proving an upload arrived whole.

Every upload is checked against the ETag the store answered it with (or a HEAD when it answered none): size and
MD5, or the multipart ETag computed locally, because some stores accept bytes they never check.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from boto3.s3.transfer import TransferConfig
from s3transfer.utils import ChunksizeAdjuster

from exporter.archive.s3client import S3Connection, content_md5
from exporter.config import ArchiveSettings
from exporter.errors import ArchiveError

_HASH_BLOCK = 1024 * 1024
_KEY_CONTEXT = "report_exporter_key"


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


class S3Transfers:
    """Verified uploads and managed downloads of single objects through one connection."""

    def __init__(self, s3: S3Connection, settings: ArchiveSettings) -> None:
        self._s3 = s3
        # The ETag the store answers an upload with is its MD5 of what it stored: kept per key, it verifies the
        # upload without a HEAD round trip (the managed transfer does not return it).
        self._stored_etags: dict[str, str] = {}
        for operation in ("PutObject", "CompleteMultipartUpload"):
            s3.client.meta.events.register(f"before-parameter-build.s3.{operation}", _remember_key)
            s3.client.meta.events.register(f"after-call.s3.{operation}", self._remember_etag)
        self.config = TransferConfig(
            multipart_threshold=settings.multipart_threshold,
            multipart_chunksize=settings.multipart_chunksize,
            max_concurrency=settings.max_concurrency,
            # the classic transfer manager cuts parts of multipart_chunksize, which the ETag check relies on;
            # the CRT one (used when awscrt is installed) picks its own part size
            preferred_transfer_client="classic",
        )

    def put_file(self, path: Path, key: str) -> None:
        s3 = self._s3
        full = s3.key(key)
        action = f"upload {path} to {s3.object_url(key)}"
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ArchiveError(f"cannot {action}: cannot read {path}: {exc.strerror or exc}") from None
        part_size = ChunksizeAdjuster().adjust_chunksize(self.config.multipart_chunksize, size)
        # The local digest is taken while the file uploads (hashing releases the GIL), not before: for the largest
        # file of a run that is a read of tens of MiB off the critical path.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest") as hasher:
            local = hasher.submit(_digest_file, path, part_size)
            with s3.errors(action, key=key):
                s3.client.upload_file(str(path), s3.where.bucket, full, Config=self.config)
            try:
                digest = local.result()
            except OSError as exc:
                raise ArchiveError(f"cannot {action}: cannot read {path}: {exc.strerror or exc}") from None
        self._verify(key, digest, multipart=size >= self.config.multipart_threshold, source=str(path))

    def put_bytes(self, data: bytes, key: str) -> None:
        """put_object with Content-MD5, so the stores that check it refuse a body damaged on the way."""
        s3 = self._s3
        with s3.errors(f"upload {s3.object_url(key)}", key=key):
            s3.client.put_object(Bucket=s3.where.bucket, Key=s3.key(key), Body=data, ContentMD5=content_md5(data))
        digest = Digest(len(data), hashlib.md5(data, usedforsecurity=False).hexdigest(), ())
        self._verify(key, digest, multipart=False, source=f"{len(data)} bytes in memory")

    def get_file(self, key: str, path: Path) -> None:
        """Managed download: ranged GETs in parallel into a temporary file renamed into place when complete."""
        s3 = self._s3
        path.parent.mkdir(parents=True, exist_ok=True)
        with s3.errors(f"download {s3.object_url(key)} to {path}", key=key):
            s3.client.download_file(s3.where.bucket, s3.key(key), str(path), Config=self.config)

    def get_bytes(self, key: str) -> bytes:
        s3 = self._s3
        with s3.errors(f"download {s3.object_url(key)}", key=key):
            response = s3.client.get_object(Bucket=s3.where.bucket, Key=s3.key(key))
            return cast(bytes, response["Body"].read())

    def _remember_etag(self, parsed: Any = None, context: Any = None, **_: Any) -> None:
        """after-call hook: the ETag of a successful PutObject or CompleteMultipartUpload, by key."""
        key = (context or {}).get(_KEY_CONTEXT)
        etag = parsed.get("ETag") if isinstance(parsed, dict) and "Error" not in parsed else None
        if key and etag:
            self._stored_etags[key] = str(etag).strip('"').lower()

    def _verify(self, key: str, digest: Digest, *, multipart: bool, source: str) -> None:
        """Compare the ETag the store answered the upload with (an MD5 of what it stored, so size too) with what
        was sent; HEAD the object when the store answered none."""
        s3 = self._s3
        url = s3.object_url(key)
        expected = digest.etag(multipart=multipart)
        stored_etag = self._stored_etags.pop(s3.key(key), None)
        stored_size = digest.size
        if stored_etag is None:
            with s3.errors(f"verify {url}", key=key):
                head = s3.client.head_object(Bucket=s3.where.bucket, Key=s3.key(key))
            stored_size = int(head.get("ContentLength", -1))
            stored_etag = str(head.get("ETag", "")).strip('"').lower()
        if stored_size != digest.size or stored_etag != expected:
            raise ArchiveError(
                f"verification of {url} failed: the store holds {stored_size} bytes with ETag {stored_etag or '-'}, "
                f"but {source} has {digest.size} bytes and ETag {expected}; the object was damaged or replaced "
                "during the upload: run again"
            )


def _digest_file(path: Path, part_size: int) -> Digest:
    with path.open("rb") as stream:
        return digest_stream(stream, part_size)


def _remember_key(params: Any = None, context: Any = None, **_: Any) -> None:
    """before-parameter-build hook: note the upload's key in the request context its after-call hook sees."""
    if isinstance(params, dict) and isinstance(context, dict) and "Key" in params:
        context[_KEY_CONTEXT] = params["Key"]
