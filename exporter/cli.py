"""The `report-exporter` command line: parse, call, report, exit code. Nothing else lives here.

Exit codes: 0 ok, 1 failed, 2 usage or configuration error, 3 partial (some kinds failed, or malformed objects or
unreadable inputs were met; what was written is valid and the manifest says what is missing).

Standard output carries only the result a script wants (the run directory); progress and logs go to standard
error, as a Rich display on a terminal and JSON lines elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from exporter import __version__
from exporter.config import LogFormat, load_settings
from exporter.errors import ExitCode, ExporterError
from exporter.getter import get_from_cluster, get_from_files
from exporter.progress import Reporter, make_reporter
from exporter.samples import sample_cluster_dir

app = typer.Typer(
    name="report-exporter",
    help=__doc__,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML settings file (or REPORT_EXPORTER_CONFIG)", show_default=False),
]
LogFormatOption = Annotated[
    LogFormat | None, typer.Option("--log-format", help="auto: Rich on a terminal, JSON lines otherwise")
]
ClusterOption = Annotated[str | None, typer.Option("--cluster", help="cluster name (REPORT_EXPORTER_CLUSTER)")]
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


def _version(value: bool) -> None:
    if value:
        typer.echo(f"report-exporter {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """Dump Trivy Operator and Kubescape reports, archive them to S3, import them into DefectDojo."""


@app.command()
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
    flags = _getter_flags(
        cluster,
        kinds,
        exclude_kinds,
        namespaces,
        exclude_namespaces,
        label_selector,
        page_size,
        context,
        kubeconfig,
        log_format,
    )
    _exit(_run_getter(config, flags, out, from_files, sample))


@app.command()
def run(
    out: Annotated[Path, typer.Option("--out", "-o", help="directory for run directories")] = Path("runs"),
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
    """Get, then upload, in one process (local use and the demo: `report-exporter run --sample`)."""
    flags = _getter_flags(
        cluster,
        kinds,
        exclude_kinds,
        namespaces,
        exclude_namespaces,
        label_selector,
        page_size,
        context,
        kubeconfig,
        log_format,
    )
    _exit(_run_getter(config, flags, out, from_files, sample))


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
        "filters.kinds": _split(kinds),
        "filters.exclude_kinds": _split(exclude_kinds),
        "filters.namespaces": _split(namespaces),
        "filters.exclude_namespaces": _split(exclude_namespaces),
        "filters.label_selector": label_selector,
        "kube.page_size": page_size,
        "kube.context": context,
        "kube.kubeconfig": kubeconfig,
    }


def _run_getter(
    config: Path | None, flags: dict[str, Any], out: Path, from_files: Path | None, sample: bool
) -> ExitCode:
    reporter: Reporter | None = None
    try:
        if sample and from_files:
            raise _UsageError("--sample and --from-files exclude each other: pick one source")
        settings = load_settings(config_file=config, flags=flags)
        reporter = make_reporter(settings.log_format)
        source = sample_cluster_dir() if sample else from_files
        if source is not None and not source.exists():
            raise _UsageError(f"--from-files {source}: no such file or directory")
        result = (
            get_from_files(settings, source, out, reporter)
            if source is not None
            else get_from_cluster(settings, out, reporter)
        )
        reporter.run_finished(result.manifest, str(result.run_dir), int(result.exit_code))
    except ExporterError as exc:
        _print_error(str(exc), reporter)
        return exc.exit_code
    finally:
        if reporter is not None:
            reporter.close()
    typer.echo(str(result.run_dir))
    return result.exit_code


class _UsageError(ExporterError):
    """Flags that contradict each other or name what does not exist."""

    exit_code = ExitCode.USAGE


def _print_error(message: str, reporter: Reporter | None) -> None:
    if reporter is not None:
        reporter.error(message)
    else:
        typer.echo(f"error: {message}", err=True)


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [item.strip() for item in value.split(",") if item.strip()]


def _exit(code: ExitCode) -> None:
    raise typer.Exit(int(code))


def main() -> None:
    """Console-script entry point."""
    app()
