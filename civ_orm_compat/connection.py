"""CIV ``database.connection``: the ``db`` object (``DatabaseConnection``).

A thin face over the machinery: transactions are :mod:`civ_orm_compat._transactions`, named
databases, pooling and statistics :mod:`civ_orm_compat._databases`, raw SQL with asyncpg's
``$n`` placeholders :mod:`civ_orm_compat._raw`, the async bridge :mod:`civ_orm_compat._async`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from civ_orm_compat import _databases, _raw
from civ_orm_compat._async import in_event_loop, run
from civ_orm_compat._context import active_transaction_thread
from civ_orm_compat._databases import STATS, check_alias, ensure_mysql_driver, parse_url
from civ_orm_compat._transactions import THREADS, Transaction, close_thread_connections
from civ_orm_compat.conf import civ_settings
from civ_orm_compat.exceptions import TransactionError

__all__ = [
    "Database",
    "DatabaseConnection",
    "Pool",
    "PoolConnection",
    "Transaction",
    "active_transaction_thread",
    "db",
    "ensure_mysql_driver",
    "in_event_loop",
    "parse_url",
    "run",
]

R = TypeVar("R")

#: ``masked`` under its old private name (used by the project's URL-masking test).
_masked = _databases.masked


class PoolConnection:
    """What ``async with db.pool.acquire() as conn`` yields: asyncpg's connection methods.

    Each statement is its own autocommit statement (as on an asyncpg connection outside a
    transaction); ``async with conn.transaction():`` is ``db.transaction()``.
    """

    def __init__(self, database: DatabaseConnection, using: str) -> None:
        self._db = database
        self.using = using

    async def execute(self, query: str, *args: Any) -> str:
        """Run a statement (or a script without arguments); asyncpg's status string."""
        return str(await self._db._run_execute(query, args, self.using, status=True))

    async def fetch(self, query: str, *args: Any) -> list[dict[str, Any]]:
        """Every row, as dicts."""
        return await self._db.fetch_all(query, *args, using=self.using)

    async def fetchrow(self, query: str, *args: Any) -> dict[str, Any] | None:
        """The first row, or None."""
        return await self._db.fetch_one(query, *args, using=self.using)

    async def fetchval(self, query: str, *args: Any) -> Any:
        """The first column of the first row, or None."""
        return await self._db.fetch_val(query, *args, using=self.using)

    def transaction(self) -> Transaction:
        """``async with conn.transaction():`` (a ``db.transaction()`` block)."""
        return self._db.transaction(self.using)


class Pool:
    """``db.pool`` after ``await db.connect()``: ``acquire()`` as asyncpg's pool has it."""

    def __init__(self, database: DatabaseConnection, using: str) -> None:
        self._db = database
        self.using = using

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[PoolConnection]:
        """``async with db.pool.acquire() as conn:``."""
        yield PoolConnection(self._db, self.using)

    async def close(self) -> None:
        """Close the connections (``db.disconnect()``)."""
        await self._db.disconnect()


