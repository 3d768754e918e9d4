"""Test-wide fixtures: the database comes from the project's settings.

Without ``DATABASE_URL`` that is the embedded PostgreSQL (started by ``settings`` on import);
with it, the server it names. pytest-django creates ``test_<name>`` on it for the session.
"""

from __future__ import annotations

import warnings

import pytest
from django.db import connections
from django.db.utils import OperationalError
from pytest_django import DjangoDbBlocker

from settings.database import unreachable_message


@pytest.fixture(scope="session", autouse=True)
def _database_reachable(django_db_blocker: DjangoDbBlocker) -> None:
    """Stop at once, with one line, when the database server cannot be reached.

    Autouse and session-scoped, so it runs before pytest-django creates the test database.
    """
    connection = connections["default"]
    if connection.vendor == "sqlite":
        return
    with django_db_blocker.unblock(), warnings.catch_warnings():
        # _nodb_cursor() warns before falling back from the 'postgres' database to the default.
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            with connection._nodb_cursor():
                pass
        except OperationalError as exc:
            message = unreachable_message("default", connection.settings_dict, exc)
            pytest.exit(message, returncode=2)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``@pytest.mark.postgresql`` tests when the default database is not PostgreSQL."""
    vendor = connections["default"].vendor
    if vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason=f"needs PostgreSQL; the default database is {vendor}")
    for item in items:
        if "postgresql" in item.keywords:
            item.add_marker(skip)
