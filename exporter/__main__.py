"""`python -m exporter` is the same as the `report-exporter` command."""

from exporter.cli import main

main()
