"""civ_orm_compat: the CIV-ARCOS async ORM API on Django's ORM.

The API lives in the seed's modules (``civ_orm_compat.orm``, ``.query``, ``.connection``,
``.migrations``, ``.optimization``); the names below are re-exported lazily (PEP 562), because
importing models before Django's app registry is ready is not allowed.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the real types of the lazy exports below, for type checkers and IDEs
    from civ_orm_compat.connection import DatabaseConnection, db, parse_url
    from civ_orm_compat.exceptions import RelationNotLoaded, TransactionError
    from civ_orm_compat.migrations import Migration, MigrationManager, migration_manager
    from civ_orm_compat.optimization import detect_n_plus_one, query_tracker
    from civ_orm_compat.orm import Model
    from civ_orm_compat.query import QueryBuilder

try:
    __version__ = version("django-data-toolkit")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

_EXPORTS = {
    "Model": "civ_orm_compat.orm",
    "QueryBuilder": "civ_orm_compat.query",
    "db": "civ_orm_compat.connection",
    "DatabaseConnection": "civ_orm_compat.connection",
    "parse_url": "civ_orm_compat.connection",
    "Migration": "civ_orm_compat.migrations",
    "MigrationManager": "civ_orm_compat.migrations",
    "migration_manager": "civ_orm_compat.migrations",
    "query_tracker": "civ_orm_compat.optimization",
    "detect_n_plus_one": "civ_orm_compat.optimization",
    "RelationNotLoaded": "civ_orm_compat.exceptions",
    "TransactionError": "civ_orm_compat.exceptions",
}

__all__ = [
    "DatabaseConnection",
    "Migration",
    "MigrationManager",
    "Model",
    "QueryBuilder",
    "RelationNotLoaded",
    "TransactionError",
    "__version__",
    "db",
    "detect_n_plus_one",
    "migration_manager",
    "parse_url",
    "query_tracker",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'civ_orm_compat' has no attribute {name!r}")
    return getattr(import_module(module), name)
