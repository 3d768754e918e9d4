"""Fixtures of the civ_orm_compat tests.

Async tests run their queries on asgiref's worker threads, not on the test's thread, so they
cannot see pytest-django's per-test transaction: they use ``django_db(transaction=True)``
(tables are flushed after each test). After every test the connections those worker threads
opened are closed, so the test database can be dropped at the end of the session.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from asgiref.sync import SyncToAsync
from django.db import connections

try:  # MariaDB/MySQL through PyMySQL when mysqlclient is not installed (needs C headers).
    import MySQLdb  # type: ignore[import-untyped]  # noqa: F401
except ImportError:
    try:
        import pymysql  # type: ignore[import-untyped]

        pymysql.install_as_MySQLdb()
    except ImportError:
        pass


def _close_thread_connections() -> None:
    for connection in connections.all(initialized_only=True):
        connection.close()


@pytest.fixture(autouse=True)
def _close_worker_connections() -> Iterator[None]:
    yield
    from civ_orm_compat.connection import db

    # asgiref's shared thread (thread-sensitive calls outside any context) keeps a connection.
    SyncToAsync.single_thread_executor.submit(_close_thread_connections).result()
    for executor in db._threads.drain():
        executor.submit(_close_thread_connections).result()
        executor.shutdown(wait=True)


@pytest.fixture
def vendor() -> str:
    """The default database's vendor (postgresql, sqlite, mysql)."""
    return connections["default"].vendor
