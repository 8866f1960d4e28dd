"""Archive to a local directory (`file:///path`): the embedded default, offline use and tests.

Keys map to paths under the root exactly as they map to object names under an S3 prefix, so an archive can be
copied between the two with any sync tool. Writes are atomic: a hidden temporary file next to the target is written,
fsynced, verified (size and MD5) and renamed into place, so a reader or a crash never sees half an object. Temporary
files a crash leaves behind play the part of S3's incomplete multipart uploads: `abort_stale_uploads` removes them.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit

from exporter.archive.store import StoredObject
from exporter.errors import ArchiveError, MissingObjectError

TEMP_SUFFIX = ".report-exporter-tmp"  # names `.<name>.<random>.report-exporter-tmp`, hidden from `list`
_BLOCK = 1024 * 1024


def root_from_url(url: str) -> Path:
    """`file:///abs/path` (or `file://localhost/abs/path`) to a path; a host or a relative path is refused."""
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise ArchiveError(f"archive destination {url!r} is not of the form file:///absolute/path")
    return Path(unquote(parts.path))


def _is_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def _copy_hashing(source: IO[bytes], target: IO[bytes] | None = None) -> tuple[int, str]:
    """Read block by block, writing to `target` if given; returns the size and hex MD5 of what was read."""
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    while block := source.read(_BLOCK):
        if target is not None:
            target.write(block)
        digest.update(block)
        size += len(block)
    return size, digest.hexdigest()


def _file_digest(path: Path) -> tuple[int, str]:
    with path.open("rb") as stream:
        return _copy_hashing(stream)


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable; some filesystems cannot open a directory for that, which is no reason to fail."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class FileStore:
    """An archive in a directory; keys are relative paths below it, with `/` as separator."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.root = root_from_url(url)

    # ---- Store --------------------------------------------------------------------------------------------

    def check(self) -> None:
        """Create the root and prove it is writable by writing and removing a probe file."""
        with self._errors(f"check {self.url}", self.root):
            self.root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.root, prefix=".check.", suffix=TEMP_SUFFIX)
            os.close(fd)
            os.unlink(probe)

    def put_file(self, path: Path, key: str) -> None:
        target = self._path(key)
        with self._errors(f"store {path} as {key} in {self.url}", path), path.open("rb") as source:
            self._write(source, target, f"{path}")

    def put_bytes(self, data: bytes, key: str) -> None:
        target = self._path(key)
        with self._errors(f"store {key} in {self.url}", target):
            self._write(io.BytesIO(data), target, f"{len(data)} bytes in memory")

    def get_file(self, key: str, path: Path) -> None:
        source = self._existing(key)
        with self._errors(f"copy {key} from {self.url} to {path}", path):
            path.parent.mkdir(parents=True, exist_ok=True)
            with source.open("rb") as stream:
                self._write(stream, path, str(source))

    def get_bytes(self, key: str) -> bytes:
        source = self._existing(key)
        with self._errors(f"read {key} from {self.url}", source):
            return source.read_bytes()

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Every stored object under `prefix`, sorted by key like an S3 listing (temporary files are skipped)."""
        found = sorted(self._walk(prefix, temporary=False), key=lambda pair: pair[0])
        for key, path in found:
            with self._errors(f"list {self.url}", path):
                try:
                    stat = path.stat()
                except FileNotFoundError:  # deleted since the walk, as in a listing taken a moment later
                    continue
            yield StoredObject(key=key, size=stat.st_size, last_modified=datetime.fromtimestamp(stat.st_mtime, UTC))

    def delete(self, keys: Sequence[str]) -> None:
        """Remove files (a missing one is fine) and then the directories left empty, up to the root."""
        for key in keys:
            path = self._path(key)
            with self._errors(f"delete {key} from {self.url}", path):
                path.unlink(missing_ok=True)
            self._prune(path.parent)

    def abort_stale_uploads(self, prefix: str, older_than: datetime) -> int:
        """Remove temporary files under `prefix` last written before `older_than` (a crashed write's leftovers)."""
        cutoff = (older_than if older_than.tzinfo else older_than.replace(tzinfo=UTC)).timestamp()
        removed = 0
        for _, path in self._walk(prefix, temporary=True):
            with self._errors(f"remove the stale temporary file {path}", path):
                if path.stat().st_mtime >= cutoff:
                    continue
                path.unlink(missing_ok=True)
            removed += 1
            self._prune(path.parent)
        return removed

    # ---- helpers ------------------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        """The file for a key; a key that could leave the root or collide with a temporary file is refused."""
        segments = key.split("/")
        if not key or key.startswith("/") or any(part in ("", ".", "..") for part in segments):
            raise ArchiveError(f"invalid archive key {key!r}: keys are relative paths below {self.url}")
        if _is_temp(segments[-1]):
            raise ArchiveError(f"invalid archive key {key!r}: names ending in {TEMP_SUFFIX} are temporary files")
        return self.root.joinpath(*segments)

    def _existing(self, key: str) -> Path:
        path = self._path(key)
        if not path.is_file():
            raise MissingObjectError(f"there is no object {key} in {self.url} (no file {path})")
        return path

    def _write(self, source: IO[bytes], target: Path, described: str) -> None:
        """Temporary file, fsync, verify size and MD5 of what landed on disk, then rename over the target."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=TEMP_SUFFIX)
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as stream:
                size, md5 = _copy_hashing(source, stream)
                stream.flush()
                os.fsync(stream.fileno())
            written = _file_digest(temp)
            if written != (size, md5):
                raise ArchiveError(
                    f"verification of {target} failed: it holds {written[0]} bytes with MD5 {written[1]}, but "
                    f"{described} has {size} bytes with MD5 {md5}; check the disk"
                )
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_directory(target.parent)

    def _walk(self, prefix: str, *, temporary: bool) -> Iterator[tuple[str, Path]]:
        """(key, path) of the files under `prefix`; with `temporary`, the temporary files, keyed by their target."""
        if not self.root.is_dir():
            raise ArchiveError(f"archive directory {self.root} ({self.url}) does not exist; check the destination")
        directory, _, _ = prefix.rpartition("/")
        start = self._path(directory) if directory else self.root
        for dirpath, _dirs, names in os.walk(start, onerror=self._walk_error):
            relative = Path(dirpath).relative_to(self.root).as_posix()
            base = "" if relative == "." else f"{relative}/"
            for name in names:
                if _is_temp(name) != temporary:
                    continue
                key = base + (_temp_target(name) if temporary else name)
                if key.startswith(prefix):
                    yield key, Path(dirpath, name)

    def _walk_error(self, error: OSError) -> None:
        if not isinstance(error, FileNotFoundError):
            raise ArchiveError(f"cannot list {self.url}: {error.strerror or error} ({error.filename})")

    def _prune(self, directory: Path) -> None:
        """Remove empty directories from `directory` up to (not including) the root; stop at the first non-empty."""
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    @contextmanager
    def _errors(self, action: str, path: Path) -> Iterator[None]:
        """One ArchiveError line for an OSError, naming the action and the file."""
        try:
            yield
        except ArchiveError:
            raise
        except OSError as exc:
            where = exc.filename or path
            raise ArchiveError(f"cannot {action}: {exc.strerror or exc} ({where})") from exc


def _temp_target(name: str) -> str:
    """`.<name>.<random>.report-exporter-tmp` back to `<name>`, the key it was going to become."""
    stem = name.removesuffix(TEMP_SUFFIX).removeprefix(".")
    return stem.rpartition(".")[0] or stem
