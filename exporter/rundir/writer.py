"""Writing a run directory: one streaming gzip JSON Lines file per kind, the manifest last.

Memory is bounded by what the caller holds (a page), never by the cluster: objects go to disk as they arrive,
and the checksum is computed over the compressed bytes as they are written, so nothing is read back.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from isal import igzip

from exporter.catalog import ReportKind
from exporter.rundir import layout

# Compression was the getter's largest cost (zlib level 3: 2.4 s of CPU for 5,000 reports of 30 KB, more than
# parsing and serialising together). ISA-L's level 1 writes the same gzip format about four times faster than
# zlib's level 3, at the same ratio (about a tenth on report JSON); every gzip reader reads it. docs/benchmarks.md.
DEFAULT_COMPRESSLEVEL = 1


@dataclass(frozen=True)
class WrittenFile:
    """What the manifest records of one kind's file."""

    path: str
    objects: int
    bytes: int
    sha256: str


class _HashingSink:
    """A binary file wrapper that hashes and counts what gzip writes through it."""

    def __init__(self, target: IO[bytes]) -> None:
        self._target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._target.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        self._target.flush()


class KindWriter:
    """Streams one kind's objects into `reports/<group>/<plural>.jsonl.gz`.

    `restart()` empties the file, for a list that must start over (an expired continue token): the file then
    holds one consistent listing, not two overlapping ones.
    """

    def __init__(self, run_dir: Path, kind: ReportKind, *, compresslevel: int = DEFAULT_COMPRESSLEVEL) -> None:
        self.relative_path = layout.kind_file(kind)
        self._path = run_dir / self.relative_path
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._compresslevel = compresslevel
        self._raw: IO[bytes] = open(self._path, "wb")  # noqa: SIM115 - closed in close()
        self._open_stream()

    def _open_stream(self) -> None:
        self._sink = _HashingSink(self._raw)
        # mtime=0 and no file name: the same objects give the same bytes, so checksums are reproducible.
        # Typed as the gzip.GzipFile it subclasses (isal leaves IGzipFile's methods unannotated).
        self._gzip: gzip.GzipFile = igzip.IGzipFile(  # type: ignore[no-untyped-call]
            filename="",
            mode="wb",
            fileobj=self._sink,
            compresslevel=self._compresslevel,
            mtime=0,
        )
        self.objects = 0

    def write(self, obj: Mapping[str, Any]) -> None:
        self.write_line(json_line(obj))

    def write_line(self, line: bytes) -> None:
        """One object already serialised as a JSON line (the getter's shallow objects write themselves)."""
        self._gzip.write(line)
        self.objects += 1

    def restart(self) -> None:
        self._gzip.close()
        self._raw.seek(0)
        self._raw.truncate()
        self._open_stream()

    def close(self) -> WrittenFile:
        """Finish the gzip stream and make it durable before the manifest can point at it."""
        self._gzip.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        return WrittenFile(str(self.relative_path), self.objects, self._sink.size, self._sink.digest.hexdigest())


def json_line(obj: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON and a newline; orjson is ~5x faster than json here, json takes what orjson refuses."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # integers beyond 64 bit, or a non-JSON value from a YAML input
        return (json.dumps(obj, separators=(",", ":"), ensure_ascii=False, default=str) + "\n").encode("utf-8")


def write_manifest(run_dir: Path, manifest: Mapping[str, Any]) -> Path:
    """Write manifest.json atomically: a reader sees no manifest or a whole one, never half of one."""
    target = layout.manifest_path(run_dir)
    temporary = target.with_name(f".{target.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    return target
