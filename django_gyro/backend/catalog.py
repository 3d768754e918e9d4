"""What Gyro reads from PostgreSQL's system catalog: columns, their types, foreign keys.

Every query on ``pg_attribute`` / ``pg_constraint`` lives here, used by the export (the column
types written into the manifest), the loader (the target's columns, its foreign keys) and
``gyro_verify``. Each function takes a cursor (a Django cursor or the driver's own, both accept
``%s`` parameters) so it can run inside the caller's transaction or snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Column",
    "applied_migrations",
    "check_definition",
    "columns",
    "constraint_columns",
    "foreign_key_constraints",
    "plain_indexes",
    "type_losses",
]


@dataclass(frozen=True)
class Column:
    """One column of a table as the catalog describes it.

    Attributes:
        name: the column name.
        type: the full type with its modifier, as ``format_type()`` prints it
            (``numeric(10,2)``, ``character varying(100)``, ``timestamp(3) with time zone``).
        not_null: the column is ``NOT NULL``.
        has_default: it has a default or is an identity column.
        generated: it is a generated column (cannot be written).
    """

    name: str
    type: str
    not_null: bool
    has_default: bool
    generated: bool


def columns(cursor: Any, quoted_table: str) -> dict[str, Column]:
    """The columns of ``quoted_table`` (an identifier already quoted), in table order.

    An unknown table gives ``{}``.
    """
    cursor.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "a.atthasdef OR a.attidentity <> '', a.attgenerated <> '' "
        "FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 "
        "AND NOT a.attisdropped ORDER BY a.attnum",
        [quoted_table],
    )
    return {row[0]: Column(*row) for row in cursor.fetchall()}


#: What ``format_type()`` prints: a (possibly qualified or quoted) name, at most one modifier
#: list of integers, an optional time zone / interval field suffix, array brackets. Anything else
#: in a manifest's ``type`` is refused before it reaches SQL.
TYPE_NAME = re.compile(
    r'^(?:[A-Za-z_][A-Za-z0-9_$]*|"[^"]+")(?:\.(?:[A-Za-z_][A-Za-z0-9_$]*|"[^"]+"))?'
    r"(?: [A-Za-z_][A-Za-z0-9_]*)*(?:\(\d+(?:,\s?\d+)?\))?(?: [A-Za-z_][A-Za-z0-9_]*)*"
    r"(?:\[\])*$"
)

_INTEGER_DIGITS = {"int2": 5, "int4": 10, "int8": 19}
_WIDENINGS = {
    ("int2", "int4"),
    ("int2", "int8"),
    ("int4", "int8"),
    ("float4", "float8"),
    ("varchar", "text"),
    ("bpchar", "text"),
    ("text", "varchar"),  # only into an unconstrained varchar (checked below)
    ("timestamp", "timestamptz"),  # Django's sessions run in UTC
}


@dataclass(frozen=True)
class _Type:
    text: str
    name: str  # pg_type.typname of the type, or of the element type for an array
    array: bool
    typmod: int


def _probe(cursor: Any, types: Sequence[str]) -> list[_Type]:
    """Resolve type texts to (name, array, typmod) through a temporary table's columns."""
    columns = ", ".join(f"c{n} {text}" for n, text in enumerate(types))
    cursor.execute(f"CREATE TEMPORARY TABLE gyro_type_probe ({columns})")
    cursor.execute(
        "SELECT a.attnum, COALESCE(e.typname, t.typname), e.oid IS NOT NULL, a.atttypmod "
        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' "
        "WHERE a.attrelid = 'gyro_type_probe'::regclass AND a.attnum > 0 ORDER BY a.attnum"
    )
    rows = cursor.fetchall()
    cursor.execute("DROP TABLE gyro_type_probe")
    return [_Type(types[n - 1], str(name), bool(array), int(tm)) for n, name, array, tm in rows]


def _numeric(typmod: int) -> tuple[int, int]:
    return ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF


def _length(name: str, typmod: int) -> int:
    return typmod - 4 if name in ("varchar", "bpchar") else typmod


