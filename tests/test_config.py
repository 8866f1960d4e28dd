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


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("dojo:\n  prodcut: x\n", "dojo.prodcut"),
        ("dojo:\n  prodcut:\n    name: x\n", "dojo.prodcut"),
        ("dojo:\n  prodcut: {}\n", "dojo.prodcut"),
        ("dojoo:\n  url: https://defectdojo.example.com\n", "dojoo"),
    ],
    ids=["value", "mapping", "empty mapping", "unknown section"],
)
def test_an_unknown_key_is_blamed_on_the_file_that_set_it(tmp_path: Path, text: str, key: str) -> None:
    config = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_settings(config_file=config, environ={})
    assert str(raised.value) == (
        f"setting {key!r} (config file {config}): unknown setting (check the spelling; see docs/configuration.md)"
    )


def test_a_section_left_empty_in_the_file_is_named_not_a_traceback(tmp_path: Path) -> None:
    config = write(tmp_path, "kube:\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(config_file=config, environ={"KUBECONFIG": "/etc/kubeconfig"})
    assert str(raised.value).startswith(f"setting 'kube' (config file {config}): must be a mapping of settings")


def test_sections_know_where_each_value_came_from(tmp_path: Path) -> None:
    config = write(tmp_path, "kube:\n  context: prod\n")
    settings = load_settings(config_file=config, environ={"KUBECONFIG": "/k"}, flags={"kube.page_size": 7})
    assert settings.kube.origin("kubeconfig") == "environment variable KUBECONFIG"
    assert settings.kube.origin("context") == f"config file {config}"
    assert settings.kube.origin("page_size") == "command line"
    assert settings.kube.origin("retries") == "default"


@pytest.mark.parametrize("key", ["product_type", "product", "engagement", "test"])
@pytest.mark.parametrize(
    ("template", "complaint"),
    [
        ("{cluster.__class__.__mro__}", "{cluster.__class__.__mro__} is not allowed"),
        ("{cluster:>999999999}", "{cluster:>999999999} is not allowed"),
        ("{scope!r}", "{scope!r} is not allowed"),
        ("{scope[0]}", "{scope[0]} is not allowed"),
        ("{}", "{} is not allowed"),
        ("{0}", "{0} is not allowed"),
        ("{namespace}", "{namespace} is not allowed"),
        ("{cluster", "is not a valid template"),
        ("", "gives an empty name"),
        ("   ", "gives an empty name"),
        ("x" * 290 + "{cluster}", "gives names of up to 353 characters"),
    ],
)
def test_a_dojo_name_template_takes_only_the_placeholders_and_must_fit_defectdojo(
    key: str, template: str, complaint: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(environ={}, flags={f"dojo.{key}": template})
    assert str(raised.value).startswith(f"setting 'dojo.{key}' (command line): {complaint}")
    assert raised.value.exit_code is ExitCode.USAGE


def test_name_templates_are_checked_with_the_longest_names_against_defectdojos_columns() -> None:
    """DefectDojo 3.2.0 stores 255 characters of a product (type) name and test title, 300 of an engagement name;
    a cluster name and a namespace take up to 63."""
    fits_255 = "p" * (255 - 63) + "{cluster}"
    assert load_settings(environ={}, flags={"dojo.product": fits_255}).dojo.product == fits_255
    with pytest.raises(ConfigError, match=r"'dojo.product'.*up to 256 characters.*the 255 DefectDojo stores"):
        load_settings(environ={}, flags={"dojo.product": "p" + fits_255})
    engagement = "e" * 280
    assert load_settings(environ={}, flags={"dojo.engagement": engagement}).dojo.engagement == engagement
    with pytest.raises(ConfigError, match=r"'dojo.test'.*the 255 DefectDojo stores for a test title"):
        load_settings(environ={}, flags={"dojo.test": "{family} {scope} " + "t" * 200})
    literal = load_settings(environ={}, flags={"dojo.test": "{{k8s}} {family} {scope}"}).dojo.test
    assert literal == "{{k8s}} {family} {scope}"
