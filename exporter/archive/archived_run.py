"""One run as the archive holds it: what a key listing and its manifest say of it, for retention and `runs list`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from exporter.rundir import layout


@dataclass(frozen=True)
class ArchivedRun:
    """One run in the archive. `complete` means finished: its manifest.json exists (it is uploaded last).

    A finished run is `partial` when its manifest says so or cannot be read; `failed_kinds` are the plurals of the
    kinds that failed, `problem` any other cause in words (malformed objects, an unreadable manifest).
    `last_modified` is the newest LastModified of its objects, by the store's clock; None when not listed.
    """

    run_id: str
    started_at: datetime
    complete: bool
    size: int = 0
    partial: bool = False
    failed_kinds: tuple[str, ...] = ()
    problem: str = ""
    last_modified: datetime | None = None

    def __post_init__(self) -> None:
        # Buckets are UTC days, weeks, months: a naive time would silently be read as the host's local time.
        for name, moment in (("started_at", self.started_at), ("last_modified", self.last_modified)):
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"run {self.run_id}: {name} {moment} has no time zone; give it in UTC")
        if self.partial and not self.complete:
            raise ValueError(f"run {self.run_id}: only a finished run (one with a manifest) can be partial")
        if (self.failed_kinds or self.problem) and not self.partial:
            raise ValueError(f"run {self.run_id}: failed kinds or a problem make a run partial; set partial=True")

    @classmethod
    def from_run_id(
        cls,
        run_id: str,
        *,
        complete: bool,
        size: int = 0,
        partial: bool = False,
        failed_kinds: tuple[str, ...] = (),
        problem: str = "",
        last_modified: datetime | None = None,
    ) -> ArchivedRun:
        """The run id is the UTC start time, so a key listing (and, for partial runs, the manifest) is all it takes."""
        started_at = layout.run_started_at(run_id)
        return cls(
            run_id, started_at, complete, size, partial=partial, failed_kinds=failed_kinds, problem=problem,
            last_modified=last_modified,
        )  # fmt: skip

    @property
    def status(self) -> str:
        """`complete`, `partial` (finished, but some kinds failed) or `incomplete` (no manifest: uploading or died)."""
        if not self.complete:
            return "incomplete"
        return "partial" if self.partial else "complete"

    @property
    def status_text(self) -> str:
        """The status with what makes a run partial: `partial: failed configauditreports`."""
        if not self.partial:
            return self.status
        causes = [f"failed {', '.join(self.failed_kinds)}"] if self.failed_kinds else []
        causes += [self.problem] if self.problem else []
        return f"partial: {'; '.join(causes) or 'the manifest says so'}"