def _loses_data(exported: _Type, target: _Type) -> str:
    """Why a value of ``exported`` might not survive ``target`` ("" when it always does)."""
    if exported.array != target.array:
        return "another type"
    d, a = exported.name, target.name
    if d != a and (d, a) not in _WIDENINGS:
        if d in _INTEGER_DIGITS and a == "numeric":
            if target.typmod < 0:
                return ""
            precision, scale = _numeric(target.typmod)
            return "" if precision - scale >= _INTEGER_DIGITS[d] else "too few digits"
        return "another type"
    if target.typmod < 0:
        return ""  # an unconstrained target takes every value of its type
    if d != a:
        return "" if d != "text" else "a length limit"
    if a == "numeric":
        if exported.typmod < 0:
            return "a precision limit"
        (dp, ds), (ap, at) = _numeric(exported.typmod), _numeric(target.typmod)
        if at < ds:
            return "fewer decimal places"
        return "" if ap - at >= dp - ds else "fewer digits"
    if a in ("varchar", "bpchar", "bit", "varbit"):
        if exported.typmod < 0 or _length(a, target.typmod) < _length(d, exported.typmod):
            return "a shorter length limit"
        return ""
    if a in ("timestamp", "timestamptz", "time", "timetz"):
        exported_precision = 6 if exported.typmod < 0 else exported.typmod
        return "" if target.typmod >= exported_precision else "less fractional-second precision"
    return "" if target.typmod == exported.typmod else "another type modifier"


def type_losses(cursor: Any, pairs: Sequence[tuple[str, str]]) -> list[str]:
    """For each ``(exported type, target type)``: why the target may lose data, or ``""``.

    Types are compared in full, with their modifiers: ``numeric(p,s)``, ``varchar(n)``,
    timestamp precision, array element types. A target that is at least as wide (a larger
    precision or length, ``bigint`` for ``integer``, ``text`` for ``varchar``) is fine. An
    empty exported type (an old manifest without types) is not checked. Runs in the caller's
    transaction (a temporary table is created and dropped); call it inside a savepoint.

    Raises:
        ValueError: an exported type is not a PostgreSQL type (``str(exc)`` names it).
    """
    wanted = [(d, a) for d, a in pairs if d]
    for d, _ in wanted:
        if not TYPE_NAME.match(d):
            raise ValueError(d)
    probed = _probe(cursor, [t for pair in wanted for t in pair]) if wanted else []
    losses = iter(_loses_data(probed[2 * n], probed[2 * n + 1]) for n in range(len(wanted)))
    return [next(losses) if d else "" for d, _ in pairs]


def foreign_key_constraints(
    cursor: Any, quoted_tables: Sequence[str]
) -> list[tuple[str, str, str]]:
    """``(table, constraint name, definition)`` of every foreign key declared on the tables."""
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) "
        "ORDER BY conrelid::regclass::text, conname",
        [list(quoted_tables)],
    )
    return [(row[0], row[1], row[2]) for row in cursor.fetchall()]


def plain_indexes(cursor: Any, quoted_tables: Sequence[str]) -> list[tuple[str, str]]:
    """``(index, CREATE INDEX statement)`` of the tables' indexes that enforce nothing.

    Not unique, not a primary key, not backing a constraint: the indexes Django adds for foreign
    keys and ``db_index=True``, which a bulk load may drop and rebuild.
    """
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisunique AND NOT i.indisprimary "
        "AND i.indisvalid AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "WHERE c.conindid = i.indexrelid) ORDER BY 1",
        [list(quoted_tables)],
    )
    return [(row[0], row[1]) for row in cursor.fetchall()]


def constraint_columns(
    cursor: Any, table: str, constraint: str
) -> tuple[str, list[str], list[str]] | None:
    """``(referenced table, columns, referenced columns)`` of a foreign key, or None if absent."""
    cursor.execute(
        "SELECT c.confrelid::regclass::text, "
        "(SELECT array_agg(a.attname ORDER BY k.n) FROM unnest(c.conkey) WITH ORDINALITY "
        " k(att, n) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.att), "
        "(SELECT array_agg(a.attname ORDER BY k.n) FROM unnest(c.confkey) WITH ORDINALITY "
        " k(att, n) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.att) "
        "FROM pg_constraint c WHERE c.conrelid = %s::regclass AND c.conname = %s",
        [table, constraint],
    )
    row = cursor.fetchone()
    return (row[0], list(row[1]), list(row[2])) if row else None


def check_definition(cursor: Any, quoted_table: str, constraint: str) -> str:
    """``CHECK (...)`` of the table's CHECK constraint ``constraint`` ("" if there is none)."""
    cursor.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'c' "
        "AND conrelid = to_regclass(%s) AND conname = %s",
        [quoted_table, constraint],
    )
    row = cursor.fetchone()
    return str(row[0]) if row else ""


def applied_migrations(cursor: Any) -> dict[str, list[str]]:
    """``{app_label: [migration names]}`` recorded in ``django_migrations`` (``{}`` if none)."""
    cursor.execute("SELECT to_regclass('django_migrations') IS NOT NULL")
    if not cursor.fetchone()[0]:
        return {}
    cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, id")
    applied: dict[str, list[str]] = {}
    for app, name in cursor.fetchall():
        applied.setdefault(app, []).append(name)
    return applied
