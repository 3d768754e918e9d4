"""Connection strings, named databases, raw SQL and pooling settings of ``db``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from pytest_django import DjangoDbBlocker

from civ_orm_compat.connection import db, parse_url
from civ_orm_compat.exceptions import UnsupportedDatabaseURL
from tests.civ_app.models import User


def test_parse_postgres_sqlite_and_mysql_urls() -> None:
    pg = parse_url("postgres://bob:s%40cret@db.example:5433/app")
    assert (pg["ENGINE"], pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "django.db.backends.postgresql",
        "app",
        "bob",
        "s@cret",
        "db.example",
        5433,
    )
    assert parse_url("postgresql://h/x")["ENGINE"] == "django.db.backends.postgresql"
    lite = parse_url("sqlite:////tmp/some/file.sqlite3")
    assert (lite["ENGINE"], lite["NAME"]) == (
        "django.db.backends.sqlite3",
        "/tmp/some/file.sqlite3",
    )
    my = parse_url("mysql://root@127.0.0.1:3306/test", CONN_MAX_AGE=30)
    assert (my["ENGINE"], my["NAME"], my["PORT"], my["CONN_MAX_AGE"]) == (
        "django.db.backends.mysql",
        "test",
        3306,
        30,
    )
    assert parse_url("mariadb://root@h/test")["ENGINE"] == "django.db.backends.mysql"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "oracle://u:pw@h/db",
            "unsupported database URL scheme 'oracle' in oracle://u:\\*\\*\\*@h/db",
        ),
        ("just-a-name", "not a database URL: 'just-a-name'"),
        ("postgres://h", "names no database"),
    ],
)
def test_bad_urls_are_named(url: str, message: str) -> None:
    with pytest.raises(UnsupportedDatabaseURL, match=message):
        parse_url(url)


@pytest.fixture
def extra_alias(tmp_path: Path, django_db_blocker: DjangoDbBlocker) -> Iterator[str]:
    """A SQLite file database added at run time (outside pytest-django's test databases)."""
    url = f"sqlite:///{tmp_path}/extra.sqlite3"
    config = db.add_database("civ_extra", url, conn_max_age=60)
    assert config["CONN_MAX_AGE"] == 60 and config["NAME"].endswith("extra.sqlite3")
    with django_db_blocker.unblock():
        yield url
    if "civ_extra" in db.databases():
        db.remove_database("civ_extra")


@pytest.mark.asyncio
async def test_a_named_database_added_at_run_time(extra_alias: str) -> None:
    assert "civ_extra" in db.databases()
    with pytest.raises(ValueError, match="already configured"):
        db.add_database("civ_extra", extra_alias)

    def create_table() -> None:
        with connections["civ_extra"].schema_editor() as editor:
            editor.create_model(User)

    await sync_to_async(create_table)()
    await User(username="elsewhere").save(using="civ_extra")
    assert await User.objects.using("civ_extra").count() == 1
    assert (await User.get(username="elsewhere", using="civ_extra")).pk
    async with db.transaction("civ_extra"):
        await User(username="tx").save(using="civ_extra")
    assert await db.fetch_val("SELECT COUNT(*) FROM users", using="civ_extra") == 2
    assert db.pool_stats("civ_extra")["transactions_committed"] == 1
    await db.close_all()
    db.remove_database("civ_extra")
    assert "civ_extra" not in db.databases()
    with pytest.raises(ValueError, match="no database alias 'civ_extra'"):
        db.remove_database("civ_extra")
    with pytest.raises(ValueError, match="default database cannot be removed"):
        db.remove_database("default")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_raw_sql_helpers_pass_values_as_parameters() -> None:
    await User(username="ann", age=3).save()
    await User(username="ben", age=4).save()
    table = connections["default"].ops.quote_name("users")
    rows = await db.fetch_all(
        f"SELECT username, age FROM {table} WHERE age >= %s ORDER BY age", [3]
    )
    assert rows == [{"username": "ann", "age": 3}, {"username": "ben", "age": 4}]
    assert (
        await db.fetch_one(f"SELECT username FROM {table} WHERE username = %s", ["x' OR 1=1 --"])
        is None
    )
    assert await db.fetch_val(f"SELECT COUNT(*) FROM {table}") == 2
    assert await db.execute(f"UPDATE {table} SET age = age + %s", [10]) == 2
    assert await User.objects.aggregate("age", "MIN") == 13


def test_pooling_configuration() -> None:
    from django.db.backends.postgresql.psycopg_any import (  # type: ignore[import-untyped, unused-ignore]
        is_psycopg3,
    )

    if not is_psycopg3:
        with pytest.raises(ImproperlyConfigured, match="Django's connection pool needs psycopg 3"):
            db.add_database("civ_pool", "postgres://u@127.0.0.1/x", pool=True)
    with pytest.raises(ImproperlyConfigured, match="connection pools need PostgreSQL"):
        db.add_database("civ_pool", "sqlite:////tmp/x.sqlite3", pool=True)
    with pytest.raises(ValueError, match="conn_max_age must be >= 0"):
        db.add_database("civ_pool", "sqlite:////tmp/x.sqlite3", conn_max_age=-1)
    assert "civ_pool" not in db.databases()
    with pytest.raises(ValueError, match="not an identifier"):
        db.add_database("bad alias", "sqlite:////tmp/x.sqlite3")


@pytest.mark.postgresql
@pytest.mark.asyncio
async def test_psycopg3_pool_and_its_statistics(
    django_db_setup: None, django_db_blocker: DjangoDbBlocker
) -> None:
    """Runs only where psycopg 3 with psycopg_pool is installed (Django then prefers it)."""
    pytest.importorskip("psycopg_pool")
    from django.db.backends.postgresql.psycopg_any import (  # type: ignore[import-untyped, unused-ignore]
        is_psycopg3,
    )

    if not is_psycopg3:
        pytest.skip("Django uses psycopg2 here")
    default = connections.settings["default"]
    port = f":{default['PORT']}" if default["PORT"] else ""
    url = f"postgres://{default['USER']}:{default['PASSWORD']}@{default['HOST']}{port}/"
    url += default["NAME"]
    if not default["HOST"]:  # the embedded server listens on a socket directory
        url += "?host=" + quote(str(default["OPTIONS"].get("host", "")), safe="/")
    db.add_database("civ_pooled", url, pool={"min_size": 1, "max_size": 2})
    try:
        with django_db_blocker.unblock():
            for _ in range(3):
                async with db.transaction("civ_pooled"):
                    assert await db.fetch_val("SELECT 1", using="civ_pooled") == 1
            stats = db.pool_stats("civ_pooled")
            assert stats["transactions_committed"] == 3
            assert stats["backend_pool"]["pool_max"] == 2
            await db.close_all()
    finally:
        pool = getattr(connections["civ_pooled"], "pool", None)
        if pool is not None:
            pool.close()
        db.remove_database("civ_pooled")
