"""`get` (the getter) and `run` (get, then upload)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from exporter import pipeline
from exporter.cli.common import (
    AllowMassCloseOption,
    ArchiveOption,
    ClusterOption,
    ConfigOption,
    LogFormatOption,
    MetricsFileOption,
    UsageError,
    allow_mass_close_flag,
    emit,
    execute,
    split,
)
from exporter.config import LogFormat, Settings
from exporter.errors import ExitCode
from exporter.progress import Reporter
from exporter.samples import sample_cluster_dir

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
StrictOption = Annotated[
    bool | None,
    typer.Option(
        "--strict/--no-strict",
        help="count objects missing an optional part (status, report) as malformed, so the run is partial (exit 3)",
        show_default=False,
    ),
]
ExitZeroOption = Annotated[
    bool,
    typer.Option(
        "--exit-zero-on-manifest",
        help="exit 0 whenever the manifest was written, complete or partial: the uploader reads the run's status "
        "from it and reports the night (the CronJob's init container, whose failure would stop the pod)",
    ),
]


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
    strict: StrictOption = None,
    exit_zero_on_manifest: ExitZeroOption = False,
) -> None:
    """The getter: read every report kind into OUT/<run_id>/ and print that run directory.

    Exit codes: 0 complete, 3 partial (a kind failed, malformed objects), 1 nothing listed, 2 usage or settings.
    """
    flags = _getter_flags(cluster, kinds, exclude_kinds, namespaces, exclude_namespaces, label_selector,
                          page_size, context, kubeconfig, log_format, strict)  # fmt: skip

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        got = pipeline.get(settings, out, reporter, source=_source(from_files, sample))
        emit(str(got.run_dir), stop_when_closed=False)  # the run is written: its outcome is the exit code
        return ExitCode.OK if exit_zero_on_manifest else got.outcome.exit_code

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
    strict: StrictOption = None,
    allow_mass_close: AllowMassCloseOption = False,
    metrics_file: MetricsFileOption = None,
) -> None:
    """Get, then upload to the archive (when one is configured) in one process: local use and the demo.

    The same night as the CronJob's two containers: the run is uploaded whatever its status, and the exit code is
    the uploader's (0 complete, 3 partial, 1 failed, 2 usage or settings); without an archive, the getter's.
    """
    flags = _getter_flags(cluster, kinds, exclude_kinds, namespaces, exclude_namespaces, label_selector,
                          page_size, context, kubeconfig, log_format, strict)  # fmt: skip
    flags["archive.destination"] = archive
    flags["dojo.allow_mass_close"] = allow_mass_close_flag(allow_mass_close)
    flags["metrics.file"] = metrics_file

    def action(settings: Settings, reporter: Reporter) -> ExitCode:
        source = _source(from_files, sample)
        night = pipeline.run(
            settings, out, reporter, source=source, apply_retention=not no_prune, written=_print_run_dir
        )
        return night.outcome.exit_code

    execute(config, flags, action)


def _print_run_dir(run_dir: Path) -> None:
    emit(str(run_dir), stop_when_closed=False)  # a closed standard output must not stop the upload


def _source(from_files: Path | None, sample: bool) -> Path | None:
    """Where the getter reads: files, the bundled sample, or (None) the cluster."""
    if sample and from_files:
        raise UsageError("--sample and --from-files exclude each other: pick one source")
    source = sample_cluster_dir() if sample else from_files
    if source is not None and not source.exists():
        raise UsageError(f"--from-files {source}: no such file or directory")
    return source


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
    strict: bool | None,
) -> dict[str, Any]:
    return {
        "cluster": cluster,
        "log_format": log_format,
        "strict": strict,
        "filters.kinds": split(kinds),
        "filters.exclude_kinds": split(exclude_kinds),
        "filters.namespaces": split(namespaces),
        "filters.exclude_namespaces": split(exclude_namespaces),
        "filters.label_selector": label_selector,
        "kube.page_size": page_size,
        "kube.context": context,
        "kube.kubeconfig": kubeconfig,
    }
