"""Shared fixtures: a settings factory, and a DefectDojo stand-in with the get + sync harness around it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.config import Settings, load_settings
from tests.dojo_harness import TOKEN, Harness
from tests.dojo_standin import DojoStandin
from tests.kube_standin import StandinFactory


@pytest.fixture
def settings_with() -> Callable[..., Settings]:
    """Settings from dotted flags only, independent of the developer's environment."""

    def make(**flags: Any) -> Settings:
        return load_settings(environ={}, flags={key.replace("__", "."): value for key, value in flags.items()})

    return make


@pytest.fixture
def dojo() -> Iterator[DojoStandin]:
    """A DefectDojo stand-in taking the harness's token; a test module needing another one defines its own."""
    with DojoStandin(token=TOKEN) as standin:
        yield standin


@pytest.fixture
def harness(tmp_path: Path, dojo: DojoStandin) -> Harness:
    """Get + sync night after night into `dojo`, with the state kept in a directory archive."""
    return Harness(tmp_path, dojo)


@pytest.fixture
def standins() -> Iterator[StandinFactory]:
    """Kubernetes API stand-ins, as many as a test starts, all closed after it."""
    factory = StandinFactory()
    yield factory
    factory.close_all()
