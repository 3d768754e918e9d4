"""``db.execute/fetch_*(sql, *args)`` with asyncpg's ``$n`` placeholders, on every backend."""

from __future__ import annotations

import pytest

from civ_orm_compat._raw import has_placeholders, status_tag, translate
from civ_orm_compat.connection import DatabaseConnection, db
from tests.civ_app.models import User


@pytest.mark.parametrize(
    ("sql", "args", "expected", "params"),
    [
        ("SELECT * FROM t WHERE a = $1", [5], "SELECT * FROM t WHERE a = %s", [5]),
        # Out of order and repeated: params follow the occurrences.
        ("SELECT $2, $1, $2", ["a", "b"], "SELECT %s, %s, %s", ["b", "a", "b"]),
        # A $ inside a string literal, a quoted identifier or a comment is not a placeholder.
        ("SELECT '$1 costs $2', $1", [7], "SELECT '$1 costs $2', %s", [7]),
        ("SELECT 'it''s $1', $1", [7], "SELECT 'it''s $1', %s", [7]),
        ('SELECT "col$1" FROM t WHERE x = $1', [1], 'SELECT "col$1" FROM t WHERE x = %s', [1]),
        ("SELECT 1 -- $1\n, $1", [2], "SELECT 1 -- $1\n, %s", [2]),
        ("SELECT /* $1 */ $1", [2], "SELECT /* $1 */ %s", [2]),
        # PostgreSQL dollar quoting and identifiers containing $.
        ("SELECT $$ $1 $$, $tag$ $2 $tag$, $1", [3], "SELECT $$ $1 $$, $tag$ $2 $tag$, %s", [3]),
        ("SELECT a$1 FROM t WHERE b = $1", [4], "SELECT a$1 FROM t WHERE b = %s", [4]),
        # A literal % is doubled for the driver's %s interpolation.
        ("SELECT '50%' LIKE $1", ["5%"], "SELECT '50%%' LIKE %s", ["5%"]),
    ],
)
def test_translate(sql: str, args: list[object], expected: str, params: list[object]) -> None:
    assert translate(sql, args, "postgresql") == (expected, params)


def test_mysql_backslash_escapes_and_errors() -> None:
    assert translate(r"SELECT 'a\'$1', $1", [1], "mysql") == (r"SELECT 'a\'$1', %s", [1])
    # Without backslash escapes (PostgreSQL standard strings) the quote ends the literal.
    assert translate(r"SELECT 'a\', $1", [1], "postgresql") == (r"SELECT 'a\', %s", [1])
    with pytest.raises(ValueError, match=r"uses \$2 but 1 argument"):
        translate("SELECT $1, $2", [1], "postgresql")
    with pytest.raises(ValueError, match=r"\$2 not used"):
        translate("SELECT $1", [1, 2], "postgresql")
    assert not has_placeholders("SELECT '$1'") and has_placeholders("SELECT $1")


def test_status_tags() -> None:
    assert status_tag("INSERT INTO t VALUES (1)", 1) == "INSERT 0 1"
    assert status_tag("  update t set a = 1", 3) == "UPDATE 3"
    assert status_tag("DELETE FROM t", 0) == "DELETE 0"
    assert status_tag("CREATE UNIQUE INDEX i ON t (a)", -1) == "CREATE INDEX"
    assert status_tag("CREATE TABLE IF NOT EXISTS t (a int)", -1) == "CREATE TABLE"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_original_calls_on_this_backend() -> None:
    tag = await db.execute(
        "INSERT INTO users (username, email, age, deleted, created_at) "
        "VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)",
        "ann",
        "a@x",
        30,
        False,
    )
    assert tag == "INSERT 0 1"
    await User.create(username="bob", email="b@x", age=20)
    row = await db.fetch_one("SELECT username, age FROM users WHERE username = $1", "ann")
    assert row == {"username": "ann", "age": 30}
    # Two values: the second is a value, not a database alias; $2 before $1.
    rows = await db.fetch_all(
        "SELECT username FROM users WHERE age >= $2 AND username <> $1 ORDER BY username",
        "zed",
        18,
    )
    assert [r["username"] for r in rows] == ["ann", "bob"]
    # A '$1' inside a literal stays text.
    assert await db.fetch_val("SELECT '$1 and 100%' FROM users WHERE age = $1", 20) == (
        "$1 and 100%"
    )
    assert await db.fetch_val("SELECT count(*) FROM users WHERE age > $1", 100) == 0
    assert await db.fetch_one("SELECT * FROM users WHERE username = $1", "nobody") is None
    assert await db.execute("UPDATE users SET age = age + $1", 1) == "UPDATE 2"
    assert await db.execute("DELETE FROM users WHERE username = $1", "nobody") == "DELETE 0"
    # The Django style keeps working: %s with one params sequence, row counts.
    assert await db.execute("UPDATE users SET age = %s WHERE username = %s", [1, "ann"]) == 1


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_scripts_connect_pool_and_bad_calls(settings: object) -> None:
    await db.execute("CREATE TABLE h_script (a INTEGER); INSERT INTO h_script VALUES (1);")
    try:
        assert await db.fetch_val("SELECT a FROM h_script") == 1
        await db.connect()
        assert db.pool is not None
        async with db.pool.acquire() as conn:
            assert await conn.fetchval("SELECT a FROM h_script WHERE a = $1", 1) == 1
            async with conn.transaction():
                assert await conn.execute("INSERT INTO h_script VALUES ($1)", 2) == "INSERT 0 1"
            assert [r["a"] for r in await conn.fetch("SELECT a FROM h_script ORDER BY a")] == [
                1,
                2,
            ]
        await db.disconnect()
        assert db.pool is None
        assert await db.fetch_val("SELECT count(*) FROM h_script") == 2  # reconnects lazily
    finally:
        await db.execute("DROP TABLE h_script")
    with pytest.raises(TypeError, match="no \\$n placeholders"):
        await db.fetch_one("SELECT 1", "a", "b", "c")
    with pytest.raises(TypeError, match="params must be a list"):
        await db.fetch_one("SELECT 1 WHERE 1 = %s", 5)
    assert repr(DatabaseConnection()).startswith("<DatabaseConnection ")
