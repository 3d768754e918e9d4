"""civ_orm_compat: the CIV-ARCOS async ORM API on Django's ORM.

The API lives in the seed's modules (``civ_orm_compat.orm``, ``.query``, ``.connection``,
``.migrations``, ``.optimization``); the names below are re-exported lazily (PEP 562), because
importing models before Django's app registry is ready is not allowed.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("django-data-toolkit")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

_EXPORTS = {
    "Model": "civ_orm_compat.orm",
    "QueryBuilder": "civ_orm_compat.query",
    "db": "civ_orm_compat.connection",
    "parse_url": "civ_orm_compat.connection",
    "Migration": "civ_orm_compat.migrations",
    "query_tracker": "civ_orm_compat.optimization",
    "detect_n_plus_one": "civ_orm_compat.optimization",
    "RelationNotLoaded": "civ_orm_compat.exceptions",
    "TransactionError": "civ_orm_compat.exceptions",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'civ_orm_compat' has no attribute {name!r}")
    return getattr(import_module(module), name)
