"""The original's table-level ``QueryBuilder(table)``: select/where/order/limit, insert, update,
delete, ``build()``, and (new) execution.

The original pasted identifiers, operators and values' neighbours straight into the SQL. Here
every identifier is quoted by the backend (``connection.ops.quote_name``), operators come from a
fixed list, values are always parameters, and LIMIT/OFFSET must be integers. ``build()`` keeps
the original's output, ``(sql, params)`` with asyncpg's ``$1 … $n`` placeholders (which
``db.fetch_all(sql, *params)`` understands on every backend); the builder can also run itself:
``await qb`` / ``await qb.fetch_all()``, ``fetch_one()``, ``fetch_val()``, ``execute()``.

``RETURNING *`` is emitted where the backend has it (PostgreSQL; SQLite 3.35+; MariaDB 10.5+ for
INSERT). MariaDB has no ``UPDATE … RETURNING``: ``build()`` leaves it out there, and the
builder's own execution emulates it (rows locked and read first, then updated, inside one
transaction).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from civ_orm_compat import _raw
from civ_orm_compat._async import run

__all__ = ["OPERATORS", "TableQueryBuilder"]

#: The operators ``where()`` accepts (the original pasted any string).
OPERATORS = frozenset(
    {
        "=",
        "!=",
        "<>",
        "<",
        "<=",
        ">",
        ">=",
        "LIKE",
        "NOT LIKE",
        "ILIKE",
        "NOT ILIKE",
        "IN",
        "NOT IN",
        "IS",
        "IS NOT",
    }
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def _check_identifier(kind: str, name: Any, star: bool = False) -> str:
    if star and name == "*":
        return name
    parts = name.split(".") if isinstance(name, str) else []
    if not parts or not all(_IDENTIFIER.fullmatch(part) for part in parts):
        raise ValueError(
            f"QueryBuilder: {kind} {name!r} is not a column or table name (letters, digits, _; "
            "table.column allowed); expressions are not pasted into SQL"
        )
    return str(name)


def _check_count(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"QueryBuilder.{name}() takes a non-negative integer, got {value!r}")
    return value


class TableQueryBuilder:
    """``QueryBuilder("users")``: the original's fluent builder over a table.

    Every builder method changes the builder and returns it (the original's semantics: nothing
    is cloned). ``insert``/``update``/``delete`` pick the statement; the last call wins.
    """

    def __init__(self, table: str, using: str | None = None) -> None:
        self.table = _check_identifier("table", table)
        self.using = using or DEFAULT_DB_ALIAS
        self._select: list[str] = ["*"]
        self._where: list[tuple[str, str, Any]] = []
        self._order_by: list[tuple[str, str]] = []
        self._limit_value: int | None = None
        self._offset_value: int | None = None
        self._values: dict[str, Any] = {}
        self._operation = "SELECT"

    # -- building (each returns self) ----------------------------------------------------
    def select(self, *columns: str) -> TableQueryBuilder:
        """Replace the column list (no arguments: keep it)."""
        if columns:
            self._select = [_check_identifier("column", c, star=True) for c in columns]
        return self

    def where(self, column: str, operator: str = "=", value: Any = None) -> TableQueryBuilder:
        """Add ``column <operator> value`` (joined with AND); ``IN`` takes a list."""
        op = " ".join(str(operator).upper().split()) if isinstance(operator, str) else operator
        if op not in OPERATORS:
            raise ValueError(
                f"QueryBuilder.where(): unknown operator {operator!r}; use one of "
                + ", ".join(sorted(OPERATORS))
            )
        if op in {"IN", "NOT IN"} and (
            isinstance(value, str | bytes) or not isinstance(value, Sequence | set | frozenset)
        ):
            raise ValueError(f"QueryBuilder.where({column!r}, {op!r}, ...) takes a list of values")
        self._where.append((_check_identifier("column", column), op, value))
        return self

    def order_by(self, column: str, direction: str = "ASC") -> TableQueryBuilder:
        """Add an ordering (calls accumulate)."""
        direction = str(direction).upper()
        if direction not in {"ASC", "DESC"}:
            raise ValueError(
                f"QueryBuilder.order_by(): direction must be ASC or DESC, not {direction!r}"
            )
        self._order_by.append((_check_identifier("column", column), direction))
        return self

    def limit(self, n: int) -> TableQueryBuilder:
        """At most ``n`` rows (0 is emitted too)."""
        self._limit_value = _check_count("limit", n)
        return self

    def offset(self, n: int) -> TableQueryBuilder:
        """Skip ``n`` rows."""
        self._offset_value = _check_count("offset", n)
        return self

    def insert(self, values: dict[str, Any]) -> TableQueryBuilder:
        """Make this an ``INSERT … RETURNING *`` of ``values``."""
        self._values = self._checked_values("insert", values)
        self._operation = "INSERT"
        return self

    def update(self, values: dict[str, Any]) -> TableQueryBuilder:
        """Make this an ``UPDATE … SET values WHERE … RETURNING *``."""
        self._values = self._checked_values("update", values)
        self._operation = "UPDATE"
        return self

    def delete(self) -> TableQueryBuilder:
        """Make this a ``DELETE … WHERE …``."""
        self._operation = "DELETE"
        return self

    @staticmethod
    def _checked_values(method: str, values: Any) -> dict[str, Any]:
        if not isinstance(values, dict) or not values:
            raise ValueError(f"QueryBuilder.{method}() takes a non-empty dict of column: value")
        for column in values:
            _check_identifier("column", column)
        return dict(values)

    # -- SQL ------------------------------------------------------------------------------
    def build(self, using: str | None = None) -> tuple[str, list[Any]]:
        """``(sql, params)`` with ``$1 … $n`` placeholders, as the original's ``build()``.

        Identifiers are quoted for the database ``using`` (default: the builder's). Pure: no
        query runs, so it is safe in async code. On MariaDB/MySQL it never emits ``RETURNING``
        (whether the server has it takes a query to find out); await the builder itself to get
        the rows back there.
        """
        connection = connections[using or self.using]
        sql, params = self.compose(connection, returning=connection.vendor != "mysql")
        numbered = iter(range(1, len(params) + 1))
        return re.sub("%s", lambda _m: f"${next(numbered)}", sql.replace("%%", "%")), params

    def compose(
        self, connection: BaseDatabaseWrapper, returning: bool = True
    ) -> tuple[str, list[Any]]:
        """``(sql, params)`` with the driver's ``%s`` placeholders, for ``connection``.

        ``returning`` adds ``RETURNING *`` to INSERT/UPDATE where the backend has it; call it
        with ``returning=True`` only where queries may run (MySQL's answer takes one).
        """
        qn = connection.ops.quote_name
        table = self._quote(qn, self.table)
        params: list[Any] = []
        if self._operation == "SELECT":
            columns = ", ".join(self._quote(qn, c) for c in self._select)
            parts = [f"SELECT {columns} FROM {table}", self._where_sql(connection, params)]
            if self._order_by:
                parts.append(
                    "ORDER BY " + ", ".join(f"{self._quote(qn, c)} {d}" for c, d in self._order_by)
                )
            if self._limit_value is not None or self._offset_value is not None:
                limit: Any = self._limit_value
                if limit is None:
                    limit = connection.ops.no_limit_value()
                if limit is not None:
                    parts.append(f"LIMIT {int(limit)}")
                if self._offset_value is not None:
                    parts.append(f"OFFSET {int(self._offset_value)}")
        elif self._operation == "INSERT":
            columns = ", ".join(self._quote(qn, c) for c in self._values)
            params.extend(self._values.values())
            marks = ", ".join(["%s"] * len(self._values))
            parts = [f"INSERT INTO {table} ({columns}) VALUES ({marks})"]
            if returning and connection.features.can_return_columns_from_insert:
                parts.append("RETURNING *")  # (on MySQL this reads the server version)
        elif self._operation == "UPDATE":
            sets = ", ".join(f"{self._quote(qn, c)} = %s" for c in self._values)
            params.extend(self._values.values())
            parts = [f"UPDATE {table} SET {sets}", self._where_sql(connection, params)]
            if returning and self._update_returns(connection):
                parts.append("RETURNING *")
        elif self._operation == "DELETE":
            parts = [f"DELETE FROM {table}", self._where_sql(connection, params)]
        else:  # pragma: no cover - only the methods above set it
            raise ValueError(f"unknown operation {self._operation!r}")
        return " ".join(part for part in parts if part), params

    @staticmethod
    def _update_returns(connection: BaseDatabaseWrapper) -> bool:
        # MariaDB has INSERT ... RETURNING but no UPDATE ... RETURNING.
        return connection.vendor != "mysql" and bool(
            connection.features.can_return_columns_from_insert
        )

    @staticmethod
    def _quote(qn: Any, name: str) -> str:
        return "*" if name == "*" else ".".join(qn(part) for part in name.split("."))

    def _where_sql(self, connection: BaseDatabaseWrapper, params: list[Any]) -> str:
        if not self._where:
            return ""
        qn = connection.ops.quote_name
        clauses = []
        for column, op, value in self._where:
            col = self._quote(qn, column)
            if op in {"IN", "NOT IN"}:
                values = list(value)
                if not values:  # IN () is a syntax error: nothing matches / everything does
                    clauses.append("1 = 0" if op == "IN" else "1 = 1")
                    continue
                params.extend(values)
                clauses.append(f"{col} {op} ({', '.join(['%s'] * len(values))})")
            elif op in {"IS", "IS NOT"} and value is None:
                clauses.append(f"{col} {op} NULL")
            elif op in {"ILIKE", "NOT ILIKE"} and connection.vendor != "postgresql":
                params.append(value)
                negation = "NOT " if op == "NOT ILIKE" else ""
                clauses.append(f"UPPER({col}) {negation}LIKE UPPER(%s)")
            else:
                params.append(value)
                clauses.append(f"{col} {op} %s")
        return "WHERE " + " AND ".join(clauses)

    def __repr__(self) -> str:
        return f"<QueryBuilder {self.build()[0]}>"

    # -- execution (new: the original only built) ------------------------------------------
    def __await__(self) -> Generator[Any, None, Any]:
        if self._operation == "DELETE":
            return self.execute().__await__()
        return self.fetch_all().__await__()

    async def fetch_all(self) -> list[dict[str, Any]]:
        """Run the statement; every row (SELECT, or the rows INSERT/UPDATE returned)."""
        return await run(self._fetch, None)

    async def fetch_one(self) -> dict[str, Any] | None:
        """Run the statement; the first row, or None."""
        rows = await run(self._fetch, 1)
        return rows[0] if rows else None

    async def fetch_val(self) -> Any:
        """Run the statement; the first column of the first row, or None."""
        rows = await run(self._fetch, 1)
        return next(iter(rows[0].values())) if rows else None

    async def execute(self) -> str:
        """Run the statement; asyncpg's status string (``"DELETE 3"``)."""
        return await run(self._execute)

    def _execute(self) -> str:
        connection = connections[self.using]
        sql, params = self.compose(connection, returning=False)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return _raw.status_tag(sql, _raw._rowcount(cursor, sql))

    def _fetch(self, limit: int | None) -> list[dict[str, Any]]:
        connection = connections[self.using]
        if self._operation == "UPDATE" and not self._update_returns(connection):
            return self._emulated_update_returning(connection)[:limit]
        sql, params = self.compose(connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if cursor.description is None:
                return []
            names = [column[0] for column in cursor.description]
            rows = cursor.fetchmany(limit) if limit else cursor.fetchall()
        return [dict(zip(names, row, strict=True)) for row in rows]

    def _emulated_update_returning(self, connection: BaseDatabaseWrapper) -> list[dict[str, Any]]:
        select = TableQueryBuilder(self.table, self.using)
        select._where = list(self._where)
        sql, params = select.compose(connection)
        with transaction.atomic(using=self.using), connection.cursor() as cursor:
            cursor.execute(sql + " FOR UPDATE", params)
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            update_sql, update_params = self.compose(connection, returning=False)
            cursor.execute(update_sql, update_params)
        for row in rows:
            row.update(self._values)
        return rows
