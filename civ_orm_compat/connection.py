"""CIV ``database.connection``: ``db`` with transactions, named databases, URLs and pool stats.

Django 5.2 has no async transactions: ``transaction.atomic`` is bound to the connection of one
thread, and Django's ``a*`` methods run their SQL in a worker thread chosen by asgiref. The
``db.transaction()`` block therefore *pins* a thread:

1. it takes a one-thread executor (reused from a small idle pool) and enters asgiref's
   ``ThreadSensitiveContext(executor=...)``, so every thread-sensitive ``sync_to_async`` call made
   by this task (and by tasks it creates inside the block) runs on that thread: the compat
   methods, and Django's own ``acount()``/``asave()`` too;
2. it runs ``transaction.atomic(using).__enter__`` on that thread;
3. on exit it runs ``Atomic.__exit__`` there (commit, or rollback on an exception), releases the
   connection the way Django does at the end of a request (``close_if_unusable_or_obsolete``,
   which honours ``CONN_MAX_AGE`` and ``CONN_HEALTH_CHECKS``, and gives a psycopg 3 pool
   connection back to its pool), and returns the thread to the idle pool.

A concurrent task that did not start inside the block has its own context: its queries run on
another thread and connection, so it never sees nor joins the transaction. Nested blocks become
savepoints. A nested block opened from a *child* task of the block raises ``TransactionError``
(savepoints of two tasks would interleave on one connection). A query that still reaches the
database from another thread while the block is active (``sync_to_async(thread_sensitive=False)``
or a hand-made thread) raises ``TransactionError`` instead of silently running outside the
transaction (see :mod:`civ_orm_compat.instrumentation`).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import environ
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from civ_orm_compat import instrumentation
from civ_orm_compat._context import TRANSACTION_GROUP, active_transaction_thread
from civ_orm_compat.conf import civ_settings
from civ_orm_compat.exceptions import TransactionError, UnsupportedDatabaseURL

__all__ = [
    "Database",
    "Transaction",
    "active_transaction_thread",
    "db",
    "ensure_mysql_driver",
    "in_event_loop",
    "parse_url",
    "run",
]

P = ParamSpec("P")
R = TypeVar("R")

#: URL schemes ``parse_url`` accepts, by family.
SUPPORTED_SCHEMES = {
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "pgsql": "postgresql",
    "sqlite": "sqlite",
    "mysql": "mysql",
    "mysql2": "mysql",
    "mariadb": "mysql",
}


def in_event_loop() -> bool:
    """Whether the calling thread is running an asyncio event loop (that is, async code).

    Django's sync-only operations are forbidden exactly there; in worker threads (where
    ``sync_to_async`` runs code) there is no running loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


# --------------------------------------------------------------------------- dispatch


