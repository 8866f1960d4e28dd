"""Error types with messages for a person, and the exit codes scripts rely on.

Every error the CLI prints is one line: what failed, the key, URL or kind involved (never a secret), and what to do.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes (README, `report-exporter --help`)."""

    OK = 0
    FAILED = 1
    USAGE = 2
    PARTIAL = 3


class ExporterError(Exception):
    """Base of every error the CLI reports as one line."""

    exit_code: ExitCode = ExitCode.FAILED


class ConfigError(ExporterError):
    """A setting is missing or wrong; nothing was done."""

    exit_code = ExitCode.USAGE


class KubeError(ExporterError):
    """The Kubernetes API could not be used at all (unreachable, 401, bad kubeconfig)."""


class KindFailedError(ExporterError):
    """One report kind could not be listed completely; other kinds go on."""


class RunDirError(ExporterError):
    """A run directory is missing, incomplete or does not match its manifest."""


class ArchiveError(ExporterError):
    """The archive (S3 or a local directory) could not be used; nothing was deleted locally."""


class MissingObjectError(ArchiveError):
    """The store answered, and the object is not there: unlike a store that could not be read, a certain absence
    (a first night has no DefectDojo state yet; a store that failed to answer may still hold one)."""


class DojoError(ExporterError):
    """DefectDojo could not be used (unreachable, rejected the key, refused a document); the archive is unaffected."""
