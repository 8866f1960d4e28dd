"""What the uploader needs of an archive, whatever holds it: S3-compatible object storage or a directory.

Keys are relative to the destination's root (`s3://bucket/prefix` or `file:///path`); the store applies the
prefix, so the same key layout (`exporter.archive.keys`) serves both.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class StoredObject:
    key: str  # relative to the destination root
    size: int
    last_modified: datetime


class Store(Protocol):
    """An archive destination. Every method raises exporter.errors.ArchiveError with a one-line message."""

    url: str  # the destination as the user wrote it, without any secret

    def check(self) -> None:
        """Credentials work and the bucket exists (created only when configured to)."""

    def put_file(self, path: Path, key: str) -> None:
        """Upload a file and verify what the store holds (size and MD5 or multipart ETag) against it."""

    def put_bytes(self, data: bytes, key: str) -> None:
        """Upload a small object (the manifest), verified like put_file."""

    def get_file(self, key: str, path: Path) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Every object whose key starts with `prefix`, page by page."""

    def delete(self, keys: Sequence[str]) -> None:
        """Delete objects (batched); deleting a missing key is not an error."""

    def abort_stale_uploads(self, prefix: str, older_than: datetime) -> int:
        """Abort multipart uploads under `prefix` started before `older_than`; returns how many."""
