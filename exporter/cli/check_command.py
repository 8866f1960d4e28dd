"""`check`: a preflight of API access, the archive and DefectDojo, one verdict per line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from exporter.cli.common import ArchiveOption, ClusterOption, ConfigOption, LogFormatOption, emit, execute
from exporter.config import Settings
from exporter.errors import ExitCode
from exporter.progress import Reporter
from exporter.redact import redact_urls

KubeconfigOption = Annotated[Path | None, typer.Option("--kubeconfig", help="kubeconfig file (or KUBECONFIG)")]
ContextOption = Annotated[str | None, typer.Option("--context", help="kubeconfig context")]


def register(app: typer.Typer) -> None:
    app.command()(check)


def check(
    config: ConfigOption = None,
    cluster: ClusterOption = None,
    archive: ArchiveOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Check API access for every report kind, an archive probe (write, read, delete) and the DefectDojo key.

    Run it before the first night with the CronJob's settings: with the ConfigMap's config.yaml as --config, the
    Secret's variables in the environment and a kubeconfig of the CronJob's ServiceAccount. (A Job made with
    `kubectl create job --from=cronjob/report-exporter` runs the whole night instead: it cannot take another
    command.) Exit 1 when any check fails.
    """

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        from exporter.preflight import FAILED, run_checks  # noqa: PLC0415 - loads the clients it checks

        lines = run_checks(settings)
        width = max(len(line.what) for line in lines)
        for line in lines:
            emit(
                redact_urls(f"{line.system:<11} {line.what:<{width}}  {line.verdict:<7} {line.detail}").rstrip(),
                stop_when_closed=False,
            )
        failed = sum(line.verdict == FAILED for line in lines)
        reporter.info(f"check: {len(lines) - failed} passed, {failed} failed", event="check_finished", failed=failed)
        return ExitCode.FAILED if failed else ExitCode.OK

    flags = {"cluster": cluster, "archive.destination": archive, "kube.kubeconfig": kubeconfig,
             "kube.context": context, "log_format": log_format}  # fmt: skip
    execute(config, flags, action)
