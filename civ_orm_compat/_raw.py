"""Raw SQL for ``db.execute/fetch_one/fetch_all/fetch_val``: asyncpg's ``$n`` placeholders on
every backend, and asyncpg's status strings.

The original CIV package ran SQL through asyncpg, whose placeholders are ``$1 … $n`` (a number
may repeat and come in any order). Django's cursors take ``%s`` in order of occurrence on every
backend, so :func:`translate` rewrites the statement with a small lexer that knows where a ``$``
is *not* a placeholder: inside string literals (``'…'``, ``E'…'``, MySQL's backslash escapes),
quoted identifiers (``"…"``, `` `…` ``), comments and PostgreSQL dollar-quoted bodies
(``$$…$$``, ``$tag$…$tag$``), and inside an identifier (``a$1``). A literal ``%`` is doubled,
since the driver interpolates ``%s``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

from civ_orm_compat._databases import check_alias, vendor

__all__ = [
    "PLACEHOLDER",
    "call_style",
    "ensure_connection",
    "execute",
    "fetch",
    "has_placeholders",
    "run_script",
    "status_tag",
    "translate",
]

#: Whether a statement may hold an asyncpg placeholder (the lexer decides for sure).
PLACEHOLDER = re.compile(r"\$\d")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_$]")
_WORD = re.compile(r"[A-Za-z]+")
_OBJECTS = {
    "TABLE",
    "INDEX",
    "VIEW",
    "SEQUENCE",
    "SCHEMA",
    "FUNCTION",
    "TRIGGER",
    "EXTENSION",
    "TYPE",
    "DATABASE",
    "PROCEDURE",
}


def has_placeholders(sql: str, vendor: str = "postgresql") -> bool:
    """Whether ``sql`` uses asyncpg ``$n`` placeholders outside literals and comments."""
    if PLACEHOLDER.search(sql) is None:
        return False
    return bool(_scanned(sql, vendor)[1])


@functools.lru_cache(maxsize=1024)
def _scanned(sql: str, vendor: str) -> tuple[str, tuple[int, ...]]:
    # Applications run the same statements again and again: lex each once.
    out, numbers = _scan(sql, vendor, [])
    return out, tuple(numbers)


def translate(sql: str, args: Sequence[Any], vendor: str) -> tuple[str, list[Any]]:
    """Rewrite ``$n`` placeholders to ``%s`` and order ``args`` to match.

    Args:
        sql: one statement with ``$1 … $n`` placeholders.
        args: the values, ``args[0]`` for ``$1``.
        vendor: ``connection.vendor`` (MySQL strings take backslash escapes).

    Raises:
        ValueError: a placeholder has no argument, or an argument no placeholder.
    """
    out, numbers = _scanned(sql, vendor)
    if not numbers:
        return sql, list(args)
    for n in numbers:
        if not 1 <= n <= len(args):
            raise ValueError(f"the SQL uses ${n} but {len(args)} argument(s) were given: {sql!r}")
    unused = set(range(1, len(args) + 1)).difference(numbers)
    if unused:
        raise ValueError(
            f"argument(s) {', '.join(f'${n}' for n in sorted(unused))} not used by the SQL {sql!r}"
        )
    return out, [args[n - 1] for n in numbers]


def _scan(sql: str, vendor: str, numbers: list[int]) -> tuple[str, list[int]]:
    out: list[str] = []
    i, size = 0, len(sql)
    backslashes = vendor == "mysql"
    while i < size:
        char = sql[i]
        if char in "'\"`":
            escapes = backslashes or (
                char == "'" and i > 0 and sql[i - 1] in "eE" and not _ident_before(sql, i - 1)
            )
            end = _quoted_end(sql, i, char, escapes)
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif sql.startswith("--", i) or (char == "#" and vendor == "mysql"):
            end = sql.find("\n", i)
            end = size if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = size if end < 0 else end + 2
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif char == "$":
            j = i + 1
            while j < size and sql[j].isdigit():
                j += 1
            if j > i + 1 and not _ident_before(sql, i):
                numbers.append(int(sql[i + 1 : j]))
                out.append("%s")
                i = j
                continue
            tag = _DOLLAR_TAG.match(sql, i)
            if tag is not None and not _ident_before(sql, i):
                end = sql.find(tag.group(0), tag.end())
                end = size if end < 0 else end + len(tag.group(0))
                out.append(sql[i:end].replace("%", "%%"))
                i = end
            else:
                out.append(char)
                i += 1
        elif char == "%":
            out.append("%%")
            i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out), numbers


def _ident_before(sql: str, i: int) -> bool:
    return i > 0 and _IDENT_CHAR.match(sql[i - 1]) is not None


def _quoted_end(sql: str, start: int, quote: str, escapes: bool) -> int:
    i, size = start + 1, len(sql)
    while i < size:
        char = sql[i]
        if escapes and char == "\\":
            i += 2
            continue
        if char == quote:
            if i + 1 < size and sql[i + 1] == quote:  # doubled quote
                i += 2
                continue
            return i + 1
        i += 1
    return size


def status_tag(sql: str, rowcount: int) -> str:
    """asyncpg's status string for ``sql`` (``"INSERT 0 1"``, ``"UPDATE 3"``, ...)."""
    words = [w.upper() for w in _WORD.findall(_strip_comments(sql)[:200])]
    if not words:
        return ""
    command = words[0]
    if command == "WITH":
        command = next((w for w in words if w in {"INSERT", "UPDATE", "DELETE"}), "SELECT")
    count = max(rowcount, 0)
    if command == "INSERT":
        return f"INSERT 0 {count}"
    if command in {"UPDATE", "DELETE", "SELECT", "MERGE", "MOVE", "FETCH", "COPY"}:
        return f"{command} {count}"
    if command in {"CREATE", "DROP", "ALTER"}:
        kind = next((w for w in words[1:6] if w in _OBJECTS), None)
        return f"{command} {kind}" if kind else command
    return command


