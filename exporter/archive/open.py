"""The one place that turns `archive.destination` into a Store, so callers never depend on a backend."""

from __future__ import annotations

from exporter.archive.filestore import FileStore
from exporter.archive.store import Store
from exporter.config import ArchiveSettings
from exporter.errors import ArchiveError

NO_DESTINATION = "no archive destination: set REPORT_EXPORTER_ARCHIVE to s3://bucket/prefix or file:///path"


def open_store(settings: ArchiveSettings) -> Store:
    """The store for the destination's scheme: `s3://bucket/prefix` or `file:///path`.

    boto3 is imported only for an s3:// destination: it takes a noticeable part of a second to import, and the
    offline default (a directory) does not need it.
    """
    destination = settings.destination
    if not destination:
        raise ArchiveError(NO_DESTINATION)
    scheme, separator, _ = destination.partition("://")
    if separator and scheme.lower() == "s3":
        from exporter.archive.s3store import S3Store  # noqa: PLC0415 - see the docstring

        return S3Store(settings)
    if separator and scheme.lower() == "file":
        return FileStore(destination)
    raise ArchiveError(f"archive destination {destination!r} is neither s3://bucket/prefix nor file:///path")
