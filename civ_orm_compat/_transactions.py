"""``db.transaction()``: atomic blocks for async code on a bounded pool of pinned threads.

Django 5.2 has no async transactions: ``transaction.atomic`` is bound to the connection of one
thread, and Django's ``a*`` methods run their SQL in a worker thread chosen by asgiref. A block
therefore *pins* a thread:

1. it takes a one-thread executor from :class:`ThreadPool` (at most
   ``CIV_ORM_TRANSACTION_MAX_THREADS`` at once; beyond that blocks queue, for at most
   ``CIV_ORM_TRANSACTION_TIMEOUT`` seconds) and enters asgiref's
   ``ThreadSensitiveContext(executor=...)``, so every thread-sensitive ``sync_to_async`` call made
   by this task (and by tasks it creates inside the block) runs on that thread: the compat
   methods, and Django's own ``acount()``/``asave()`` too;
2. it runs ``transaction.atomic(using).__enter__`` on that thread;
3. on exit it runs ``Atomic.__exit__`` there (commit, or rollback on an exception), releases the
   connection the way Django does at the end of a request (``close_if_unusable_or_obsolete``),
   and returns the thread to the pool. The exit always runs to its end, even when the task is
   cancelled again meanwhile; a thread whose block did not finish cleanly is discarded with its
   connection, never reused.

A concurrent task that did not start inside the block has its own context: its queries run on
another thread and connection, so it never sees nor joins the transaction. Nested blocks become
savepoints. A nested block opened from a *child* task of the block raises ``TransactionError``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.db import connections, transaction

from civ_orm_compat._async import run_to_completion
from civ_orm_compat._context import TRANSACTION_GROUP
from civ_orm_compat._databases import STATS
from civ_orm_compat.conf import civ_settings
from civ_orm_compat.exceptions import TransactionError

__all__ = ["THREADS", "ThreadPool", "Transaction", "close_thread_connections"]


@dataclass
class Group:
    """One pinned thread serving every ``db.transaction()`` block of one task."""

    executor: ThreadPoolExecutor
    context: ThreadSensitiveContext
    owner: asyncio.Task[Any] | None
    thread_id: int = 0
    depth: dict[str, int] = field(default_factory=dict)
    closed: bool = False


class ThreadPool:
    """The pinned transaction threads: at most ``CIV_ORM_TRANSACTION_MAX_THREADS`` busy at once.

    A block beyond the limit waits (first come, first served) until a thread is returned, for at
    most ``CIV_ORM_TRANSACTION_TIMEOUT`` seconds. Returned threads are kept idle (each with its
    Django connections) up to ``CIV_ORM_TRANSACTION_IDLE_THREADS``. Waiters may live on several
    event loops: a freed slot is handed over with ``call_soon_threadsafe``.
    """

    def __init__(self) -> None:
        self._idle: list[ThreadPoolExecutor] = []
        self._lock = threading.Lock()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        self.busy = 0
        self.max_busy = 0
        self.threads_created = 0
        self.waits = 0
        self.timeouts = 0

    # -- slots ---------------------------------------------------------------------------
    async def take(self) -> ThreadPoolExecutor:
        """A thread for a new block, waiting for a free slot when all are busy.

        Raises:
            TransactionError: no slot was freed within ``CIV_ORM_TRANSACTION_TIMEOUT``.
        """
        limit = int(civ_settings.TRANSACTION_MAX_THREADS)
        loop = asyncio.get_running_loop()
        with self._lock:
            if self.busy < limit and not self._waiters:
                self._occupy()
                return self._executor()
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, future))
            self.waits += 1
        timeout = civ_settings.TRANSACTION_TIMEOUT
        try:
            await asyncio.wait_for(future, timeout)
        except BaseException as exc:
            with self._lock:
                try:
                    self._waiters.remove((loop, future))
                    granted = False
                except ValueError:
                    granted = future.done() and not future.cancelled()
                if isinstance(exc, TimeoutError):
                    self.timeouts += 1
            if granted:  # handed over just as we gave up: pass it on
                self._release_slot()
            if isinstance(exc, TimeoutError):
                raise TransactionError(
                    f"db.transaction(): all {limit} transaction threads stayed busy for "
                    f"{timeout} s (CIV_ORM_TRANSACTION_MAX_THREADS={limit}, "
                    f"CIV_ORM_TRANSACTION_TIMEOUT={timeout}); shorten the blocks, or raise the "
                    "limit if the database accepts that many more connections"
                ) from None
            raise
        with self._lock:
            return self._executor()

    def _occupy(self) -> None:
        self.busy += 1
        self.max_busy = max(self.max_busy, self.busy)

    def _executor(self) -> ThreadPoolExecutor:
        if self._idle:
            return self._idle.pop()
        self.threads_created += 1
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="civ-orm-tx")

    def _release_slot(self) -> None:
        with self._lock:
            while self._waiters:
                loop, future = self._waiters.popleft()
                if future.done():
                    continue
                # The slot stays occupied: it moves to the waiter.
                loop.call_soon_threadsafe(self._grant, future)
                return
            self.busy -= 1

    def _grant(self, future: asyncio.Future[None]) -> None:
        if future.done():  # the waiter gave up meanwhile
            self._release_slot()
        else:
            future.set_result(None)

    def keep_idle(self, executor: ThreadPoolExecutor) -> bool:
        """Keep the thread of a finished block for reuse; False when enough are idle already."""
        with self._lock:
            if len(self._idle) < civ_settings.TRANSACTION_IDLE_THREADS:
                self._idle.append(executor)
                return True
        return False

    def release(self) -> None:
        """Free the slot of a finished block (after :meth:`keep_idle` or discarding its thread)."""
        self._release_slot()

    def drain(self) -> list[ThreadPoolExecutor]:
        """Take every idle thread out of the pool (to close their connections)."""
        with self._lock:
            idle, self._idle = self._idle, []
        return idle

    @property
    def idle(self) -> int:
        """Idle threads kept for reuse."""
        return len(self._idle)

    def summary(self) -> dict[str, Any]:
        """The pool's state, merged into ``db.pool_stats()``."""
        return {
            "idle_transaction_threads": self.idle,
            "transaction_threads_max": int(civ_settings.TRANSACTION_MAX_THREADS),
            "transaction_threads_busy": self.busy,
            "transaction_threads_max_busy": self.max_busy,
            "transaction_threads_created": self.threads_created,
            "transaction_waiting": len(self._waiters),
            "transaction_waits": self.waits,
            "transaction_wait_timeouts": self.timeouts,
        }


