"""Reports read from files instead of a cluster: the embedded default, air-gapped sites and tests.

Accepts a file or a directory (walked recursively, in name order) of YAML (one or many documents) and JSON, each
document a single object, a `kubectl get -o json` list or a bare array of objects (`jq .items`). Objects of kinds
outside the catalog are ignored and counted; a file that cannot be parsed is reported and the rest still read.

Input files may come from anywhere, so each costs a bounded amount: a document whose YAML aliases expand past
`MAX_NODES` values (a "billion laughs"), or that nests deeper than `MAX_DEPTH`, is refused as unreadable, like a
scalar where an object was expected. Nothing a report holds comes near either bound.
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
MAX_DEPTH = 100  # levels of nesting; reports use about 10, and orjson writes at most 255
MAX_NODES = 5_000_000  # values of one document once YAML aliases are expanded; the largest report has ~100,000

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
            for document in documents:
                _check_size(document)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            scan.unreadable.append(f"{file}: {_one_line(str(exc))[:300]}")
            continue
        except RecursionError:
            scan.unreadable.append(f"{file}: nested too deeply to parse (more than {MAX_DEPTH} levels)")
            continue
        for document in documents:
            if not isinstance(document, Mapping | list):
                scan.unreadable.append(f"{file}: a document is a {type(document).__name__}, not an object or a list")
                continue
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


def _check_size(document: Any) -> None:
    """ValueError when a document nests deeper than MAX_DEPTH or holds more than MAX_NODES values once its YAML
    aliases are expanded. Each distinct container is visited once (sizes of shared ones are remembered), so a
    crafted file costs what it takes to parse, not what it would expand to."""
    sizes: dict[int, tuple[int, int]] = {}  # id of a container -> (values below it, expanded; its height)
    open_: set[int] = set()  # containers whose children are being walked: meeting one again is a cycle
    stack: list[tuple[Any, bool]] = [(document, False)]
    while stack:
        value, children_done = stack.pop()
        if not isinstance(value, Mapping | list) or (not children_done and id(value) in sizes):
            continue
        children = list(value.values() if isinstance(value, Mapping) else value)
        if not children_done:
            if id(value) in open_:
                raise ValueError("a YAML alias refers to itself: the document is infinite")
            open_.add(id(value))
            stack.append((value, True))
            stack.extend((child, False) for child in children)
            continue
        below = [sizes.get(id(child), (1, 0)) for child in children]
        size, height = 1 + sum(count for count, _ in below), 1 + max((h for _, h in below), default=0)
        if size > MAX_NODES:
            raise ValueError(f"more than {MAX_NODES} values once YAML aliases are expanded (a 'billion laughs'?)")
        if height > MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
        sizes[id(value)] = (size, height)
        open_.discard(id(value))


def _objects(document: Any) -> Iterator[Any]:
    """A single object, or the items of a list (a bare array too); items of a typed list (`FooList`) inherit its
    kind."""
    if isinstance(document, list):
        yield from document
        return
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
