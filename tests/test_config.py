from pathlib import Path

import pytest

from exporter.config import LogFormat, load_settings
from exporter.errors import ConfigError, ExitCode


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    return path


def test_defaults_need_no_file_and_no_environment() -> None:
    settings = load_settings(environ={})
    assert settings.cluster == "default"
    assert settings.kube.page_size == 500
    assert settings.log_format is LogFormat.AUTO


def test_flags_win_over_environment_which_wins_over_the_file(tmp_path: Path) -> None:
    config = write(tmp_path, "cluster: from-file\nkube:\n  page_size: 10\n  context: file-ctx\n")
    environ = {"REPORT_EXPORTER_CLUSTER": "from-env", "REPORT_EXPORTER_PAGE_SIZE": "20"}
    settings = load_settings(config_file=config, environ=environ, flags={"kube.page_size": 30, "cluster": None})
    assert settings.cluster == "from-env"
    assert settings.kube.page_size == 30
    assert settings.kube.context == "file-ctx"


def test_config_file_can_come_from_the_environment(tmp_path: Path) -> None:
    config = write(tmp_path, "cluster: prod-eu-1\n")
    assert load_settings(environ={"REPORT_EXPORTER_CONFIG": str(config)}).cluster == "prod-eu-1"


def test_lists_come_comma_separated_from_the_environment() -> None:
    settings = load_settings(environ={"REPORT_EXPORTER_EXCLUDE_NAMESPACES": "kube-system, kubescape"})
    assert settings.filters.exclude_namespaces == ("kube-system", "kubescape")


def test_a_bad_value_names_its_key_and_origin() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={"REPORT_EXPORTER_PAGE_SIZE": "0"})
    message = str(raised.value)
    assert "'kube.page_size'" in message and "REPORT_EXPORTER_PAGE_SIZE" in message
    assert raised.value.exit_code is ExitCode.USAGE


def test_an_unknown_key_in_the_file_is_an_error_not_ignored(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'kube.page_sise'.*unknown setting"):
        load_settings(config_file=write(tmp_path, "kube:\n  page_sise: 5\n"), environ={})


def test_an_unknown_report_kind_is_caught_before_the_run() -> None:
    with pytest.raises(ConfigError, match=r"'filters.kinds'.*unknown report kind 'vulns'"):
        load_settings(environ={}, flags={"filters.kinds": ["vulns"]})


def test_a_bad_label_selector_is_caught_before_the_run() -> None:
    with pytest.raises(ConfigError, match=r"'filters.label_selector'"):
        load_settings(environ={"REPORT_EXPORTER_LABEL_SELECTOR": "a in b"})


def test_invalid_yaml_and_missing_file_give_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML") as raised:
        load_settings(config_file=write(tmp_path, "cluster: [unclosed\n"), environ={})
    assert "\n" not in str(raised.value)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(config_file=tmp_path / "nope.yaml", environ={})


def test_cluster_name_must_be_usable_as_an_s3_prefix_and_product_name() -> None:
    with pytest.raises(ConfigError, match="'cluster'"):
        load_settings(environ={"REPORT_EXPORTER_CLUSTER": "Prod EU/1"})