#: The process's pinned transaction threads.
THREADS = ThreadPool()


def release_thread_connections(aliases: list[str], force: bool) -> bool:
    """End-of-block release of this thread's connections; False if the thread is unfit for reuse.

    A connection still inside an atomic block (its block's exit did not complete) is closed, and
    the thread is reported unfit: Django's per-thread atomic state cannot be trusted any more.
    """
    clean = True
    for alias in aliases:
        if alias not in connections:
            continue
        conn = connections[alias]
        if conn.in_atomic_block:
            clean = False
        if conn.connection is None:
            continue
        if force or not clean:
            conn.close()
        else:
            conn.close_if_unusable_or_obsolete()
        if conn.connection is None:
            STATS.connection_closed(alias)
    return clean


def close_thread_connections() -> None:
    """Close every connection this thread opened."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            conn.close()
            STATS.connection_closed(conn.alias)


class Transaction:
    """``async with db.transaction():``: an atomic block for async code.

    Every statement of the block runs on one connection; an exception rolls everything back;
    nested blocks are savepoints. Use it only from async code.

    Args:
        using: database alias.
        savepoint: as ``transaction.atomic``: create a savepoint when nested.
        durable: as ``transaction.atomic``: refuse to be nested.
    """

    def __init__(self, using: str, savepoint: bool, durable: bool) -> None:
        self.using = using
        self._savepoint = savepoint
        self._durable = durable
        self._atomic: transaction.Atomic | None = None
        self._token: Any = None
        self._group: Group | None = None

    async def __aenter__(self) -> Transaction:
        if self.using not in connections.settings:
            raise TransactionError(f"db.transaction(): no database alias {self.using!r}")
        task = asyncio.current_task()
        group = TRANSACTION_GROUP.get()
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
        started = time.perf_counter()
        executor = await THREADS.take()
        context = ThreadSensitiveContext(executor=executor)
        group = Group(executor=executor, context=context, owner=task)
        await context.__aenter__()
        self._token = TRANSACTION_GROUP.set(group)
        self._group = group
        try:
            group.thread_id = await sync_to_async(threading.get_ident)()
            await sync_to_async(self._prepare_connection)()
            await sync_to_async(self._enter_atomic)()
        except BaseException:
            cancelled = [False]
            await self._close_group(failed=True, cancelled=cancelled)
            raise
        STATS.wait(self.using, (time.perf_counter() - started) * 1000)

    def _prepare_connection(self) -> None:
        # What Django does at the start of a request: drop a connection that is too old or
        # broken (with CONN_HEALTH_CHECKS, a ping decides) before the block uses it.
        connections[self.using].close_if_unusable_or_obsolete()

    def _enter_atomic(self) -> None:
        assert self._atomic is not None and self._group is not None
        self._atomic.__enter__()
        depth = self._group.depth
        if not depth.get(self.using):
            STATS.get(self.using).started += 1
            STATS.in_use(self.using, +1)
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
                STATS.get(self.using).rolled_back += 1
            raise
        finally:
            if outermost:
                del depth[self.using]
                STATS.in_use(self.using, -1)
        if outermost:
            stats = STATS.get(self.using)
            if exc_type is None:
                stats.committed += 1
            else:
                stats.rolled_back += 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._group is not None
        cancelled = [False]
        failed = True
        try:
            # Commit or roll back to the end, even if this task is cancelled (again) meanwhile.
            await run_to_completion(sync_to_async(self._exit_atomic)(exc_type, exc, tb), cancelled)
            failed = False
        finally:
            if self._token is not None:
                await self._close_group(failed=failed, cancelled=cancelled)
        if cancelled[0] and exc_type is None:
            raise asyncio.CancelledError

    async def _close_group(self, failed: bool, cancelled: list[bool]) -> None:
        group = self._group
        assert group is not None
        aliases = list(connections.settings)
        clean = False
        try:
            # Release the connections as Django does at the end of a request.
            clean = await run_to_completion(
                sync_to_async(release_thread_connections)(aliases, failed), cancelled
            )
        finally:
            # A block cancelled while entering never ran its exit: account for it here.
            for alias, depth in list(group.depth.items()):
                if depth:
                    STATS.in_use(alias, -1)
                    STATS.get(alias).rolled_back += 1
            group.depth.clear()
            group.closed = True
            TRANSACTION_GROUP.reset(self._token)
            self._token = None
            await group.context.__aexit__(None, None, None)
            try:
                if not (clean and not failed and THREADS.keep_idle(group.executor)):
                    # Close what the thread still holds before letting it go.
                    loop = asyncio.get_running_loop()
                    await run_to_completion(
                        loop.run_in_executor(group.executor, close_thread_connections), cancelled
                    )
                    group.executor.shutdown(wait=False)
            finally:
                THREADS.release()