async def run(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run the synchronous ``fn`` from async code, the way Django's ``a*`` methods do.

    It is ``sync_to_async(fn)`` (thread-sensitive): inside ``db.transaction()`` that lands on the
    block's pinned thread, elsewhere on asgiref's shared thread (or the request's thread under
    ASGI). When an N+1 detection scope is active, the caller's line is recorded first so the
    report can name it (the SQL itself runs in the worker thread, far from the caller's frame).
    """
    if instrumentation.nplusone_active():
        token = instrumentation.CALL_SITE.set(instrumentation.user_call_site())
        try:
            return await sync_to_async(fn)(*args, **kwargs)
        finally:
            instrumentation.CALL_SITE.reset(token)
    return await sync_to_async(fn)(*args, **kwargs)


# --------------------------------------------------------------------------- URLs


def ensure_mysql_driver() -> str:
    """Make a MySQL/MariaDB driver importable as ``MySQLdb`` and return its name.

    ``mysqlclient`` is used when installed. Otherwise PyMySQL (pure Python, no C headers needed)
    is installed under the ``MySQLdb`` name, PyMySQL's documented way to serve Django's backend.

    Raises:
        ImproperlyConfigured: neither driver is installed.
    """
    try:
        import MySQLdb  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        pass
    else:
        import sys

        module = sys.modules["MySQLdb"]
        return "pymysql" if module.__name__ == "pymysql" else "mysqlclient"
    try:
        import pymysql  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ImproperlyConfigured(
            "a mysql:// database needs a driver: install mysqlclient (needs the MariaDB/MySQL "
            "client headers) or PyMySQL (`pip install pymysql`)"
        ) from exc
    pymysql.install_as_MySQLdb()
    return "pymysql"


def parse_url(url: str, **overrides: Any) -> dict[str, Any]:
    """Parse a CIV connection string into a Django ``DATABASES`` entry.

    Parsing is django-environ's (``Env.db_url_config``); this adds the scheme check, the MySQL
    driver choice and overrides such as ``CONN_MAX_AGE``.

    Args:
        url: ``postgres://user:pass@host:5432/name``, ``sqlite:///relative.db`` or
            ``sqlite:////absolute/path.db``, ``mysql://user:pass@host:3306/name``.
        **overrides: keys merged into the result (``CONN_MAX_AGE=60``, ``OPTIONS={...}``).

    Raises:
        UnsupportedDatabaseURL: the URL has no scheme, an unknown scheme, or no database name.
    """
    if not isinstance(url, str) or "://" not in url:
        raise UnsupportedDatabaseURL(
            f"not a database URL: {url!r} (expected e.g. postgres://user@host:5432/name, "
            "sqlite:////abs/path.sqlite3 or mysql://user@host:3306/name)"
        )
    scheme = urlsplit(url).scheme.lower()
    family = SUPPORTED_SCHEMES.get(scheme)
    if family is None:
        raise UnsupportedDatabaseURL(
            f"unsupported database URL scheme {scheme!r} in {_masked(url)}; supported: "
            + ", ".join(sorted(SUPPORTED_SCHEMES))
        )
    if family == "mysql":
        ensure_mysql_driver()
        url = "mysql" + url[len(scheme) :]
    config: dict[str, Any] = environ.Env.db_url_config(url)
    if not config.get("NAME"):
        raise UnsupportedDatabaseURL(f"the database URL {_masked(url)} names no database")
    config.update(overrides)
    return config


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


# --------------------------------------------------------------------------- transactions


@dataclass
class _Group:
    """One pinned thread serving every ``db.transaction()`` block of one task."""

    executor: ThreadPoolExecutor
    context: ThreadSensitiveContext
    owner: asyncio.Task[Any] | None
    thread_id: int = 0
    depth: dict[str, int] = field(default_factory=dict)
    closed: bool = False


_GROUP = TRANSACTION_GROUP


@dataclass
class _AliasStats:
    connections_created: int = 0
    connections_closed: int = 0
    in_use: int = 0
    max_in_use: int = 0
    started: int = 0
    committed: int = 0
    rolled_back: int = 0
    waits_ms: list[float] = field(default_factory=list)
    wait_total_ms: float = 0.0
    wait_count: int = 0
    wait_max_ms: float = 0.0


class _ThreadPool:
    """Idle pinned threads (each keeps its own per-alias Django connections) for reuse."""

    def __init__(self) -> None:
        self._idle: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()
        self.threads_created = 0

    def take(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            self.threads_created += 1
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="civ-orm-tx")

    def give_back(self, executor: ThreadPoolExecutor) -> bool:
        with self._lock:
            if len(self._idle) < civ_settings.TRANSACTION_IDLE_THREADS:
                self._idle.append(executor)
                return True
        return False

    def drain(self) -> list[ThreadPoolExecutor]:
        with self._lock:
            idle, self._idle = self._idle, []
        return idle

    @property
    def idle(self) -> int:
        return len(self._idle)


class Transaction:
    """``async with db.transaction():``: an atomic block for async code.

    Every statement of the block runs on one connection; an exception rolls everything back;
    nested blocks are savepoints. Use it only from async code.

    Args:
        database: the ``_db`` that created it.
        using: database alias (default ``"default"``).
        savepoint: as ``transaction.atomic``: create a savepoint when nested.
        durable: as ``transaction.atomic``: refuse to be nested.
    """

    def __init__(self, database: Database, using: str, savepoint: bool, durable: bool) -> None:
        self._db = database
        self.using = using
        self._savepoint = savepoint
        self._durable = durable
        self._atomic: transaction.Atomic | None = None
        self._token: Any = None
        self._group: _Group | None = None

    async def __aenter__(self) -> Transaction:
        if self.using not in connections.settings:
            raise TransactionError(f"db.transaction(): no database alias {self.using!r}")
        task = asyncio.current_task()
        group = _GROUP.get()
        if group is not None and group.closed:
            raise TransactionError(
                "db.transaction() opened by a task that outlived the transaction block it was "
                "created in; await child tasks before leaving the block"
            )
        if group is not None and group.owner is not task:
            raise TransactionError(
                "db.transaction() nested inside a transaction block of another task: "
                "savepoints of concurrent tasks would interleave on one connection; open the "
                "nested block in the task that owns the outer one, or await the child task "
                "outside the block"
            )
        self._atomic = transaction.atomic(
            using=self.using, savepoint=self._savepoint, durable=self._durable
        )
        if group is None:
            await self._open_group(task)
        else:
            self._group = group
            await sync_to_async(self._enter_atomic)()
        return self

    async def _open_group(self, task: asyncio.Task[Any] | None) -> None:
        executor = self._db._threads.take()
        context = ThreadSensitiveContext(executor=executor)
        group = _Group(executor=executor, context=context, owner=task)
        await context.__aenter__()
        self._token = _GROUP.set(group)
        self._group = group
        started = time.perf_counter()
        try:
            group.thread_id = await sync_to_async(threading.get_ident)()
            await sync_to_async(self._prepare_connection)()
            await sync_to_async(self._enter_atomic)()
        except BaseException:
            await self._close_group(failed=True)
            raise
        self._db._record_wait(self.using, (time.perf_counter() - started) * 1000)

    def _prepare_connection(self) -> None:
        # What Django does at the start of a request: drop a connection that is too old or
        # broken (with CONN_HEALTH_CHECKS, a ping decides) before the block uses it.
        connections[self.using].close_if_unusable_or_obsolete()

    def _enter_atomic(self) -> None:
        assert self._atomic is not None and self._group is not None
        self._atomic.__enter__()
        depth = self._group.depth
        if not depth.get(self.using):
            self._db._stats(self.using).started += 1
            self._db._in_use(self.using, +1)
        depth[self.using] = depth.get(self.using, 0) + 1

    def _exit_atomic(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._atomic is not None and self._group is not None
        depth = self._group.depth
        depth[self.using] -= 1
        outermost = depth[self.using] == 0
        try:
            self._atomic.__exit__(exc_type, exc, tb)
        except BaseException:
            if outermost:
                self._db._stats(self.using).rolled_back += 1
            raise
        finally:
            if outermost:
                del depth[self.using]
                self._db._in_use(self.using, -1)
        if outermost:
            stats = self._db._stats(self.using)
            if exc_type is None:
                stats.committed += 1
            else:
                stats.rolled_back += 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        assert self._group is not None
        try:
            await sync_to_async(self._exit_atomic)(exc_type, exc, tb)
        finally:
            if self._token is not None:
                await self._close_group(failed=False)
        return False

    async def _close_group(self, failed: bool) -> None:
        group = self._group
        assert group is not None
        aliases = list(connections.settings)
        try:
            # Release the connections as Django does at the end of a request.
            await sync_to_async(self._db._release_thread_connections)(aliases, failed)
        finally:
            group.closed = True
            _GROUP.reset(self._token)
            self._token = None
            await group.context.__aexit__(None, None, None)
            if failed or not self._db._threads.give_back(group.executor):
                # Not kept for reuse: close what its thread still holds, then let it go.
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(group.executor, self._db._close_thread_connections)
                group.executor.shutdown(wait=False)


class Database:
    """The CIV ``db`` object: transactions, raw SQL, named databases, pooling and statistics."""

    def __init__(self) -> None:
        self._threads = _ThreadPool()
        self._alias_stats: dict[str, _AliasStats] = {}
        self._stats_lock = threading.Lock()
        self._started = time.monotonic()

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
        return Transaction(self, using or DEFAULT_DB_ALIAS, savepoint, durable)

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
        self, sql: str, params: Sequence[Any] | None = None, using: str | None = None
    ) -> int:
        """Run one statement with parameters (``%s`` placeholders); return the row count."""
        return await run(_execute, using or DEFAULT_DB_ALIAS, sql, params)

    async def fetch_all(
        self, sql: str, params: Sequence[Any] | None = None, using: str | None = None
    ) -> list[dict[str, Any]]:
        """Run a query with parameters and return every row as a dict."""
        return await run(_fetch, using or DEFAULT_DB_ALIAS, sql, params, None)

    async def fetch_one(
        self, sql: str, params: Sequence[Any] | None = None, using: str | None = None
    ) -> dict[str, Any] | None:
        """Run a query with parameters and return its first row as a dict, or None."""
        rows = await run(_fetch, using or DEFAULT_DB_ALIAS, sql, params, 1)
        return rows[0] if rows else None

    async def fetch_val(
        self, sql: str, params: Sequence[Any] | None = None, using: str | None = None
    ) -> Any:
        """Run a query with parameters and return the first column of its first row."""
        row = await self.fetch_one(sql, params, using)
        return None if row is None else next(iter(row.values()))

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
        if not alias.isidentifier():
            raise ValueError(f"database alias {alias!r} is not an identifier")
        if alias in connections.settings:
            raise ValueError(f"database alias {alias!r} is already configured")
        config = parse_url(url)
        config["URL_FOR_MESSAGES"] = _masked(url)
        self._apply_pooling(alias, config, conn_max_age, health_checks, pool)
        configured = connections.configure_settings({DEFAULT_DB_ALIAS: {}, alias: config})
        connections.settings[alias] = configured[alias]
        settings.DATABASES[alias] = configured[alias]
        return configured[alias]

    def remove_database(self, alias: str) -> None:
        """Unregister an alias added with :meth:`add_database`.

        Close its connections first (``await db.close_all()`` for the transaction threads and the
        calling context's worker; each thread's own connections in that thread): Django keeps a
        connection per thread and this call can only drop the calling thread's.
        """
        if alias == DEFAULT_DB_ALIAS:
            raise ValueError("the default database cannot be removed")
        if alias not in connections.settings:
            raise ValueError(f"no database alias {alias!r}")
        try:
            del connections[alias]
        except AttributeError:
            pass  # never used from this thread
        del connections.settings[alias]
        settings.DATABASES.pop(alias, None)

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
        alias = using or DEFAULT_DB_ALIAS
        if alias not in connections.settings:
            raise ValueError(f"no database alias {alias!r}")
        self._apply_pooling(alias, connections.settings[alias], conn_max_age, health_checks, pool)

    @staticmethod
    def _apply_pooling(
        alias: str,
        config: dict[str, Any],
        conn_max_age: int | None,
        health_checks: bool,
        pool: bool | dict[str, Any],
    ) -> None:
        if conn_max_age is not None and conn_max_age < 0:
            raise ValueError(f"conn_max_age must be >= 0 or None, got {conn_max_age}")
        options = config.setdefault("OPTIONS", {})
        if pool:
            if "postgresql" not in config.get("ENGINE", ""):
                raise ImproperlyConfigured(
                    f"database {alias!r}: connection pools need PostgreSQL with psycopg 3"
                )
            from django.db.backends.postgresql.psycopg_any import (  # type: ignore[import-untyped, unused-ignore]
                is_psycopg3,
            )

            if not is_psycopg3:
                raise ImproperlyConfigured(
                    f"database {alias!r}: Django's connection pool needs psycopg 3 "
                    "(`pip install 'psycopg[binary,pool]'`); with psycopg2 use persistent "
                    "connections (conn_max_age, health_checks) or PgBouncer"
                )
            options["pool"] = pool
            # Django refuses CONN_MAX_AGE together with a pool: the pool does the keeping.
            config["CONN_MAX_AGE"] = 0
        else:
            options.pop("pool", None)
            config["CONN_MAX_AGE"] = conn_max_age
        config["CONN_HEALTH_CHECKS"] = health_checks

    def pool_stats(self, using: str | None = None) -> dict[str, Any]:
        """Connection statistics for ``using``, with the original ``ConnectionPoolMonitor`` keys.

        ``connections_created`` counts every Django connection opened for the alias (all
        threads). ``connections_in_use`` and ``max_connections_used`` count transaction blocks
        (each holds one connection on its pinned thread); ``avg_wait_time_ms`` and
        ``max_wait_time_ms`` time how long a block waited for a ready connection (thread,
        health check, connect, BEGIN). ``backend_pool`` holds psycopg 3's own pool statistics
        when a pool is configured.
        """
        alias = using or DEFAULT_DB_ALIAS
        if alias not in connections.settings:
            raise ValueError(f"no database alias {alias!r}")
        stats = self._stats(alias)
        config = connections.settings[alias]
        backend_pool = None
        if config.get("OPTIONS", {}).get("pool"):
            pool = getattr(connections[alias], "pool", None)
            backend_pool = pool.get_stats() if pool is not None else None
        return {
            "connections_created": stats.connections_created,
            "connections_closed": stats.connections_closed,
            "connections_in_use": stats.in_use,
            "max_connections_used": stats.max_in_use,
            "avg_wait_time_ms": (stats.wait_total_ms / stats.wait_count)
            if stats.wait_count
            else 0.0,
            "max_wait_time_ms": stats.wait_max_ms,
            "uptime_seconds": time.monotonic() - self._started,
            "transactions_started": stats.started,
            "transactions_committed": stats.committed,
            "transactions_rolled_back": stats.rolled_back,
            "idle_transaction_threads": self._threads.idle,
            "conn_max_age": config.get("CONN_MAX_AGE"),
            "health_checks": config.get("CONN_HEALTH_CHECKS"),
            "backend_pool": backend_pool,
        }

    async def close_all(self) -> None:
        """Close the connections of idle transaction threads and of the calling context's
        thread-sensitive worker; call it at shutdown (or at the end of a test)."""
        for executor in self._threads.drain():
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(executor, self._close_thread_connections)
            executor.shutdown(wait=False)
        await sync_to_async(self._close_thread_connections)()

    # -- internals ----------------------------------------------------------------------
    def _stats(self, alias: str) -> _AliasStats:
        stats = self._alias_stats.get(alias)
        if stats is None:
            with self._stats_lock:
                stats = self._alias_stats.setdefault(alias, _AliasStats())
        return stats

    def _in_use(self, alias: str, delta: int) -> None:
        with self._stats_lock:
            stats = self._alias_stats.setdefault(alias, _AliasStats())
            stats.in_use += delta
            stats.max_in_use = max(stats.max_in_use, stats.in_use)

    def _record_wait(self, alias: str, ms: float) -> None:
        with self._stats_lock:
            stats = self._alias_stats.setdefault(alias, _AliasStats())
            stats.wait_count += 1
            stats.wait_total_ms += ms
            stats.wait_max_ms = max(stats.wait_max_ms, ms)

    def _connection_created(self, alias: str) -> None:
        with self._stats_lock:
            self._alias_stats.setdefault(alias, _AliasStats()).connections_created += 1

    def _release_thread_connections(self, aliases: list[str], force: bool) -> None:
        for alias in aliases:
            if alias not in connections:
                continue
            conn = connections[alias]
            if conn.connection is None:
                continue
            if force:
                conn.close()
            else:
                conn.close_if_unusable_or_obsolete()
            if conn.connection is None:
                self._stats(alias).connections_closed += 1

    def _close_thread_connections(self) -> None:
        for conn in connections.all(initialized_only=True):
            if conn.connection is not None:
                conn.close()
                self._stats(conn.alias).connections_closed += 1


def _execute(alias: str, sql: str, params: Sequence[Any] | None) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _fetch(
    alias: str, sql: str, params: Sequence[Any] | None, limit: int | None
) -> list[dict[str, Any]]:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description or ()]
        rows = cursor.fetchmany(limit) if limit else cursor.fetchall()
    return [dict(zip(names, row, strict=True)) for row in rows]


#: The CIV ``db`` object.
db = Database()
