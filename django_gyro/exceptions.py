"""Exceptions raised by Django Gyro.

Every error a user can cause derives from :class:`GyroError`, so callers (and the management
commands) can catch one class and show its one-line message.
"""

from __future__ import annotations

__all__ = [
    "ClosureError",
    "DuplicateImporter",
    "GyroError",
    "JobError",
    "JobOrderError",
    "SourceError",
    "TargetError",
]


class GyroError(Exception):
    """Base class of the errors Django Gyro raises for bad input or an unusable endpoint."""


class DuplicateImporter(GyroError):
    """A second, different Importer class was declared for a model that already has one."""


class JobError(GyroError, ValueError):
    """An :class:`~django_gyro.ImportJob` or a list of jobs is not valid."""


class JobOrderError(JobError):
    """A job comes before the job of a model it references through ``Columns``."""


class SourceError(GyroError):
    """The source endpoint cannot be used (not PostgreSQL, unknown alias, unreachable)."""


class TargetError(GyroError):
    """The target cannot be written (files exist without ``overwrite=True``, not a directory)."""


class ClosureError(GyroError):
    """``strict=True`` and exported rows reference parent rows that were not exported."""
