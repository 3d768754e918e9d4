"""What Gyro reads from PostgreSQL's system catalog: columns, their types, foreign keys.

Every query on ``pg_attribute`` / ``pg_constraint`` lives here, used by the export (the column
types written into the manifest), the loader (the target's columns, its foreign keys) and
``gyro_verify``. Each function takes a cursor (a Django cursor or the driver's own, both accept
``%s`` parameters) so it can run inside the caller's transaction or snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Column",
    "applied_migrations",
    "columns",
    "constraint_columns",
    "foreign_key_constraints",
    "same_types",
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


def same_types(cursor: Any, pairs: Sequence[tuple[str, str]]) -> list[bool]:
    """For each ``(exported type, target type)``: whether PostgreSQL resolves both to one type.

    An empty exported type (an old manifest without types) always matches.
    """
    if not pairs:
        return []
    cursor.execute(
        "SELECT d = '' OR to_regtype(d)::text IS NOT DISTINCT FROM to_regtype(a)::text "
        "FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS x(d, a, n) ORDER BY n",
        [[d for d, _ in pairs], [a for _, a in pairs]],
    )
    return [bool(row[0]) for row in cursor.fetchall()]


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
