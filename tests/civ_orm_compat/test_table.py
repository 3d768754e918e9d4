"""The original's table-level ``QueryBuilder("table")``: SQL it builds, and running it."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from civ_orm_compat.connection import db
from civ_orm_compat.query import QueryBuilder as _QueryBuilder
from civ_orm_compat.query import TableQueryBuilder
from tests.civ_app.models import User

# django-stubs types every QuerySet subclass call as a queryset; QueryBuilder("table")
# returns the table-level builder.
QueryBuilder: Any = _QueryBuilder


def q(name: str) -> str:
    return connections["default"].ops.quote_name(name)


def test_build_quotes_identifiers_and_numbers_parameters() -> None:
    qb = QueryBuilder("users")
    assert isinstance(qb, TableQueryBuilder)
    same = qb.select("id", "username").where("age", ">", 18).where("email", "LIKE", "%@x")
    assert same is qb  # builder methods mutate and return self, as the original's
    qb.order_by("age", "desc").order_by("id").limit(10).offset(20)
    sql, params = qb.build()
    assert sql == (
        f"SELECT {q('id')}, {q('username')} FROM {q('users')} WHERE {q('age')} > $1 AND "
        f"{q('email')} LIKE $2 ORDER BY {q('age')} DESC, {q('id')} ASC LIMIT 10 OFFSET 20"
    )
    assert params == [18, "%@x"]
    sql, params = (
        QueryBuilder("users").update({"age": 1, "email": "e"}).where("id", "=", 3).build()
    )
    assert sql.startswith(f"UPDATE {q('users')} SET {q('age')} = $1, {q('email')} = $2 WHERE")
    assert params == [1, "e", 3]
    sql, params = QueryBuilder("users").delete().where("id", "IN", [1, 2]).build()
    assert sql == f"DELETE FROM {q('users')} WHERE {q('id')} IN ($1, $2)" and params == [1, 2]
    assert "RETURNING" not in sql
    sql, params = QueryBuilder("users").insert({"username": "a", "age": 3}).build()
    returning = "" if connections["default"].vendor == "mysql" else " RETURNING *"
    assert sql == f"INSERT INTO {q('users')} ({q('username')}, {q('age')}) VALUES ($1, $2)" + (
        returning
    )
    assert params == ["a", 3]
    assert repr(QueryBuilder("t")) == f"<QueryBuilder SELECT * FROM {q('t')}>"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: QueryBuilder("users; DROP TABLE users"), "not a column or table name"),
        (lambda: QueryBuilder("users").select("count(*)"), "not a column or table name"),
        (lambda: QueryBuilder("users").where("id", "= 1 OR 1 =", 1), "unknown operator"),
        (lambda: QueryBuilder("users").where("id", "IN", 5), "takes a list"),
        (lambda: QueryBuilder("users").order_by("id", "sideways"), "ASC or DESC"),
        (lambda: QueryBuilder("users").limit("10; --"), "non-negative integer"),
        (lambda: QueryBuilder("users").insert({}), "non-empty dict"),
    ],
)
def test_bad_input_is_refused(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_run_on_this_backend() -> None:
    values = {"username": "ann", "email": "a@x", "age": 30, "deleted": False}
    stamp = "created_at"
    inserted = await QueryBuilder("users").insert({**values, stamp: "2024-01-02 03:04:05"})
    returning = await sync_to_async(
        lambda: connections["default"].features.can_return_columns_from_insert
    )()
    assert [r["username"] for r in inserted] == (["ann"] if returning else [])
    await User.create(username="bob", email="b@x", age=17)
    await User.create(username="o'neil", email="o@x", age=50)
    # build() output runs through db.fetch_all(sql, *params), as the original's callers do.
    sql, params = (
        QueryBuilder("users")
        .select("username")
        .where("age", ">=", 18)
        .order_by("username")
        .build()
    )
    assert [r["username"] for r in await db.fetch_all(sql, *params)] == ["ann", "o'neil"]
    # A value is a parameter, never SQL.
    rows = await QueryBuilder("users").where("username", "=", "o'neil").fetch_all()
    assert [r["email"] for r in rows] == ["o@x"]
    assert await QueryBuilder("users").where("username", "IN", []).fetch_all() == []
    names = QueryBuilder("users").select("username").where("username", "IN", ["ann", "bob"])
    assert sorted(r["username"] for r in await names.order_by("username").limit(5)) == [
        "ann",
        "bob",
    ]
    assert (
        await QueryBuilder("users").select("age").where("username", "ILIKE", "ANN").fetch_val()
        == 30
    )
    assert (
        await QueryBuilder("users").offset(1).order_by("username").select("username").fetch_val()
        == "bob"
    )
    updated = (
        await QueryBuilder("users").update({"age": 31}).where("username", "=", "ann").fetch_all()
    )
    assert [(r["username"], r["age"]) for r in updated] == [("ann", 31)]
    assert (await User.get(username="ann")).age == 31
    assert await QueryBuilder("users").delete().where("age", "<", 18).execute() == "DELETE 1"
    assert await User.objects.count() == 2
    assert await QueryBuilder("users").delete().where("email", "IS", None) == "DELETE 0"
