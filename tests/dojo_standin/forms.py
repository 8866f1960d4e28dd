"""Request bodies and the error bodies Django REST framework and DefectDojo's exception handler write.

DefectDojo answers a serializer ``ValidationError`` with the field errors *and* a ``message`` holding
``str(exc)`` (``dojo/api_v2/exception_handler.py`` ``custom_exception_handler``: a 4xx whose ``str(exc)`` differs
from ``detail``), and a Django ``ValidationError`` raised inside an importer with only ``{"message": str(exc)}``.
The field readers below follow DRF's form semantics, which differ from JSON: a boolean missing from a multipart
form reads as its ``default`` or ``False`` (``Field.default_empty_html``), a blank string is refused unless
``allow_blank``.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import parse_qs

from tests.dojo_standin.records import JsonObject

# rest_framework/fields.py BooleanField.TRUE_VALUES / FALSE_VALUES as strings (what a form can carry).
TRUE_VALUES = frozenset({"t", "T", "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "1"})
FALSE_VALUES = frozenset({"f", "F", "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "0"})
# dojo/api_v2/exception_handler.py: the 500 body when System_Settings.api_expose_error_details is off (default).
INTERNAL_ERROR_MESSAGE = "Internal server error, check logs for details"


class ApiError(Exception):
    """An answer other than success: status, body and content type, raised from anywhere in the handling."""

    def __init__(self, status: int, body: Any, *, content_type: str = "application/json") -> None:
        super().__init__(status, body)
        self.status, self.body, self.content_type = status, body, content_type
        self.headers: list[tuple[str, str]] = []


def field_errors(errors: dict[str, list[tuple[str, str]]]) -> ApiError:
    """A serializer ValidationError: ``{field: [message]}`` plus the handler's ``message`` (its Python repr)."""
    body: JsonObject = {name: [message for message, _ in messages] for name, messages in errors.items()}
    detail = ", ".join(
        f"{name!r}: ["
        + ", ".join(f"ErrorDetail(string={message!r}, code={code!r})" for message, code in messages)
        + "]"
        for name, messages in errors.items()
    )
    body["message"] = "{" + detail + "}"
    return ApiError(400, body)


def django_validation_error(message: str) -> ApiError:
    """A ``django.core.exceptions.ValidationError``: the handler answers 400 with ``str(exc)``, a list's repr."""
    return ApiError(400, {"message": repr([message])})


def internal_error() -> ApiError:
    return ApiError(500, {"message": INTERNAL_ERROR_MESSAGE})


def detail(status: int, message: str) -> ApiError:
    return ApiError(status, {"detail": message})


@dataclass
class Upload:
    name: str
    content: bytes


@dataclass
class Form:
    """Decoded request fields: every value of every field, and uploaded files apart."""

    values: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)
    json_body: Any = None

    def first(self, name: str) -> str | None:
        found = self.values.get(name)
        return found[0] if found else None

    def __contains__(self, name: object) -> bool:
        return name in self.values or name in self.files

    def recorded(self) -> dict[str, str | tuple[str, ...]]:
        """What ``RecordedRequest.form`` keeps: single values as strings, repeated ones as tuples, no file bytes."""
        return {name: values[0] if len(values) == 1 else tuple(values) for name, values in self.values.items()}


def parse_body(content_type: str, body: bytes) -> Form:
    """The request body as DRF's parsers would read it; 415 for a media type the view has no parser for."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not body and not media_type:
        return Form()
    if media_type == "multipart/form-data":
        return _parse_multipart(content_type, body)
    if media_type == "application/x-www-form-urlencoded":
        return Form(values=parse_qs(body.decode("utf-8"), keep_blank_values=True))
    if media_type == "application/json":
        try:
            parsed = json.loads(body or b"null")
        except ValueError:
            raise ApiError(400, {"message": "JSON request content is malformed"}) from None
        return Form(json_body=parsed)
    raise detail(415, f'Unsupported media type "{media_type}" in request.')


def _parse_multipart(content_type: str, body: bytes) -> Form:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise ApiError(400, {"detail": "Multipart form parse error - Invalid boundary in multipart: None"})
    form = Form()
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            form.files[name] = Upload(filename, content)
        else:
            form.values.setdefault(name, []).append(content.decode("utf-8"))
    return form


class FieldReader:
    """Reads a form the way the serializer fields would, collecting every field error before refusing."""

    def __init__(self, form: Form) -> None:
        self.form = form
        self.errors: dict[str, list[tuple[str, str]]] = {}

    def fail(self, name: str, message: str, code: str) -> None:
        self.errors.setdefault(name, []).append((message, code))

    def check(self) -> None:
        if self.errors:
            raise field_errors(self.errors)

    def boolean(self, name: str, default: bool = False) -> bool:
        raw = self.form.first(name)
        if raw is None:
            return default
        if raw in TRUE_VALUES:
            return True
        if raw not in FALSE_VALUES:
            self.fail(name, "Must be a valid boolean.", "invalid")
        return False

    def optional_boolean(self, name: str) -> bool | None:
        """``active``/``verified``: ``setup_common_context`` passes None unless the field was sent."""
        return self.boolean(name) if name in self.form else None

    def char(self, name: str, *, required: bool = False) -> str | None:
        raw = self.form.first(name)
        if raw is None:
            if required:
                self.fail(name, "This field is required.", "required")
            return None
        if not raw.strip():
            self.fail(name, "This field may not be blank.", "blank")
            return None
        return raw.strip()

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        raw = self.form.first(name)
        if raw is None:
            return default
        if raw not in choices:
            self.fail(name, f'"{raw}" is not a valid choice.', "invalid_choice")
            return default
        return raw

    def day(self, name: str) -> date | None:
        raw = self.form.first(name)
        if raw is None or raw == "":
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.fail(name, "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.", "invalid")
            return None

    def primary_key(self, name: str, existing: dict[int, Any]) -> int | None:
        """A PrimaryKeyRelatedField: the id of an existing object, or the field's error."""
        raw = self.form.first(name)
        if raw is None or raw == "":
            return None
        if not raw.strip().isdigit():
            self.fail(name, f"Incorrect type. Expected pk value, received {type(raw).__name__}.", "incorrect_type")
            return None
        if int(raw) not in existing:
            self.fail(name, f'Invalid pk "{raw}" - object does not exist.', "does_not_exist")
            return None
        return int(raw)

    def tags(self, name: str = "tags") -> list[str]:
        """TagListSerializerField: each value split on commas (quoted parts kept whole)."""
        tags: list[str] = []
        for value in self.form.values.get(name, []):
            tags.extend(part.strip().strip('"') for part in _split_tags(value) if part.strip())
        return tags


def _split_tags(value: str) -> list[str]:
    parts, current, quoted = [], "", False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def json_object(form: Form) -> JsonObject:
    """A JSON or form body as one object of field to value (the model endpoints take either)."""
    if form.json_body is not None:
        if not isinstance(form.json_body, dict):
            got = type(form.json_body).__name__
            raise field_errors(
                {"non_field_errors": [(f"Invalid data. Expected a dictionary, but got {got}.", "invalid")]}
            )
        return dict(form.json_body)
    return {name: values[-1] for name, values in form.values.items()}
