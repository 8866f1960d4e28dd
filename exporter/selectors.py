"""Kubernetes label selectors, evaluated locally for reports read from files.

Against a cluster the API server evaluates `labelSelector`; reading files, the same string must select the same
objects, so the grammar here is the API server's: `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`,
comma meaning AND.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

Matcher = Callable[[Mapping[str, str]], bool]

_KEY = r"(?P<key>[A-Za-z0-9][A-Za-z0-9_./-]*)"
_VALUE = r"[A-Za-z0-9_.-]*"
_SET = re.compile(rf"^{_KEY}\s+(?P<op>in|notin)\s+\((?P<values>\s*{_VALUE}\s*(,\s*{_VALUE}\s*)*)\)$")
_EQUALITY = re.compile(rf"^{_KEY}\s*(?P<op>==|=|!=)\s*(?P<value>{_VALUE})$")
_EXISTS = re.compile(rf"^(?P<neg>!?)\s*{_KEY}$")


class SelectorError(ValueError):
    """A label selector that the API server would reject too."""


def parse(selector: str) -> Matcher:
    """A predicate over an object's labels; the empty selector matches everything."""
    requirements = [_requirement(part.strip()) for part in _split(selector) if part.strip()]
    return lambda labels: all(requirement(labels) for requirement in requirements)


def _split(selector: str) -> list[str]:
    """Split on commas that are not inside `( )`."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _requirement(text: str) -> Matcher:
    if match := _SET.match(text):
        key, values = match["key"], {value.strip() for value in match["values"].split(",")}
        if match["op"] == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EQUALITY.match(text):
        key, value = match["key"], match["value"]
        if match["op"] == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS.match(text):
        key, negated = match["key"], bool(match["neg"])
        return lambda labels: (key in labels) != negated
    raise SelectorError(f"invalid label selector requirement {text!r}")
