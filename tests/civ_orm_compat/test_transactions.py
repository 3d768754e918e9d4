"""``db.transaction()`` under concurrency: atomic, savepoints, no leaking between tasks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from civ_orm_compat.connection import db
from civ_orm_compat.exceptions import TransactionError
from tests.civ_app.models import Post, User

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


class Boom(Exception):
    pass


async def names() -> set[str]:
    return {u.username for u in await User.objects.all()}


async def test_commit_and_rollback_of_several_statements() -> None:
    async with db.transaction():
        author = await User.create(username="a")
        await Post(title="t", content="c", author=author).save()
        await User.objects.filter(username="a").aupdate(age=5)
    assert (await User.get(username="a")).age == 5

    with pytest.raises(Boom):
        async with db.transaction():
            await User.create(username="b")
            await User.objects.filter(username="a").aupdate(age=6)
            await (await User.get(username="a")).delete()
            raise Boom
    assert await names() == {"a"}
    assert (await User.get(username="a")).age == 5
    assert await Post.objects.count() == 1


async def test_every_statement_runs_on_one_connection() -> None:
    seen: set[tuple[int, int]] = set()

    def where() -> None:
        connection = connections["default"]
        seen.add((threading.get_ident(), id(connection.connection)))
        assert connection.in_atomic_block

    async with db.transaction():
        for _ in range(5):
            await sync_to_async(where)()
            await User.objects.acount()  # Django's own a-method lands there too
    assert len(seen) == 1


async def test_django_native_async_methods_join_the_block() -> None:
    with pytest.raises(Boom):
        async with db.transaction():
            await User.objects.acreate(username="native")  # Django's acreate, not the compat one
            assert await User.objects.filter(username="native").aexists()
            raise Boom
    assert await names() == set()


async def test_nested_blocks_are_savepoints() -> None:
    async with db.transaction():
        await User.create(username="outer")
        with pytest.raises(Boom):
            async with db.transaction():
                await User.create(username="inner-lost")
                raise Boom
        async with db.transaction():
            await User.create(username="inner-kept")
            async with db.transaction():
                await User.create(username="innermost")
    assert await names() == {"outer", "inner-kept", "innermost"}

    with pytest.raises(Boom):
        async with db.transaction():
            await User.create(username="gone")
            async with db.transaction():
                await User.create(username="gone-too")
            raise Boom
    assert await names() == {"outer", "inner-kept", "innermost"}


async def test_concurrent_blocks_roll_back_independently(vendor: str) -> None:
    if vendor == "sqlite":
        pytest.skip("SQLite allows one writing transaction at a time (the others get 'locked')")
    gate = asyncio.Event()

    async def worker(name: str, fail: bool) -> None:
        async with db.transaction():
            await User.create(username=name)
            await gate.wait()  # every block is open at the same time here
            await User.objects.filter(username=name).aupdate(age=1)
            if fail:
                raise Boom(name)

    async def release() -> None:
        await asyncio.sleep(0.05)
        gate.set()

    results = await asyncio.gather(
        worker("ok1", False),
        worker("bad1", True),
        worker("ok2", False),
        worker("bad2", True),
        release(),
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results] == [
        "NoneType",
        "Boom",
        "NoneType",
        "Boom",
        "NoneType",
    ]
    assert await names() == {"ok1", "ok2"}
    assert await User.objects.filter(age=1).count() == 2


async def test_a_sibling_task_never_sees_nor_joins_the_transaction(vendor: str) -> None:
    inserted = asyncio.Event()
    checked = asyncio.Event()
    sibling: dict[str, object] = {}

    async def writer() -> None:
        with pytest.raises(Boom):
            async with db.transaction():
                await User.create(username="uncommitted")
                inserted.set()
                await checked.wait()
                raise Boom

    async def outsider() -> None:
        await inserted.wait()
        sibling["atomic"] = await sync_to_async(lambda: connections["default"].in_atomic_block)()
        if vendor != "sqlite":  # SQLite's shared-cache test database locks the table instead
            sibling["count"] = await User.objects.filter(username="uncommitted").count()
        # A write of the sibling is its own: it survives the writer's rollback.
        if vendor != "sqlite":
            await User.create(username="outsider")
        checked.set()

    await asyncio.gather(writer(), outsider())
    assert sibling["atomic"] is False
    if vendor != "sqlite":
        assert sibling["count"] == 0
        assert await names() == {"outsider"}
    else:
        assert await names() == set()


async def test_child_tasks_created_inside_the_block_are_part_of_it() -> None:
    with pytest.raises(Boom):
        async with db.transaction():
            await asyncio.gather(*(User.create(username=f"child{i}") for i in range(3)))
            assert await User.objects.count() == 3
            raise Boom
    assert await names() == set()


async def test_nesting_from_a_child_task_is_refused() -> None:
    async def child() -> None:
        async with db.transaction():
            await User.create(username="never")

    with pytest.raises(TransactionError, match="another task"):
        async with db.transaction():
            await User.create(username="parent")
            await asyncio.create_task(child())
    assert await names() == set()


async def test_a_query_escaping_to_another_thread_is_refused() -> None:
    def count() -> int:
        return User.objects.count()

    def close() -> None:
        connections["default"].close()

    other = ThreadPoolExecutor(max_workers=1)
    try:
        with pytest.raises(TransactionError, match="outside the thread"):
            async with db.transaction():
                await User.create(username="x")
                await sync_to_async(count, thread_sensitive=False, executor=other)()
    finally:
        await sync_to_async(close, thread_sensitive=False, executor=other)()
        other.shutdown()
    assert await names() == set()


async def test_on_commit_runs_after_commit_only() -> None:
    calls: list[str] = []

    async def notify() -> None:
        calls.append("async")

    async with db.transaction():
        await db.on_commit(lambda: calls.append("sync"))
        await db.on_commit(notify)
        assert calls == []
    await asyncio.sleep(0.01)
    assert sorted(calls) == ["async", "sync"]

    with pytest.raises(Boom):
        async with db.transaction():
            await db.on_commit(lambda: calls.append("never"))
            raise Boom
    assert "never" not in calls
    with pytest.raises(TransactionError, match="inside db.transaction"):
        await db.on_commit(lambda: None)


async def test_run_in_transaction_escape_hatch() -> None:
    def create_two(prefix: str, fail: bool) -> int:
        User.objects.create(username=f"{prefix}1")
        User.objects.create(username=f"{prefix}2")
        if fail:
            raise Boom
        return User.objects.count()

    assert await db.run_in_transaction(create_two, "s", False) == 2
    with pytest.raises(Boom):
        await db.run_in_transaction(create_two, "f", True)
    assert await names() == {"s1", "s2"}


async def test_unknown_alias_and_durable_blocks() -> None:
    with pytest.raises(TransactionError, match="no database alias 'nope'"):
        async with db.transaction("nope"):
            pass
    with pytest.raises(RuntimeError, match="durable"):
        async with db.transaction():
            async with db.transaction(durable=True):
                pass


async def test_pool_stats_count_blocks_and_threads_are_reused() -> None:
    before = db.pool_stats()
    for _ in range(3):
        async with db.transaction():
            await User.objects.count()
    with pytest.raises(Boom):
        async with db.transaction():
            raise Boom
    after = db.pool_stats()
    assert after["transactions_started"] - before["transactions_started"] == 4
    assert after["transactions_committed"] - before["transactions_committed"] == 3
    assert after["transactions_rolled_back"] - before["transactions_rolled_back"] == 1
    assert after["connections_in_use"] == 0
    assert after["max_connections_used"] >= 1
    assert after["max_wait_time_ms"] >= after["avg_wait_time_ms"] > 0
    assert after["idle_transaction_threads"] >= 1
    assert set(before) >= {
        "connections_created",
        "connections_closed",
        "connections_in_use",
        "max_connections_used",
        "avg_wait_time_ms",
        "max_wait_time_ms",
        "uptime_seconds",
    }


@pytest.fixture
def persistent_default() -> Iterator[None]:
    """Persistent, health-checked connections on the default alias, restored afterwards."""
    config = connections.settings["default"]
    saved = {key: config.get(key) for key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS")}
    db.configure_pooling("default", conn_max_age=600, health_checks=True)
    try:
        yield
    finally:
        config.update(saved)


async def test_persistent_connections_are_reused_across_blocks(persistent_default: None) -> None:
    await db.close_all()
    before = db.pool_stats()["connections_created"]
    pids = []
    for _ in range(3):
        async with db.transaction():
            await User.objects.count()
            pids.append(await sync_to_async(lambda: id(connections["default"].connection))())
    assert db.pool_stats()["connections_created"] - before == 1
    assert len(set(pids)) == 1
    assert db.pool_stats()["conn_max_age"] == 600 and db.pool_stats()["health_checks"] is True


async def test_without_persistence_each_block_gets_a_fresh_connection(vendor: str) -> None:
    if vendor == "sqlite":
        pytest.skip("Django never closes the connection of an in-memory SQLite test database")
    await db.close_all()
    before = db.pool_stats()["connections_created"]
    for _ in range(3):
        async with db.transaction():
            await User.objects.count()
    assert db.pool_stats()["connections_created"] - before == 3


@pytest.mark.postgresql
async def test_a_dead_persistent_connection_is_replaced(persistent_default: None) -> None:
    await db.close_all()

    def backend_pid() -> int:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return int(cursor.fetchone()[0])

    async with db.transaction():
        first = await sync_to_async(backend_pid)()
    # Kill the idle persistent connection from another connection.
    await db.execute("SELECT pg_terminate_backend(%s)", [first])
    async with db.transaction():  # the health check replaces it before the block uses it
        assert await sync_to_async(backend_pid)() != first
        await User.create(username="after-reconnect")
    assert await names() == {"after-reconnect"}


async def _idle_threads_are_clean() -> list[tuple[bool, bool]]:
    """(in_atomic_block, connection closed) of the default connection of every idle thread."""
    states = []
    for executor in list(db._threads._idle):

        def state() -> tuple[bool, bool]:
            conn = connections["default"]
            return conn.in_atomic_block, conn.connection is not None and conn.is_usable() is False

        states.append(await asyncio.wrap_future(executor.submit(state)))
    return states


@pytest.mark.parametrize("yields", range(0, 12))
async def test_cancelling_twice_during_exit_rolls_back_and_frees_the_thread(yields: int) -> None:
    entered = asyncio.Event()

    async def work() -> None:
        async with db.transaction():
            await User.create(username=f"cancelled-{yields}")
            entered.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(work())
    await entered.wait()
    task.cancel()
    for _ in range(yields):  # land the second cancel at a different point of the exit
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Every later block works, on a clean thread and connection.
    for _ in range(3):
        async with db.transaction():
            await User.create(username=f"after-{yields}-{_}")
    assert await names() == {f"after-{yields}-{i}" for i in range(3)}
    assert db.pool_stats()["connections_in_use"] == 0
    assert all(state == (False, False) for state in await _idle_threads_are_clean())


CONCURRENT_BLOCKS = 200


@pytest.mark.postgresql
async def test_200_concurrent_blocks_queue_for_a_bounded_pool(settings: Any) -> None:
    import psycopg2

    settings.CIV_ORM_TRANSACTION_MAX_THREADS = 8
    await db.close_all()
    params = connections["default"].get_connection_params()
    stop = threading.Event()
    started = threading.Event()
    counts: list[int] = []
    busy: list[int] = []

    def sample() -> None:
        # Our own connection, outside the pool: count the test database's other backends.
        conn = psycopg2.connect(**params)
        conn.autocommit = True
        with conn.cursor() as cursor:
            while not stop.is_set():
                cursor.execute(
                    "SELECT count(*), count(*) FILTER (WHERE xact_start IS NOT NULL) "
                    "FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()"
                )
                total, in_transaction = cursor.fetchone()
                counts.append(total)
                busy.append(in_transaction)
                started.set()
                stop.wait(0.005)
        conn.close()

    sampler = threading.Thread(target=sample)
    sampler.start()
    await sync_to_async(started.wait, thread_sensitive=False)()
    baseline = counts[0]  # the test's own connections (pytest's thread, asgiref's thread)

    async def block(i: int) -> None:
        async with db.transaction():
            await User.create(username=f"c{i}")
            await db.fetch_val("SELECT pg_sleep(0.01)")

    try:
        await asyncio.gather(*(block(i) for i in range(CONCURRENT_BLOCKS)))
    finally:
        stop.set()
        await sync_to_async(sampler.join, thread_sensitive=False)()
    assert await User.objects.count() == CONCURRENT_BLOCKS
    stats = db.pool_stats()
    assert stats["transaction_threads_max"] == 8
    assert stats["transaction_threads_max_busy"] <= 8
    assert stats["transaction_waits"] > 0
    assert stats["transaction_threads_busy"] == stats["transaction_waiting"] == 0
    # At most 8 connections inside a transaction at once; a closed connection's backend may
    # linger in pg_stat_activity for a few milliseconds, hence the small margin on the total.
    assert 1 <= max(busy) <= 8
    assert max(counts) - baseline <= 8 + 3, (baseline, max(counts))


async def test_a_block_waits_for_a_free_thread_then_fails_clearly(settings: Any) -> None:
    settings.CIV_ORM_TRANSACTION_MAX_THREADS = 1
    settings.CIV_ORM_TRANSACTION_TIMEOUT = 0.3
    holding = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with db.transaction():
            await User.create(username="holder")
            holding.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await holding.wait()
    before = db.pool_stats()["transaction_wait_timeouts"]
    with pytest.raises(TransactionError, match="CIV_ORM_TRANSACTION_MAX_THREADS=1"):
        async with db.transaction():
            pass
    assert db.pool_stats()["transaction_wait_timeouts"] == before + 1
    # A waiter within the timeout gets the thread as soon as the holder leaves.
    settings.CIV_ORM_TRANSACTION_TIMEOUT = 5

    async def queued() -> int:
        async with db.transaction():
            return int(await User.objects.acount())

    second = asyncio.create_task(queued())
    await asyncio.sleep(0.05)
    assert db.pool_stats()["transaction_waiting"] == 1
    release.set()
    await holder
    assert await second == 1


@pytest.mark.postgresql
async def test_a_block_whose_connection_dies_is_discarded() -> None:
    with pytest.raises(Exception, match="(?i)terminat|closed|server"):
        async with db.transaction():
            await User.create(username="lost")
            await db.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    for i in range(3):  # every later block gets a working thread and connection
        async with db.transaction():
            await User.create(username=f"ok{i}")
    assert await names() == {"ok0", "ok1", "ok2"}
    assert db.pool_stats()["connections_in_use"] == 0
    assert all(state == (False, False) for state in await _idle_threads_are_clean())


@pytest.mark.parametrize("yields", range(0, 8))
async def test_cancelling_while_entering_frees_the_thread(yields: int) -> None:
    async def work() -> None:
        async with db.transaction():
            await User.create(username=f"never-{yields}")
            await asyncio.sleep(30)

    before = db.pool_stats()
    task = asyncio.create_task(work())
    for _ in range(yields):  # land the cancel at a different point of the entry
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with db.transaction():
        await User.create(username="after")
    assert await names() == {"after"}
    after = db.pool_stats()
    assert after["connections_in_use"] == 0 and after["transaction_threads_busy"] == 0
    assert after["transactions_committed"] - before["transactions_committed"] == 1
    assert all(state == (False, False) for state in await _idle_threads_are_clean())