def _strip_comments(sql: str) -> str:
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    return re.sub(r"--[^\n]*", " ", sql).strip()


def run_script(alias: str, sql: str) -> tuple[str, int]:
    """Run ``sql`` (one or several ``;``-separated statements, no parameters).

    Returns the last statement and its row count. psycopg2 runs a script in one call; SQLite and
    MySQL take one statement at a time, split by Django's own ``prepare_sql_script``.
    """
    connection = connections[alias]
    statements = [sql]
    if ";" in sql.strip().rstrip(";"):
        statements = connection.ops.prepare_sql_script(sql) or [sql]
    rowcount = -1
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
            rowcount = _rowcount(cursor, statement)
    return statements[-1], rowcount


def _rowcount(cursor: Any, sql: str) -> int:
    if cursor.description is not None and cursor.rowcount < 0:
        return len(cursor.fetchall())
    return int(cursor.rowcount)


# --------------------------------------------------------------------------- db.* calls


def call_style(
    method: str,
    sql: str,
    args: tuple[Any, ...],
    params: Sequence[Any] | None,
    using: str | None,
) -> tuple[str, Sequence[Any] | None, bool]:
    """(alias, params, original style) of a ``db.*`` raw call (see ``DatabaseConnection.execute``).

    Raises:
        TypeError: the arguments fit neither style.
    """
    if not isinstance(sql, str):
        raise TypeError(f"db.{method}() takes the SQL as a str, got {type(sql).__name__}")
    alias = using or DEFAULT_DB_ALIAS
    if PLACEHOLDER.search(sql) is not None and has_placeholders(sql, vendor(alias)):
        if params is not None:
            raise TypeError(
                f"db.{method}(): the SQL uses $n placeholders, so pass the values as "
                "positional arguments, not params="
            )
        return alias, args, True
    if len(args) > 2 or (args and params is not None):
        raise TypeError(
            f"db.{method}(): {len(args)} positional argument(s) after the SQL, but it has no "
            "$n placeholders; use $1, $2, ... with positional values, or %s with one params "
            "sequence"
        )
    if args:
        params = args[0]
        if len(args) == 2:
            if using is not None or not isinstance(args[1], str):
                raise TypeError(f"db.{method}(sql, params, using): using must be an alias name")
            using = args[1]
    if params is not None and (
        isinstance(params, str | bytes) or not isinstance(params, Sequence)
    ):
        raise TypeError(
            f"db.{method}(): params must be a list or tuple for %s placeholders, got "
            f"{params!r}; with asyncpg-style values write $1, $2, ... in the SQL"
        )
    return check_alias(using or DEFAULT_DB_ALIAS), params, False


def ensure_connection(alias: str) -> None:
    """Open (and check) this thread's connection to ``alias`` (``db.connect()``)."""
    connections[alias].ensure_connection()


def execute(
    alias: str, sql: str, params: Sequence[Any] | None, original: bool, status: bool
) -> Any:
    """``db.execute`` in the worker thread: the row count, or asyncpg's status string."""
    connection = connections[alias]
    if original:
        sql, params = translate(sql, params or (), connection.vendor)
    if params is None:
        last, rowcount = run_script(alias, sql)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rowcount = _rowcount(cursor, sql) if status else cursor.rowcount
        last = sql
    return status_tag(last, rowcount) if status else rowcount


def fetch(
    alias: str, sql: str, params: Sequence[Any] | None, limit: int | None, original: bool
) -> list[dict[str, Any]]:
    """``db.fetch_*`` in the worker thread: at most ``limit`` rows as dicts."""
    connection = connections[alias]
    if original:
        sql, params = translate(sql, params or (), connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description or ()]
        if not names:
            return []
        rows = cursor.fetchmany(limit) if limit else cursor.fetchall()
    return [dict(zip(names, row, strict=True)) for row in rows]
