"""Errors raised while reloading an export into PostgreSQL (:mod:`django_gyro.loading`).

Each one carries a message that names what is wrong (file, line, column, model, key, value) and
ends by saying that the target was not changed: every check that can fail runs either before the
loader touches the target or inside the load's single transaction, which is then rolled back.
"""

from __future__ import annotations

from django_gyro.exceptions import GyroError

__all__ = [
    "BadDataError",
    "IntegrityViolation",
    "KeyConflictError",
    "LoadError",
    "ManifestError",
    "SchemaMismatchError",
]

#: Appended to every load error: the guarantee the user most needs to hear.
UNCHANGED = "the target database was not changed"


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
