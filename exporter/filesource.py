"""Reports read from files instead of a cluster: the embedded default, air-gapped sites and tests.

Accepts a file or a directory (walked recursively, in name order) of YAML (one or many documents) and JSON, each
document a single object or a `kubectl get -o json` list. Objects of kinds outside the catalog are ignored and
counted; a file that cannot be parsed is reported and the rest still read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from exporter import catalog
from exporter.catalog import ReportKind

SUFFIXES = (".yaml", ".yml", ".json")

try:  # libyaml's loader is several times faster; PyYAML wheels ship it
    _LOADER: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - only on builds without libyaml
    _LOADER = yaml.SafeLoader


@dataclass
class FileScan:
    """Side results of reading files: what was ignored and what could not be read."""

    ignored: dict[str, int] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)


def input_files(path: Path) -> list[Path]:
    """The files to read under `path`, in a stable order."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is neither a file nor a directory")
    return sorted(candidate for candidate in path.rglob("*") if candidate.suffix in SUFFIXES and candidate.is_file())


def iter_report_objects(path: Path, scan: FileScan) -> Iterator[tuple[ReportKind, dict[str, Any]]]:
    """Every catalog object under `path`, with its kind; non-catalog objects and bad files go into `scan`."""
    for file in input_files(path):
        try:
            documents = list(_documents(file))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            scan.unreadable.append(f"{file}: {_one_line(str(exc))[:300]}")
            continue
        for document in documents:
            for obj in _objects(document):
                kind = _catalog_kind(obj)
                if kind is None:
                    label = f"{obj.get('apiVersion', '?')}/{obj.get('kind', '?')}" if isinstance(obj, Mapping) else "?"
                    scan.ignored[label] = scan.ignored.get(label, 0) + 1
                    continue
                yield kind, obj


def _documents(file: Path) -> Iterator[Any]:
    text = file.read_text(encoding="utf-8")
    if file.suffix == ".json":
        yield json.loads(text)
        return
    yield from (document for document in yaml.load_all(text, Loader=_LOADER) if document is not None)


def _objects(document: Any) -> Iterator[Any]:
    """A single object, or the items of a list; items of a typed list (`FooList`) inherit its kind."""
    if not isinstance(document, Mapping):
        yield document
        return
    kind = str(document.get("kind") or "")
    items = document.get("items")
    if not (kind.endswith("List") and isinstance(items, list)):
        yield document
        return
    item_kind = kind.removesuffix("List") if kind != "List" else None
    for item in items:
        if isinstance(item, dict) and item_kind and "kind" not in item:
            yield {"apiVersion": document.get("apiVersion"), "kind": item_kind, **item}
        else:
            yield item


def _catalog_kind(obj: Any) -> ReportKind | None:
    if not isinstance(obj, Mapping):
        return None
    api_version, kind = str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
    exact = catalog.by_api_kind(api_version, kind)
    return exact or catalog.by_group_kind(api_version.partition("/")[0], kind)


def _one_line(text: str) -> str:
    return " ".join(text.split())
