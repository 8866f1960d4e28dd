"""report-exporter: dump Trivy Operator and Kubescape reports, archive them, import them into DefectDojo."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("report-exporter")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
