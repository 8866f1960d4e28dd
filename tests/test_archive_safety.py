"""Never write where you should not: a restore writes only under `--to` whatever an archive's manifest names, the
uploader reads only inside its run directory, and a destination prefix means one place to every store.

The archive is moto (S3 keys are plain strings, so an archive can hold `run/../../x`, which a directory cannot);
every manifest here is written by hand, as someone with write access to the bucket could.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from exporter.archive import keys, runs
from exporter.archive.s3store import S3Destination, S3Store
from exporter.cli import app
from exporter.config import ArchiveSettings, load_settings
from exporter.errors import ArchiveError, ConfigError, ExitCode, RunDirError
from exporter.rundir import layout, reader
from exporter.uploader import upload_run, verified_manifest
from tests.archive_helpers import BUCKET, gz_entry, manifest_naming, moto_s3, reporter, small_run

RUN = "20261123T020000Z-3f9a"
PREFIX = "s3://archive/clusters"


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    with moto_s3(monkeypatch, tmp_path):
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield


def s3_store() -> S3Store:
    return S3Store(ArchiveSettings(destination=PREFIX, region="us-east-1", max_attempts=1))


def plant(run_id: str, name: str, *, extra: tuple[dict[str, Any], ...] = ()) -> None:
    """An archived run whose manifest names `name`, with that object stored at exactly that key, bypassing every
    check of ours (a raw client), as a hostile or broken writer of the bucket would."""
    entry, content = gz_entry(name)
    raw = boto3.client("s3", region_name="us-east-1")
    raw.put_object(Bucket=BUCKET, Key=f"clusters/{keys.run_prefix('prod', run_id)}{name}", Body=content)
    manifest = json.dumps(manifest_naming(run_id, *extra, entry)).encode()
    raw.put_object(Bucket=BUCKET, Key=f"clusters/{keys.manifest_key('prod', run_id)}", Body=manifest)


def files_under(path: Path) -> list[Path]:
    return sorted(found for found in path.rglob("*")) if path.exists() else []


# ---- restore writes only under --to ------------------------------------------------------------------------------


def escaping_names(tmp_path: Path) -> list[str]:
    """Names that, joined to `<tmp>/restore/to/<run_id>`, land outside `--to`; and a Windows-style one."""
    return [
        "../../../escaped.jsonl.gz",
        "reports/../../../escaped.jsonl.gz",
        str(tmp_path / "restore" / "absolute.jsonl.gz"),
        "..\\..\\..\\escaped.jsonl.gz",
        "reports/aquasecurity.github.io/../../../../escaped.jsonl.gz",
    ]


@pytest.mark.parametrize("index", range(5))
def test_restore_refuses_a_manifest_naming_a_file_outside_the_run_and_writes_nothing(
    tmp_path: Path, index: int
) -> None:
    name = escaping_names(tmp_path)[index]
    plant(RUN, name)
    to = tmp_path / "restore" / "to"
    with pytest.raises(ArchiveError) as refused:
        runs.restore_run(s3_store(), "prod", RUN, to)
    message = str(refused.value)
    assert "\n" not in message and repr(name) in message, message
    assert message.startswith(f"run {RUN} in {PREFIX} is not restored, its manifest is refused: ")
    assert files_under(tmp_path / "restore") == [], "nothing written, not even the run directory"


def test_a_good_entry_before_a_bad_one_is_not_downloaded_either(tmp_path: Path) -> None:
    good, _ = gz_entry("reports/aquasecurity.github.io/vulnerabilityreports.jsonl.gz")
    plant(RUN, "../../../escaped.jsonl.gz", extra=(good,))
    with pytest.raises(ArchiveError, match=r"'\.\./\.\./\.\./escaped\.jsonl\.gz'"):
        runs.restore_run(s3_store(), "prod", RUN, tmp_path / "restore" / "to")
    assert files_under(tmp_path / "restore") == []


def test_runs_restore_exits_1_with_one_line_and_never_says_verified(tmp_path: Path) -> None:
    plant(RUN, "../../../escaped.jsonl.gz")
    to = tmp_path / "restore" / "to"
    arguments = [
        "runs",
        "restore",
        RUN,
        "--to",
        str(to),
        "--archive",
        PREFIX,
        "--cluster",
        "prod",
        "--log-format",
        "json",
    ]
    result = CliRunner().invoke(app, arguments, env={"AWS_DEFAULT_REGION": "us-east-1"})
    assert result.exit_code == ExitCode.FAILED
    (line,) = [json.loads(line) for line in result.stderr.splitlines()]
    assert line["level"] == "error" and "'../../../escaped.jsonl.gz'" in line["message"]
    assert "verified" not in result.output and result.stdout == ""
    assert files_under(tmp_path / "restore") == []


def test_a_manifest_naming_one_file_twice_is_refused(tmp_path: Path) -> None:
    name = "reports/aquasecurity.github.io/vulnerabilityreports.jsonl.gz"
    twice, _ = gz_entry(name)
    plant(RUN, name, extra=(twice,))
    with pytest.raises(ArchiveError, match="is named by two kinds"):
        runs.restore_run(s3_store(), "prod", RUN, tmp_path / "to")


def test_a_well_formed_archive_still_restores(tmp_path: Path) -> None:
    run_dir = small_run(tmp_path / "runs", datetime(2026, 11, 23, 2, tzinfo=UTC))
    store = s3_store()
    upload_run(store, run_dir, max_concurrency=2, reporter=reporter()[0])
    restored = runs.restore_run(store, "prod", run_dir.name, tmp_path / "to")
    assert reader.verify(restored) == []
    assert (restored / "manifest.json").read_bytes() == (run_dir / "manifest.json").read_bytes()


# ---- the uploader reads only inside its run directory ------------------------------------------------------------


def test_the_uploader_never_reads_a_file_a_local_manifest_names_outside_the_run(tmp_path: Path) -> None:
    secret = tmp_path / "secret.jsonl.gz"
    run_dir = tmp_path / "runs" / RUN
    run_dir.mkdir(parents=True)
    name = "../../secret.jsonl.gz"
    entry, content = gz_entry(name, b'{"password":"hunter2"}\n')
    secret.write_bytes(content)  # the manifest's checksum matches it: verification alone would let it through
    (run_dir / "manifest.json").write_text(json.dumps(manifest_naming(RUN, entry)))
    store = s3_store()
    with pytest.raises(RunDirError, match=r"is refused: kind vulnerabilityreports names the file '\.\./\.\./secret"):
        upload_run(store, run_dir, max_concurrency=1, reporter=reporter()[0])
    assert list(store.list("")) == [], "nothing was uploaded"


def test_the_uploader_refuses_a_run_whose_reports_lead_outside_through_a_symlink(tmp_path: Path) -> None:
    run_dir = small_run(tmp_path / "runs", datetime(2026, 11, 23, 2, tzinfo=UTC))
    elsewhere = tmp_path / "elsewhere"
    shutil.move(run_dir / "reports", elsewhere)
    (run_dir / "reports").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(RunDirError, match="leads outside the run directory"):
        verified_manifest(run_dir)
    store = s3_store()
    with pytest.raises(RunDirError, match="leads outside the run directory"):
        upload_run(store, run_dir, max_concurrency=1, reporter=reporter()[0])
    assert list(store.list("")) == []


def test_a_manifest_whose_cluster_or_run_id_could_leave_its_prefix_is_refused(tmp_path: Path) -> None:
    run_dir = small_run(tmp_path / "runs", datetime(2026, 11, 23, 2, tzinfo=UTC))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for field, value in (("cluster", "../other-tenant"), ("run_id", "../../x")):
        (run_dir / "manifest.json").write_text(json.dumps({**manifest, field: value}))
        with pytest.raises(RunDirError, match="is refused"):
            verified_manifest(run_dir)


@pytest.mark.parametrize(
    "name",
    ["../x.jsonl.gz", "/tmp/x.jsonl.gz", "reports/../x.jsonl.gz", "reports\\a\\b.jsonl.gz", "reports/a/b.json",
     "reports/.hidden/b.jsonl.gz", "reports/a/b.jsonl.gz\n", "reports/a/b/c.jsonl.gz"],
)  # fmt: skip
def test_only_the_layouts_file_names_pass(name: str) -> None:
    assert not layout.is_kind_file(name)
    with pytest.raises(ArchiveError, match="is not a file of a run directory"):
        keys.run_file_key("prod", RUN, name)


def test_every_catalog_kind_file_passes() -> None:
    from exporter.catalog import CATALOG

    assert all(layout.is_kind_file(str(layout.kind_file(kind))) for kind in CATALOG)


# ---- archive.destination prefixes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["s3://archive/../../x", "s3://archive/a//b/./c", "s3://archive/a/./b", "s3://archive/a/..", "s3://archive//a",
     "s3://archive/a\\b", "s3://archive/a/b//"],
)  # fmt: skip
def test_a_prefix_with_empty_dot_or_dotdot_segments_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        S3Destination.parse(url)
    assert str(refused.value).startswith(f"setting archive.destination {url!r}: the prefix ")
    assert refused.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("url", "prefix"), [("s3://archive", ""), ("s3://archive/", ""), ("s3://archive/a/b", "a/b/"),
                        ("s3://archive/a/b/", "a/b/"), ("s3://archive/a.b/c-d", "a.b/c-d/")],
)  # fmt: skip
def test_plain_prefixes_are_accepted(url: str, prefix: str) -> None:
    assert S3Destination.parse(url) == S3Destination("archive", prefix)


def test_the_cli_exits_2_naming_the_setting_and_sends_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["runs", "list", "--archive", "s3://archive/../../x", "--log-format", "json"],
                                env={"AWS_DEFAULT_REGION": "us-east-1"})  # fmt: skip
    assert result.exit_code == ExitCode.USAGE
    (line,) = [json.loads(line) for line in result.stderr.splitlines()]
    assert "archive.destination" in line["message"] and "'..'" in line["message"]
    settings = load_settings(environ={}, flags={"archive.destination": "s3://archive/../../x"})
    with pytest.raises(ConfigError):
        S3Store(settings.archive)


@pytest.mark.parametrize("key", ["a/../b", "./a", "a/./b", "a\\b", ".."])
def test_store_keys_that_a_path_normaliser_would_move_are_refused(key: str) -> None:
    with pytest.raises(ArchiveError, match="invalid archive key"):
        s3_store().put_bytes(b"x", key)
