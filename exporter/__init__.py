"""report-exporter: dump Trivy Operator and Kubescape reports, archive them, import them into DefectDojo."""

# Kept in step with pyproject.toml by tests/test_cli.py; importlib.metadata would cost every command 40 ms.
__version__ = "0.1.0"
