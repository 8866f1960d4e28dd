"""`get` (the getter) and `run` (get, then upload)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from exporter.cli import archive_commands
from exporter.cli.common import (
    ArchiveOption,
    ClusterOption,
    ConfigOption,
    LogFormatOption,
    UsageError,
    execute,
    split,
    worst,
)
from exporter.config import LogFormat, Settings
from exporter.errors import ExitCode
from exporter.progress import Reporter
from exporter.samples import sample_cluster_dir

if TYPE_CHECKING:
    from exporter.getter import GetResult

FromFilesOption = Annotated[
    Path | None,
    typer.Option("--from-files", help="read reports from YAML/JSON files or kubectl lists instead of a cluster"),
]
SampleOption = Annotated[bool, typer.Option("--sample", help="read the bundled sample cluster (a demo)")]
KindsOption = Annotated[str | None, typer.Option("--kinds", help="only these kinds (comma-separated)")]
ExcludeKindsOption = Annotated[str | None, typer.Option("--exclude-kinds", help="leave out these kinds")]
NamespacesOption = Annotated[str | None, typer.Option("--namespaces", help="only these namespaces")]
ExcludeNamespacesOption = Annotated[str | None, typer.Option("--exclude-namespaces", help="leave these out")]
SelectorOption = Annotated[str | None, typer.Option("--label-selector", "-l", help="Kubernetes label selector")]
PageSizeOption = Annotated[int | None, typer.Option("--page-size", help="objects per list page (default 500)")]
ContextOption = Annotated[str | None, typer.Option("--context", help="kubeconfig context")]
KubeconfigOption = Annotated[Path | None, typer.Option("--kubeconfig", help="kubeconfig file (or KUBECONFIG)")]
NoPruneOption = Annotated[bool, typer.Option("--no-prune", help="archive without applying retention")]


def register(app: typer.Typer) -> None:
    app.command()(get)
    app.command()(run)


def get(
    out: Annotated[Path, typer.Option("--out", "-o", help="directory that receives the new run directory")],
    from_files: FromFilesOption = None,
    sample: SampleOption = False,
    config: ConfigOption = None,
    cluster: ClusterOption = None,
    kinds: KindsOption = None,
    exclude_kinds: ExcludeKindsOption = None,
    namespaces: NamespacesOption = None,
    exclude_namespaces: ExcludeNamespacesOption = None,
    label_selector: SelectorOption = None,
    page_size: PageSizeOption = None,
    context: ContextOption = None,
    kubeconfig: KubeconfigOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """The getter: read every report kind into OUT/<run_id>/ and print that run directory."""
    flags = _getter_flags(cluster, kinds, exclude_kinds, namespaces, exclude_namespaces, label_selector,
                          page_size, context, kubeconfig, log_format)  # fmt: skip

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        return _get(settings, reporter, out, from_files, sample).exit_code

    execute(config, flags, action)


def run(
    out: Annotated[Path, typer.Option("--out", "-o", help="directory for run directories")] = Path("runs"),
    archive: ArchiveOption = None,
    no_prune: NoPruneOption = False,
    from_files: FromFilesOption = None,
    sample: SampleOption = False,
    config: ConfigOption = None,
    cluster: ClusterOption = None,
    kinds: KindsOption = None,
    exclude_kinds: ExcludeKindsOption = None,
    namespaces: NamespacesOption = None,
    exclude_namespaces: ExcludeNamespacesOption = None,
    label_selector: SelectorOption = None,
    page_size: PageSizeOption = None,
    context: ContextOption = None,
    kubeconfig: KubeconfigOption = None,
    log_format: LogFormatOption = None,
) -> None:
    """Get, then upload to the archive (when one is configured) in one process: local use and the demo."""
    flags = _getter_flags(cluster, kinds, exclude_kinds, namespaces, exclude_namespaces, label_selector,
                          page_size, context, kubeconfig, log_format)  # fmt: skip
    flags["archive.destination"] = archive

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        result = _get(settings, reporter, out, from_files, sample)
        if result.exit_code is ExitCode.FAILED:
            return result.exit_code
        if not settings.archive.destination:
            reporter.info(f"no archive destination configured: the run stays in {result.run_dir}", event="no_archive")
            return result.exit_code
        uploaded = archive_commands.upload_and_prune(settings, reporter, [result.run_dir], apply_retention=not no_prune)
        return worst(result.exit_code, uploaded)

    execute(config, flags, action)


def _get(settings: Settings, reporter: Reporter, out: Path, from_files: Path | None, sample: bool) -> GetResult:
    # Imported here: the kubernetes client takes a third of a second to import, which `upload` should not pay.
    from exporter.getter import get_from_cluster, get_from_files  # noqa: PLC0415

    if sample and from_files:
        raise UsageError("--sample and --from-files exclude each other: pick one source")
    source = sample_cluster_dir() if sample else from_files
    if source is not None and not source.exists():
        raise UsageError(f"--from-files {source}: no such file or directory")
    result = (
        get_from_files(settings, source, out, reporter)
        if source is not None
        else get_from_cluster(settings, out, reporter)
    )
    reporter.run_finished(result.manifest, str(result.run_dir), int(result.exit_code))
    typer.echo(str(result.run_dir))
    return result


def _getter_flags(
    cluster: str | None,
    kinds: str | None,
    exclude_kinds: str | None,
    namespaces: str | None,
    exclude_namespaces: str | None,
    label_selector: str | None,
    page_size: int | None,
    context: str | None,
    kubeconfig: Path | None,
    log_format: LogFormat | None,
) -> dict[str, Any]:
    return {
        "cluster": cluster,
        "log_format": log_format,
        "filters.kinds": split(kinds),
        "filters.exclude_kinds": split(exclude_kinds),
        "filters.namespaces": split(namespaces),
        "filters.exclude_namespaces": split(exclude_namespaces),
        "filters.label_selector": label_selector,
        "kube.page_size": page_size,
        "kube.context": context,
        "kube.kubeconfig": kubeconfig,
    }
