"""The CIV API on MariaDB, as a named database, when a server answers on 127.0.0.1:3306.

Skipped when no server answers, when no driver (mysqlclient or PyMySQL) is installed, or when
the default database is already MariaDB/MySQL (the whole civ suite then runs on it).
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from pytest_django import DjangoDbBlocker

from civ_orm_compat.connection import db
from tests.civ_app.models import Post, Tag, User

HOST, PORT = "127.0.0.1", 3306
ALIAS = "civ_mariadb"


def _server_answers() -> bool:
    try:
        with socket.create_connection((HOST, PORT), timeout=1):
            return True
    except OSError:
        return False


def _driver() -> bool:
    try:
        from civ_orm_compat.connection import ensure_mysql_driver

        ensure_mysql_driver()
    except Exception:
        return False
    return True


pytestmark = [
    pytest.mark.skipif(not _server_answers(), reason=f"no MariaDB answers on {HOST}:{PORT}"),
    pytest.mark.skipif(not _driver(), reason="no MySQL driver (mysqlclient or PyMySQL)"),
]

MODELS = [User, Post, Tag]


@pytest.fixture(scope="module")
def mariadb(django_db_blocker: DjangoDbBlocker) -> Iterator[str]:
    """A scratch database on the MariaDB server, registered as the alias ``civ_mariadb``."""
    if connections["default"].vendor == "mysql":
        pytest.skip("the default database is MariaDB/MySQL: the whole suite covers it")
    name = f"civ_{uuid.uuid4().hex[:10]}"
    with django_db_blocker.unblock():
        db.add_database("civ_mariadb_admin", f"mysql://root@{HOST}:{PORT}/test")
        admin = connections["civ_mariadb_admin"]
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {admin.ops.quote_name(name)}")
        db.add_database(ALIAS, f"mysql://root@{HOST}:{PORT}/{name}")
        with connections[ALIAS].schema_editor() as editor:
            for model in MODELS:
                editor.create_model(model)
        try:
            yield ALIAS
        finally:
            connections[ALIAS].close()
            db.remove_database(ALIAS)
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE {admin.ops.quote_name(name)}")
            admin.close()
            db.remove_database("civ_mariadb_admin")


@pytest.fixture
def empty(mariadb: str, django_db_blocker: DjangoDbBlocker) -> Iterator[str]:
    with django_db_blocker.unblock():
        yield mariadb

        def clear() -> None:
            with connections[mariadb].cursor() as cursor:
                for table in ("civ_tags_posts", "civ_tags", "posts", "users"):
                    cursor.execute(f"DELETE FROM {connections[mariadb].ops.quote_name(table)}")

        asyncio.run(sync_to_async(clear)())
        asyncio.run(db.close_all())


@pytest.mark.asyncio
async def test_crud_queries_and_aggregates_on_mariadb(empty: str) -> None:
    assert connections[empty].vendor == "mysql"
    for i, age in enumerate([10, 20, 30]):
        await User(username=f"m{i}", email=f"m{i}@example.com", age=age).save(using=empty)
    users = User.objects.using(empty)
    assert await users.count() == 3
    assert [u.username for u in await users.filter(age__gte=20).order_by("-age").all()] == [
        "m2",
        "m1",
    ]
    assert [u.username for u in await users.order_by("age").limit(1).offset(1).all()] == ["m1"]
    assert float(await users.aggregate("age", "AVG")) == 20.0
    assert await users.filter(email__iendswith="EXAMPLE.COM").exists()
    user = await User.get(username="m0", using=empty)
    await Post(title="t", content="", author=user).save(using=empty)
    posts = await Post.objects.using(empty).select_related("author").all()
    assert [p.author.username for p in posts] == ["m0"]
    await user.delete(using=empty)
    assert await users.count() == 2 and not await Post.objects.using(empty).exists()


@pytest.mark.asyncio
async def test_transactions_on_mariadb_roll_back_and_do_not_leak(empty: str) -> None:
    class Boom(Exception):
        pass

    inserted, checked = asyncio.Event(), asyncio.Event()
    seen: list[int] = []

    async def writer() -> None:
        with pytest.raises(Boom):
            async with db.transaction(empty):
                await User(username="tx").save(using=empty)
                async with db.transaction(empty):  # a savepoint
                    await User(username="tx-inner").save(using=empty)
                inserted.set()
                await checked.wait()
                raise Boom

    async def outsider() -> None:
        await inserted.wait()
        seen.append(await User.objects.using(empty).count())
        checked.set()

    await asyncio.gather(writer(), outsider())
    assert seen == [0]
    assert await User.objects.using(empty).count() == 0
