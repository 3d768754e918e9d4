"""Exceptions raised by Django Gyro.

Every error a user can cause derives from :class:`GyroError`, so callers (and the management
commands) can catch one class and show its one-line message.

The reload errors (:class:`LoadError` and its subclasses) carry a message that names what is
wrong (file, line, column, model, key, value) and ends by saying that the target was not changed:
every check that can fail runs either before the loader touches the target or inside the load's
single transaction, which is then rolled back.
"""

from __future__ import annotations

__all__ = [
    "UNCHANGED",
    "BadDataError",
    "ClosureError",
    "DeclarationError",
    "DuplicateImporter",
    "GyroError",
    "IntegrityViolation",
    "JobError",
    "JobOrderError",
    "KeyConflictError",
    "LoadError",
    "ManifestError",
    "SchemaMismatchError",
    "SourceError",
    "TargetError",
    "VerifyError",
]

#: Appended to every load error: the guarantee the user most needs to hear.
UNCHANGED = "the target database was not changed"


class GyroError(Exception):
    """Base class of the errors Django Gyro raises for bad input or an unusable endpoint."""


class DuplicateImporter(GyroError):
    """A second, different Importer class was declared for a model that already has one."""


class JobError(GyroError, ValueError):
    """An :class:`~django_gyro.ImportJob` or a list of jobs is not valid."""


class DeclarationError(JobError):
    """An Importer of the run fails Gyro's system checks (``gyro.E...``)."""


class JobOrderError(JobError):
    """The jobs' Importer ``Columns`` form a cycle, so no order puts parents first."""


class SourceError(GyroError):
    """The source endpoint cannot be used (not PostgreSQL, unknown alias, unreachable)."""


class TargetError(GyroError):
    """The target cannot be written (files exist without ``overwrite=True``, not a directory)."""


class ClosureError(GyroError):
    """``strict=True`` and exported rows reference parent rows that were not exported."""


class LoadError(GyroError):
    """Base class of reload errors; the target is left exactly as it was."""


class ManifestError(LoadError):
    """The export directory, its ``manifest.json`` or a file does not match what was exported."""


class SchemaMismatchError(LoadError):
    """A file's columns or types do not match the target's tables, or a migration is missing."""


class BadDataError(LoadError):
    """A value in a file cannot be read into its column (wrong type, truncated row, ...)."""


class KeyConflictError(LoadError):
    """Exported keys collide with rows the target already has, under the chosen strategy."""


class IntegrityViolation(LoadError):
    """A foreign key or unique constraint would be violated by the loaded rows."""


class VerifyError(LoadError):
    """The export cannot be compared with the target (never loaded there, unreadable files)."""
