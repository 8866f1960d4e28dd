"""Numbers as a person reads them, shared by the retention plan, the summary tables and the report page."""

from __future__ import annotations


def binary_size(size: int) -> str:
    """Binary units, as `du -h` and most S3 consoles show them: `512 B`, `1.5 KiB`, `2.0 GiB`."""
    if size < 1024:
        return f"{size} B"
    amount, unit = size / 1024, "KiB"
    for larger in ("MiB", "GiB", "TiB"):
        if amount < 1024:
            break
        amount, unit = amount / 1024, larger
    return f"{amount:.1f} {unit}"
