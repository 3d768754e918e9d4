"""The rest of the original package's public API: fields, model members, migrations manager,
and the optimization names of its README."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.db import connections, models

from civ_orm_compat import orm
from civ_orm_compat.connection import db
from civ_orm_compat.exceptions import MigrationError
from civ_orm_compat.migrations import Migration, MigrationManager, migration_manager
from civ_orm_compat.optimization import (
    ConnectionPoolMonitor,
    IndexManager,
    QueryMetrics,
    QueryOptimizer,
    QueryTracker,
    get_connection_monitor,
    get_query_tracker,
    query_tracker,
    track_query,
)
from tests.civ_app.models import Post, User

asyncio_db = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


# ------------------------------------------------------------------------------ fields


def test_field_classes_of_the_original() -> None:
    raw = orm.Field("NUMERIC(10, 2)", null=True)
    assert raw.field_type == "NUMERIC(10, 2)" and raw.null and not raw.has_default()
    assert raw.db_type(connections["default"]) == "NUMERIC(10, 2)"
    assert orm.Field("TEXT", default=0).default == 0
    # Every field is a Field, as every original field subclassed it.
    assert isinstance(orm.CharField(), orm.Field) and isinstance(models.TextField(), orm.Field)
    assert not isinstance("x", orm.Field)
    assert orm.CharField(50).max_length == 50 and orm.CharField().max_length == 255
    assert orm.SlugField().max_length == 255 and orm.SlugField(80).max_length == 80
    assert isinstance(orm.IntegerField(primary_key=True), models.AutoField)
    assert type(orm.IntegerField()) is orm.IntegerField
    with pytest.raises(TypeError, match="column type as a string"):
        orm.Field(5)  # type: ignore[arg-type]


def test_model_members_on_class_and_instance(settings: Any) -> None:
    user = User(username="ann")
    assert user._table_name == User._table_name == "users"
    assert user._fields is not None and list(user._fields) == list(User._fields)
    assert user._get_primary_key_field() == "id"
    assert isinstance(User.query(), type(User.query())) and User.query() is not User.query()
    assert User.query().where("age", ">", 1).build()[0].startswith("SELECT * FROM")
    with pytest.raises(TypeError):
        User(username="ann", not_a_field=1)
    settings.CIV_ORM_INIT_IGNORES_UNKNOWN = True
    assert User(username="ann", not_a_field=1, author_id=3).username == "ann"
    assert Post(title="t", author_id=3).author_id == 3  # type: ignore[attr-defined]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_class_level_queries() -> None:
    for name, age in [("a", 10), ("b", 20), ("c", 30)]:
        await User.create(username=name, age=age)
    assert sorted(u.username for u in await User.all()) == ["a", "b", "c"]
    assert [u.username for u in await User.filter(age=20)] == ["b"]
    assert [u.username for u in await User.filter(age__gte=20).order_by("age")] == ["b", "c"]


# ------------------------------------------------------------------------------ migrations


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_original_migrations_api(vendor: str) -> None:
    out = StringIO()
    manager = MigrationManager(stdout=out)
    first = Migration("add_notes", "20240101000000")
    assert repr(first) == "<Migration 20240101000000_add_notes>"
    first.up("CREATE TABLE h_notes (id INTEGER PRIMARY KEY, body TEXT)")
    first.up("INSERT INTO h_notes (id, body) VALUES (1, 'a')")
    first.down("DROP TABLE h_notes")
    manager.add_migration(first)
    with pytest.raises(MigrationError, match="version 20240101000000 is registered"):
        manager.add_migration(Migration("again", "20240101000000"))
    second = manager.create_migration("add_tags")
    third = manager.create_migration("add_more")
    assert int(third.version or 0) == int(second.version or 0) + 1  # same second: no clash
    second.up("CREATE TABLE h_tags (id INTEGER)")
    second.down("DROP TABLE h_tags")
    third.up("CREATE TABLE h_more (id INTEGER)")
    third.down("DROP TABLE h_more")
    assert repr(manager) == "<MigrationManager 3 migrations>"
    assert await manager.get_applied_migrations() == []
    try:
        assert await manager.migrate() == [first.version, second.version, third.version]
        assert "Applying migration: 20240101000000_add_notes" in out.getvalue()
        assert await db.fetch_val("SELECT body FROM h_notes WHERE id = $1", 1) == "a"
        history = await manager.history()
        assert [h["name"] for h in history] == ["add_notes", "add_tags", "add_more"]
        assert all(isinstance(h["applied_at"], datetime) for h in history)
        with pytest.raises(MigrationError, match="positive integer"):
            await manager.rollback(0)
        forgetful = MigrationManager(verbosity=0)
        forgetful.add_migration(third)
        with pytest.raises(MigrationError, match="no registered migration"):
            await forgetful.rollback(steps=2)
        assert await manager.rollback(steps=2) == [third.version, second.version]
        assert await manager.get_applied_migrations() == [first.version]
        # A failing migration is not recorded, and leaves nothing behind where DDL is
        # transactional.
        broken = Migration("broken", "20240101000009")
        broken.up("CREATE TABLE h_broken (id INTEGER)")
        broken.up("THIS IS NOT SQL")
        strict = MigrationManager(verbosity=0)
        strict.add_migration(first)
        strict.add_migration(broken)
        with pytest.raises(Exception, match="(?i)syntax"):
            await strict.migrate()
        assert await manager.get_applied_migrations() == [first.version]
        tables = await db.fetch_all(
            "SELECT 1 FROM h_notes WHERE id = $1", 1
        )  # the earlier migration is untouched
        assert len(tables) == 1
        if vendor != "mysql":
            with pytest.raises(Exception, match="(?i)h_broken"):
                await db.fetch_all("SELECT * FROM h_broken")
    finally:
        await manager.rollback(steps=1)
        for table in ("h_tags", "h_more", "h_broken", "migrations"):
            try:
                await db.execute(f"DROP TABLE {table}")
            except Exception:
                pass
    # The seed's classmethod is untouched; the original's instance rollback is async.
    assert callable(Migration.rollback) and asyncio.iscoroutinefunction(first.rollback)
    assert migration_manager is not None and isinstance(migration_manager, MigrationManager)


# ------------------------------------------------------------------------------ optimization


def test_query_tracker_in_the_original_shape() -> None:
    tracker = QueryTracker(slow_query_threshold=0.5)
    now = datetime.now(UTC)
    for ms in (100, 700, 900):
        tracker.track_query(QueryMetrics("SELECT * FROM t WHERE id = $1", ms / 1000, now))
    tracker.track_query(QueryMetrics("SELECT 1", 0.01, now))
    slow = tracker.get_slow_queries()
    assert [q.execution_time for q in slow] == [0.9, 0.7]
    frequent = tracker.get_most_frequent_queries()[0]
    assert frequent.query_pattern == "SELECT * FROM t WHERE id = ?"
    assert frequent.execution_count == 3 and frequent.last_execution == now
    pattern = tracker._normalize_query("SELECT * FROM t WHERE id = $1")
    assert tracker.get_query_stats(pattern)["count"] == 3
    assert tracker.get_query_stats()["slow_query_threshold"] == 0.5
    assert get_query_tracker() is get_query_tracker() is query_tracker
    with pytest.raises(ValueError, match="seconds"):
        QueryTracker(slow_query_threshold=-1)


def test_track_query_decorator() -> None:
    tracker = QueryTracker()

    @track_query(tracker)
    def run_sql(sql: str) -> str:
        return sql

    class Connection:
        @track_query(tracker)
        async def execute(self, sql: str) -> int:
            return 1

    @track_query(tracker)
    def broken(sql: str) -> None:
        raise RuntimeError(sql)

    assert run_sql("SELECT 1") == "SELECT 1" and run_sql.__name__ == "run_sql"
    assert asyncio.run(Connection().execute("SELECT 2")) == 1  # a method records too
    with pytest.raises(RuntimeError):
        broken("SELECT 3")
    assert tracker.total_queries == 2


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_index_manager_and_query_optimizer(vendor: str) -> None:
    indexes = await IndexManager(db).list_indexes("users")
    assert {"username"} in [set(i["columns"]) for i in indexes]
    tracker = QueryTracker(slow_query_threshold=0.0)
    tracker.track_query("SELECT * FROM users WHERE age = 5", 2.0)
    tracker.track_query('SELECT * FROM "users" WHERE "username" = 5', 2.0)  # indexed already
    manager = IndexManager(db)
    recommendations = await manager.analyze_missing_indexes(tracker)
    assert [(r["table"], r["column"]) for r in recommendations] == [("users", "age")]
    qn = connections["default"].ops.quote_name
    assert recommendations[0]["recommendation"] == (
        f"CREATE INDEX {qn('idx_users_age')} ON {qn('users')} ({qn('age')})"
    )
    assert manager.get_recommendations() == recommendations
    optimizer = QueryOptimizer(db)
    plan = await optimizer.explain_query("SELECT * FROM users WHERE age = 5")
    assert plan and "error" not in plan
    analysis = optimizer.analyze_query_plan(plan)
    assert analysis["plan"] and isinstance(analysis["suggestions"], list)
    if vendor == "postgresql":
        assert plan["Plan"]["Node Type"] == "Seq Scan"
    assert "error" in await optimizer.explain_query("SELECT * FROM no_such_table")
    assert optimizer.analyze_query_plan({"error": "x"}) == {
        "suggestions": [],
        "plan": {"error": "x"},
    }


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_connection_pool_monitor() -> None:
    monitor = ConnectionPoolMonitor()
    monitor.record_connection_created()
    monitor.record_connection_created()
    monitor.record_connection_closed()
    monitor.record_wait_time(0.004)
    async with db.transaction():
        inside = monitor.get_stats()
    stats = monitor.get_stats()
    assert set(stats) == {
        "connections_created",
        "connections_closed",
        "connections_in_use",
        "max_connections_used",
        "avg_wait_time_ms",
        "max_wait_time_ms",
        "uptime_seconds",
    }
    assert inside["connections_in_use"] == 2 and stats["connections_in_use"] == 1
    assert stats["max_connections_used"] >= 2 and stats["max_wait_time_ms"] >= 4.0
    monitor.reset()
    assert monitor.get_stats()["connections_in_use"] == 0
    assert get_connection_monitor() is get_connection_monitor()
