"""The configuration page documents every environment variable the code reads."""

from pathlib import Path

from exporter.config import ENVIRONMENT

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_environment_variable_and_key_is_documented() -> None:
    text = DOC.read_text()
    for name, (key, _) in ENVIRONMENT.items():
        assert f"`{name}`" in text, name
        assert f"`{key}`" in text, key
