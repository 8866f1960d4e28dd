"""The DefectDojo client at the edges found by mutation testing.

- The API key: DD_API_KEY, or a mounted file (a Kubernetes Secret as a volume) read as UTF-8 and stripped of its
  trailing newline, or a message that names the setting to fix, never the key.
- The reimport form: what DefectDojo makes of the findings (active, not verified, the minimum severity) is sent
  word for word; a field DefectDojo does not know is silently ignored by it, so only the form itself shows it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.config import load_settings
from exporter.dojo import client as dojo_client  # by its module: pytest would collect a Test* class
from exporter.dojo.client import DojoClient, resolve_api_key
from exporter.errors import ConfigError, DojoError
from tests.dojo_standin import DojoStandin
from tests.test_dojo_sync import TOKEN


def test_the_api_key_is_read_from_its_mounted_file_without_the_newline(tmp_path: Path) -> None:
    key_file = tmp_path / "api-key"
    key_file.write_bytes("clé-0123\n".encode())
    settings = load_settings(environ={"REPORT_EXPORTER_DD_API_KEY_FILE": str(key_file)}).dojo
    assert resolve_api_key(settings) == "clé-0123"


def test_dd_api_key_wins_over_the_file(tmp_path: Path) -> None:
    settings = load_settings(environ={"DD_API_KEY": "from-env", "REPORT_EXPORTER_DD_API_KEY_FILE": "/nonexistent"})
    assert resolve_api_key(settings.dojo) == "from-env"


def test_an_unreadable_key_file_names_the_setting_and_the_reason(tmp_path: Path) -> None:
    settings = load_settings(environ={"REPORT_EXPORTER_DD_API_KEY_FILE": str(tmp_path / "missing")}).dojo
    with pytest.raises(ConfigError) as raised:
        resolve_api_key(settings)
    assert str(raised.value) == f"cannot read dojo.api_key_file {tmp_path / 'missing'}: No such file or directory"


def test_no_key_at_all_says_which_settings_to_set() -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_api_key(load_settings(environ={}).dojo)
    assert str(raised.value) == (
        "DefectDojo is configured (DD_URL) but has no API key: set DD_API_KEY or dojo.api_key_file"
    )


@pytest.mark.parametrize("auto_create", [True, False])
def test_a_reimport_sends_active_unverified_findings_above_the_minimum_severity(auto_create: bool) -> None:
    context = dojo_client.TestContext(
        product_type="Kubernetes",
        product="prod",
        engagement="trivy-operator",
        title="vulnerability shop",
        scan_type="Trivy Operator Scan",
        service="prod/trivy-operator/vulnerability/shop",
    )
    with DojoStandin(token=TOKEN) as dojo:
        flags = {"dojo.url": dojo.url, "dojo.retries": 0, "dojo.minimum_severity": "Medium",
                 "dojo.auto_create_context": auto_create}  # fmt: skip
        client = DojoClient(load_settings(environ={}, flags=flags).dojo, api_key=TOKEN)
        try:
            client.reimport(context, b"[]", test_id=None)
        except DojoError:
            if auto_create:
                raise
            # without auto_create_context DefectDojo refuses a product it does not have; the form was sent
        finally:
            client.close()
        [sent] = dojo.requests
    fields = ("active", "verified", "minimum_severity", "close_old_findings", "auto_create_context")
    assert {name: sent.form.get(name) for name in fields} == {
        "active": "true",
        "verified": "false",
        "minimum_severity": "Medium",
        "close_old_findings": "true",
        "auto_create_context": "true" if auto_create else "false",
    }
