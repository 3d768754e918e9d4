"""Exceptions and warnings raised by ``civ_orm_compat``."""

from __future__ import annotations

from django.core.exceptions import SynchronousOnlyOperation

__all__ = [
    "CivOrmError",
    "MigrationError",
    "NPlusOneDetected",
    "NPlusOneWarning",
    "RelationNotLoaded",
    "TransactionError",
    "UnsupportedDatabaseURL",
]


class CivOrmError(Exception):
    """Base class of the errors specific to ``civ_orm_compat``."""


class RelationNotLoaded(CivOrmError, SynchronousOnlyOperation):
    """An unloaded relation was touched from async code.

    Subclasses Django's ``SynchronousOnlyOperation`` (what Django itself would raise), so existing
    handlers keep working; the message names the ``select_related`` to add.
    """


class TransactionError(CivOrmError):
    """``db.transaction()`` was misused (for example nested from a concurrent task)."""


class MigrationError(CivOrmError):
    """A CIV migration could not be created, saved, applied or rolled back."""


class UnsupportedDatabaseURL(CivOrmError, ValueError):
    """A connection string names a scheme or driver this layer cannot use."""


class NPlusOneDetected(CivOrmError):
    """Raised for an N+1 query pattern when detection is configured to raise."""


class NPlusOneWarning(UserWarning):
    """Emitted for an N+1 query pattern (the default action)."""