class DatabaseConnection:
    """The CIV ``db`` object: transactions, raw SQL, named databases, pooling and statistics.

    ``DatabaseConnection()`` takes no arguments, as the original's; it serves every alias in
    ``settings.DATABASES`` (``using=`` picks one, default ``"default"``).
    """

    def __init__(self) -> None:
        self._threads = THREADS
        self.pool: Pool | None = None

    def __repr__(self) -> str:
        config = self._config
        return f"<DatabaseConnection {config['database']}@{config['host']}>"

    @property
    def _config(self) -> dict[str, Any]:
        """The original's ``settings.DATABASE`` keys, read from the default alias."""
        config = connections.settings[DEFAULT_DB_ALIAS]
        return {
            "host": config.get("HOST") or "localhost",
            "port": config.get("PORT") or None,
            "database": config.get("NAME"),
            "user": config.get("USER") or None,
            "password": config.get("PASSWORD") or None,
            "min_pool_size": 0,
            "max_pool_size": int(civ_settings.TRANSACTION_MAX_THREADS),
        }

    # -- lifecycle (asyncpg's pool in the original) ------------------------------------------
    async def connect(self, using: str | None = None) -> None:
        """Open (and check) a connection; sets ``db.pool``. Idempotent."""
        alias = check_alias(using or DEFAULT_DB_ALIAS)
        await run(_raw.ensure_connection, alias)
        if self.pool is None:
            self.pool = Pool(self, alias)

    async def disconnect(self) -> None:
        """Close the connections this layer holds; ``db.pool`` becomes None. Reconnects lazily."""
        await self.close_all()
        self.pool = None

    # -- transactions -------------------------------------------------------------------
    def transaction(
        self, using: str | None = None, *, savepoint: bool = True, durable: bool = False
    ) -> Transaction:
        """An ``async with`` atomic block; see :class:`Transaction`.

        Args:
            using: database alias (default ``"default"``).
            savepoint: create a savepoint when nested (as ``transaction.atomic``).
            durable: refuse to run nested inside another block (as ``transaction.atomic``).
        """
        return Transaction(using or DEFAULT_DB_ALIAS, savepoint, durable)

    async def run_in_transaction(
        self, fn: Callable[..., R], /, *args: Any, using: str | None = None, **kwargs: Any
    ) -> R:
        """Run the synchronous ``fn(*args, **kwargs)`` inside ``transaction.atomic(using)``.

        Django's own recommendation for transactions from async code: one sync function,
        called with ``sync_to_async``.
        """
        alias = using or DEFAULT_DB_ALIAS

        def call() -> R:
            with transaction.atomic(using=alias):
                return fn(*args, **kwargs)

        return await run(call)

    async def on_commit(
        self, callback: Callable[[], Any] | Callable[[], Awaitable[Any]], using: str | None = None
    ) -> None:
        """Run ``callback`` after the enclosing block commits (never after a rollback).

        A coroutine function is scheduled on the calling event loop; a plain function runs on
        the transaction's thread, as ``transaction.on_commit`` does.
        """
        alias = using or DEFAULT_DB_ALIAS
        if active_transaction_thread(alias) is None:
            raise TransactionError("db.on_commit() must be called inside db.transaction()")
        if inspect.iscoroutinefunction(callback):
            loop = asyncio.get_running_loop()

            def schedule() -> None:
                asyncio.run_coroutine_threadsafe(callback(), loop)

            await run(transaction.on_commit, schedule, using=alias)
        else:
            await run(transaction.on_commit, callback, using=alias)

    # -- raw SQL ------------------------------------------------------------------------
    async def execute(
        self, sql: str, *args: Any, params: Sequence[Any] | None = None, using: str | None = None
    ) -> Any:
        """Run one statement (or, without parameters, a ``;``-separated script).

        Two call styles:

        * the original's: ``await db.execute("UPDATE t SET a = $1 WHERE id = $2", 5, 1)`` with
          asyncpg placeholders; returns asyncpg's status string (``"UPDATE 1"``);
        * Django's: ``await db.execute("UPDATE t SET a = %s", [5])`` (``params`` and ``using``
          also positional); returns the row count, or the status string with
          ``CIV_ORM_EXECUTE_RETURNS_STATUS``.
        """
        return await self._run_execute(sql, args, using, params=params)

    async def _run_execute(
        self,
        sql: str,
        args: tuple[Any, ...],
        using: str | None,
        params: Sequence[Any] | None = None,
        status: bool = False,
    ) -> Any:
        alias, params, original = _raw.call_style("execute", sql, args, params, using)
        status = status or original or bool(civ_settings.EXECUTE_RETURNS_STATUS)
        return await run(_raw.execute, alias, sql, params, original, status)

    async def fetch_all(
        self, sql: str, *args: Any, params: Sequence[Any] | None = None, using: str | None = None
    ) -> list[dict[str, Any]]:
        """Every row as a dict (``$n`` with values, or ``%s`` with a params sequence)."""
        alias, params, original = _raw.call_style("fetch_all", sql, args, params, using)
        return await run(_raw.fetch, alias, sql, params, None, original)

    async def fetch_one(
        self, sql: str, *args: Any, params: Sequence[Any] | None = None, using: str | None = None
    ) -> dict[str, Any] | None:
        """The first row as a dict, or None."""
        alias, params, original = _raw.call_style("fetch_one", sql, args, params, using)
        rows = await run(_raw.fetch, alias, sql, params, 1, original)
        return rows[0] if rows else None

    async def fetch_val(
        self, sql: str, *args: Any, params: Sequence[Any] | None = None, using: str | None = None
    ) -> Any:
        """The first column of the first row, or None."""
        alias, params, original = _raw.call_style("fetch_val", sql, args, params, using)
        rows = await run(_raw.fetch, alias, sql, params, 1, original)
        return next(iter(rows[0].values())) if rows else None

    # -- named databases and pooling -----------------------------------------------------
    def databases(self) -> list[str]:
        """The configured aliases."""
        return list(connections.settings)

    def add_database(
        self,
        alias: str,
        url: str,
        *,
        conn_max_age: int | None = 0,
        health_checks: bool = True,
        pool: bool | dict[str, Any] = False,
    ) -> dict[str, Any]:
        """Register the database at ``url`` under ``alias`` at run time and return its settings.

        Args:
            alias: the new alias; must not exist yet.
            url: a connection string (see :func:`parse_url`).
            conn_max_age: seconds a connection is kept (``CONN_MAX_AGE``; 0 closes it at the end
                of each request / transaction block, None keeps it forever).
            health_checks: ping a persistent connection before reusing it.
            pool: a psycopg 3 connection pool (``True`` or its options); PostgreSQL only.

        Raises:
            ValueError: the alias exists already.
            UnsupportedDatabaseURL: the URL cannot be used.
            ImproperlyConfigured: a pool was asked for without psycopg 3.
        """
        return _databases.add_database(
            alias, url, conn_max_age=conn_max_age, health_checks=health_checks, pool=pool
        )

    def remove_database(self, alias: str) -> None:
        """Unregister an alias added with :meth:`add_database`.

        Close its connections first (``await db.close_all()`` for the transaction threads and the
        calling context's worker; each thread's own connections in that thread): Django keeps a
        connection per thread and this call can only drop the calling thread's.
        """
        _databases.remove_database(alias)

    def configure_pooling(
        self,
        using: str | None = None,
        *,
        conn_max_age: int | None = 60,
        health_checks: bool = True,
        pool: bool | dict[str, Any] = False,
    ) -> None:
        """Set persistent connections (psycopg2 and every backend) or a psycopg 3 pool.

        Applies to connections opened from now on.
        """
        alias = check_alias(using or DEFAULT_DB_ALIAS)
        _databases.apply_pooling(
            alias, connections.settings[alias], conn_max_age, health_checks, pool
        )

    def pool_stats(self, using: str | None = None) -> dict[str, Any]:
        """Connection statistics for ``using``, with the original ``ConnectionPoolMonitor`` keys.

        ``connections_created`` counts every Django connection opened for the alias (all
        threads). ``connections_in_use`` and ``max_connections_used`` count transaction blocks
        (each holds one connection on its pinned thread); ``avg_wait_time_ms`` and
        ``max_wait_time_ms`` time how long a block waited for a ready connection (a free
        thread, health check, connect, BEGIN). ``transaction_threads_*`` describe the bounded
        pool of pinned threads (``CIV_ORM_TRANSACTION_MAX_THREADS``) and the blocks queued for
        it. ``backend_pool`` holds psycopg 3's own pool statistics when a pool is configured.
        """
        alias = check_alias(using or DEFAULT_DB_ALIAS)
        config = connections.settings[alias]
        backend_pool = None
        if config.get("OPTIONS", {}).get("pool"):
            pool = getattr(connections[alias], "pool", None)
            backend_pool = pool.get_stats() if pool is not None else None
        return {
            **STATS.summary(alias),
            **THREADS.summary(),
            "conn_max_age": config.get("CONN_MAX_AGE"),
            "health_checks": config.get("CONN_HEALTH_CHECKS"),
            "backend_pool": backend_pool,
        }

    async def close_all(self) -> None:
        """Close the connections of idle transaction threads and of the calling context's
        thread-sensitive worker; call it at shutdown (or at the end of a test)."""
        loop = asyncio.get_running_loop()
        for executor in THREADS.drain():
            await loop.run_in_executor(executor, close_thread_connections)
            executor.shutdown(wait=False)
        await sync_to_async(close_thread_connections)()


#: The class under the name this package used before ``DatabaseConnection`` was added.
Database = DatabaseConnection


#: The CIV ``db`` object.
db = DatabaseConnection()
