"""List pages decoded one level deep: each object's top-level values stay the raw JSON the API server sent.

Decoding was the getter's largest cost. A page of 100 VulnerabilityReports is 3 MB of JSON that becomes about
65,000 Python objects, and all of that work only serves to write the same JSON back out. The getter needs just
five things from an object:
- its name and namespace (for filters and de-duplication);
- whether its report is there (for Kubescape's lists and for the checks);
- its annotations (Kubescape's `too-large` marker);
- apiVersion/kind restored;
- managedFields dropped.

msgspec decodes each item into `{key: Raw}`, keeping every top-level value as its JSON bytes; the metadata is
decoded one level further only when asked. The line written is those bytes re-joined, so the report body is
copied, never parsed. Measured on a real kube-apiserver page: 5.5 ms instead of 28 ms for parsing, cleaning and
serialising 100 reports (docs/benchmarks.md).

The content is the same as a full decode gives (tests/test_shallow.py). The bytes can differ: a value is written
as the server spelled it (Go escapes `<` as `\\u003c`, for instance), which every JSON reader reads alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import Raw

from exporter import normalize
from exporter.catalog import ReportKind


class _ListMeta(msgspec.Struct, frozen=True):
    continue_: str | None = msgspec.field(name="continue", default=None)


class _Page(msgspec.Struct, frozen=True):
    items: list[dict[str, Raw]] | None = None
    metadata: _ListMeta | None = None


_PAGE = msgspec.json.Decoder(_Page)
_FIELDS = msgspec.json.Decoder(dict[str, Raw])
_ZERO_SPEC_MAX = 4096
"""Bytes up to which a payload is read to tell a zero-filled spec from a report (ShallowObject.has_object)."""
_ANNOTATIONS = msgspec.json.Decoder(dict[str, Any])
_ENCODER = msgspec.json.Encoder()
_STRING = msgspec.json.Decoder(str)


class ShallowObject:
    """A report object as `{top-level key: raw JSON value}`, with the few fields the getter reads decoded."""

    __slots__ = ("_fields", "_metadata")

    def __init__(self, fields: dict[str, Raw]) -> None:
        self._fields = fields
        self._metadata: dict[str, Raw] | None = None

    @classmethod
    def decode(cls, body: bytes) -> ShallowObject:
        """One object's JSON (a GET's response); ValueError when it is not a JSON object."""
        try:
            return cls(_FIELDS.decode(body))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ValueError(str(exc)) from None

    @classmethod
    def from_mapping(cls, obj: Mapping[str, Any]) -> ShallowObject:
        """An object that was decoded in full (the fallback for pages msgspec's schema refused)."""
        return cls({str(key): Raw(_encode(value)) for key, value in obj.items()})

    # ---- what the getter reads ----------------------------------------------------------------------------

    @property
    def metadata(self) -> dict[str, Raw] | None:
        """The metadata, one level deep; None when it is missing or not an object."""
        if self._metadata is None:
            raw = self._fields.get("metadata")
            if raw is None or not _is_object(raw):
                return None
            self._metadata = _FIELDS.decode(raw)
        return self._metadata

    @property
    def name(self) -> str:
        return _text(self.metadata, "name")

    @property
    def namespace(self) -> str:
        return _text(self.metadata, "namespace")

    def has_object(self, key: str) -> bool:
        """Whether the top-level `key` holds a JSON object with something in it (a report's payload).

        An object whose every value is zero, empty or null is no report: kubescape/storage's plain LIST (without
        `resourceVersion=fullSpec`) returns each item's spec zero-filled (every severity count 0, `matches: null`),
        not left out, as its real server showed (docs/kubescape-storage.md). Taken for a report, that would archive
        an empty scan and close every finding of the workload in DefectDojo. A real report always names something
        (its scanner, its image, its workload), so a false alarm costs one GET. Only small objects are read: a
        zero-filled spec is a few hundred bytes, and anything over _ZERO_SPEC_MAX bytes holds more than zeros.
        """
        raw = self._fields.get(key)
        if raw is None or not _is_object(raw):
            return False
        if len(raw) > _ZERO_SPEC_MAX:
            return True
        try:
            return _has_content(msgspec.json.decode(raw))
        except (RecursionError, msgspec.DecodeError):
            return True  # something, if odd: judged like any payload (normalize.check_facts), not fetched again

    def annotation(self, key: str) -> str:
        metadata = self.metadata
        raw = metadata.get("annotations") if metadata else None
        if raw is None or not _is_object(raw):
            return ""
        value = _ANNOTATIONS.decode(raw).get(key)
        return value if isinstance(value, str) else ""

    def check(self, kind: ReportKind) -> normalize.Checks:
        """What is wrong with the object (normalize.check_facts: the same checks as a full decode)."""
        raw = self._fields.get(kind.payload_key)
        return normalize.check_facts(
            kind,
            has_metadata=self.metadata is not None,
            name=self.name,
            namespace=self.namespace,
            served_kind=_text(self._fields, "kind"),
            has_payload=raw is not None and _is_object(raw),
        )

    def describe(self) -> str:
        return normalize.describe_of(has_metadata=self.metadata is not None, name=self.name, namespace=self.namespace)

    # ---- what the getter writes ---------------------------------------------------------------------------

    def line(self, kind: ReportKind) -> bytes:
        """The object as one JSON line: apiVersion and kind first (restored if the list left them out), then
        everything else as served, metadata without managedFields."""
        fields = dict(self._fields)
        api_version = fields.pop("apiVersion", None) or Raw(_encode(kind.api_version))
        kind_name = fields.pop("kind", None) or Raw(_encode(kind.kind))
        metadata = self.metadata
        if metadata is not None and "managedFields" in metadata:
            fields["metadata"] = Raw(_encode({key: value for key, value in metadata.items() if key != "managedFields"}))
        return _ENCODER.encode({"apiVersion": api_version, "kind": kind_name, **fields}) + b"\n"

    def value(self, key: str) -> Any:
        """One top-level value decoded in full, None when absent: for the one kind whose report is changed on its
        way to disk (exposed secrets, exporter/secretmask.py); every other kind stays undecoded."""
        raw = self._fields.get(key)
        return None if raw is None else msgspec.json.decode(raw)

    def replaced(self, key: str, value: Any) -> ShallowObject:
        """A copy with one top-level value replaced; every other value stays the bytes the server sent."""
        return ShallowObject({**self._fields, key: Raw(_encode(value))})

    def to_dict(self) -> dict[str, Any]:
        """The whole object, decoded (for tests and callers that need more than the getter does)."""
        return {key: msgspec.json.decode(value) for key, value in self._fields.items()}


@dataclass(frozen=True)
class Page:
    """One list response: its items (ShallowObjects, or what was not an object, as served) and the continue token."""

    items: list[Any]
    continue_token: str


def decode_page(body: bytes) -> Page:
    """A list response; ValueError when it is not JSON or not a list object.

    An item that is not an object fails msgspec's schema for the whole page; that page is then decoded in full,
    and its odd items are passed on as they are, for the getter to report.
    """
    try:
        page = _PAGE.decode(body)
        items: list[Any] = [ShallowObject(fields) for fields in page.items or ()]
        token = page.metadata.continue_ if page.metadata else None
        return Page(items, token or "")
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from None
    document = msgspec.json.decode(body)
    if not isinstance(document, dict):
        raise ValueError("a list response that is not a JSON object")
    listed = document.get("items") or []
    items = [ShallowObject.from_mapping(item) if isinstance(item, dict) else item for item in listed]
    return Page(items, str((document.get("metadata") or {}).get("continue") or ""))


def _has_content(value: Any) -> bool:
    """Whether a decoded JSON value holds anything but zeros, empty strings, empty containers and nulls.

    A loop, not recursion: the value comes from the API, and 4 KiB of `[` nest deeper than Python's stack."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif item:
            return True
    return False


def _is_object(raw: Raw) -> bool:
    """msgspec's Raw starts at the value's first byte, so no copy or strip is needed to see what it is."""
    return memoryview(raw)[:1].tobytes() == b"{"


def _text(fields: Mapping[str, Raw] | None, key: str) -> str:
    """A metadata field as text, as `str(metadata.get(key) or "")` reads it from a full decode."""
    raw = fields.get(key) if fields else None
    if raw is None:
        return ""
    try:
        return _STRING.decode(raw)
    except msgspec.ValidationError:  # not a string: a malformed object, read as the full decode reads it
        value = msgspec.json.decode(raw)
        return str(value) if value else ""


def _encode(value: Any) -> bytes:
    """JSON of a decoded value; msgspec takes what orjson refuses (integers beyond 64 bit)."""
    return _ENCODER.encode(value)
