"""Integrity of a load, set-based: foreign keys lifted and re-validated, unique errors named.

The foreign-key constraints of the loaded tables are dropped inside the load's transaction and
added back at the end, which makes PostgreSQL validate each one with a single query instead of
one trigger call per row (a rollback, or a killed client, restores them). A violation is
reported as model, key, column and value.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from django_gyro.backend import catalog
from django_gyro.exceptions import UNCHANGED, IntegrityViolation, LoadError
from django_gyro.load.keys import EXAMPLES
from django_gyro.load.plan import ModelPlan, column_of

if TYPE_CHECKING:
    from django_gyro.load.loader import Loader

__all__ = [
    "check_deferred",
    "diagnostics",
    "duplicate_keys",
    "insert_error",
    "lift_foreign_keys",
    "lift_indexes",
    "primary_message",
    "restore_foreign_keys",
    "restore_indexes",
    "unique_error",
]


def diagnostics(exc: BaseException) -> Any:
    for candidate in (exc, exc.__cause__, exc.__context__):
        diag = getattr(candidate, "diag", None)
        if diag is not None:
            return diag
    return None


def primary_message(exc: BaseException) -> str:
    diag = diagnostics(exc)
    text = getattr(diag, "message_primary", None) if diag else None
    return str(text or str(exc).strip().splitlines()[0])


def lift_foreign_keys(loader: Loader) -> None:
    # Dropping and re-adding a foreign key inside this transaction is atomic: a rollback (or
    # a killed client) restores it. Re-adding validates the whole table in one query.
    tables = [loader.q(plan.table) for plan in loader.plans]
    with loader.wrapper.cursor() as cursor:
        rows = catalog.foreign_key_constraints(cursor, tables)
    for table, name, definition in rows:
        loader.execute(f"ALTER TABLE {table} DROP CONSTRAINT {loader.q(name)}")
        loader.dropped.append((table, name, definition))
        match = re.match(r"FOREIGN KEY \(([^,()]+)\) REFERENCES", definition)
        if match:  # a one-column foreign key: re-adding it validates that column
            loader.lifted_columns.add((table.strip('"'), match.group(1).strip('"')))
    loader.log(f"lifted {len(loader.dropped)} foreign-key constraints for the load")


def lift_indexes(loader: Loader) -> None:
    """Drop the plain indexes of tables that were empty, to rebuild them once after the load.

    Building an index over the loaded rows in one sort is much cheaper than updating it row by
    row. Only indexes that enforce nothing (foreign-key and ``db_index`` indexes) are dropped;
    the drop is part of the load's transaction, so a rollback or a kill restores them.
    """
    tables = [loader.q(plan.table) for plan in loader.plans if plan.table_was_empty]
    if not tables:
        return
    with loader.wrapper.cursor() as cursor:
        indexes = catalog.plain_indexes(cursor, tables)
    for name, _definition in indexes:
        loader.execute(f"DROP INDEX {name}")  # the catalog's own (quoted) name
    loader.lifted_indexes.extend(indexes)
    loader.log(f"dropped {len(indexes)} indexes of empty tables, rebuilt after the insert")


def restore_indexes(loader: Loader) -> None:
    """Rebuild the indexes :func:`lift_indexes` dropped (statements from the catalog)."""
    for _name, definition in loader.lifted_indexes:
        loader.execute(definition)
    loader.lifted_indexes.clear()


def unique_sets(loader: Loader, plan: ModelPlan) -> list[tuple[str, ...]]:
    opts = plan.model._meta
    sets: list[tuple[str, ...]] = [(plan.pk,)]
    sets += [(f.column,) for f in opts.concrete_fields if f.unique and not f.primary_key]
    for together in opts.unique_together:
        sets.append(tuple(column_of(plan.model, n) for n in together))
    for constraint in opts.total_unique_constraints:
        sets.append(tuple(column_of(plan.model, n) for n in constraint.fields))
    return [s for s in dict.fromkeys(sets) if all(c in plan.entry.column_names for c in s)]


def insert_error(loader: Loader, plan: ModelPlan, where: str, exc: IntegrityError) -> LoadError:
    """Name the constraint a failed ``INSERT ... SELECT`` violated, and the rows that did it."""
    diag = diagnostics(exc)
    state = getattr(diag, "sqlstate", None)
    if state == "23514":
        return check_error(loader, plan, where, str(getattr(diag, "constraint_name", "") or ""))
    if state == "23502":
        return not_null_error(loader, plan, where, str(getattr(diag, "column_name", "") or ""))
    if state == "23505":
        return unique_error(loader, plan, where, exc)
    return IntegrityViolation(
        f"Could not load {plan.label} from {plan.entry.file}: {primary_message(exc)}; {UNCHANGED}"
    )


def _keys(loader: Loader, plan: ModelPlan, select: str, condition: str) -> tuple[int, str]:
    rows = loader.fetch(
        f"SELECT n.{loader.q(plan.pk)}, count(*) OVER () FROM ({select}) n WHERE {condition} "
        f"ORDER BY 1 LIMIT %s",
        [EXAMPLES],
    )
    if not rows:
        return 0, ""
    more = f" and {rows[0][1] - len(rows)} more" if rows[0][1] > len(rows) else ""
    return int(rows[0][1]), ", ".join(str(row[0]) for row in rows) + more


def check_error(loader: Loader, plan: ModelPlan, where: str, constraint: str) -> LoadError:
    """A CHECK constraint of the target rejected rows: name it, its expression and the rows."""
    with loader.wrapper.cursor() as cursor:
        definition = catalog.check_definition(cursor, loader.q(plan.table), constraint)
    detail = ""
    if definition:
        # The expression comes from the server's catalog; its columns are the file's.
        expression = definition.removeprefix("CHECK ").removesuffix(" NOT VALID")
        expression = expression.removesuffix(" NO INHERIT")
        count, keys = _keys(loader, plan, loader.select(plan, where), f"NOT {expression}")
        if count:
            detail = f" by {count} row(s) of the file, {plan.pk}={keys}"
    return IntegrityViolation(
        f"Could not load {plan.label} from {plan.entry.file}: the target's CHECK constraint "
        f"{constraint} on {plan.table} ({definition or 'unknown'}) is violated{detail}; "
        f"{UNCHANGED}"
    )


def not_null_error(loader: Loader, plan: ModelPlan, where: str, column: str) -> LoadError:
    """A NOT NULL column of the target got an empty value from the file."""
    count, keys = 0, ""
    if column in plan.entry.column_names:
        count, keys = _keys(
            loader, plan, loader.select(plan, where), f"{loader.q(column)} IS NULL"
        )
    detail = f": {count} row(s) have none, {plan.pk}={keys}" if count else ""
    return IntegrityViolation(
        f"Could not load {plan.label} from {plan.entry.file}: column {column!r} is NOT NULL in "
        f"the target table {plan.table}{detail}; {UNCHANGED}"
    )


def duplicate_keys(loader: Loader, plan: ModelPlan) -> LoadError | None:
    """Keys that appear more than once in a staged file (None when every key is unique)."""
    pk = loader.q(plan.pk)
    rows = loader.fetch(
        f"SELECT {pk}, count(*) FROM {loader.q(plan.stage)} GROUP BY {pk} HAVING count(*) > 1 "
        f"ORDER BY 1 LIMIT %s",
        [EXAMPLES],
    )
    if not rows:
        return None
    shared = "; ".join(f"{row[1]} rows share {plan.pk}={row[0]!r}" for row in rows)
    return IntegrityViolation(
        f"Could not load {plan.label} from {plan.entry.file}: {shared} (a file holds each key "
        f"once); {UNCHANGED}"
    )


def unique_error(loader: Loader, plan: ModelPlan, where: str, exc: IntegrityError) -> LoadError:
    # The failed INSERT was rolled back to its savepoint; find every offending row with
    # set-based queries so the message names model, key, column and value.
    label, pk = plan.report.label, plan.pk
    select = loader.select(plan, where)
    problems: list[str] = []
    for columns in unique_sets(loader, plan):
        cols = ", ".join(loader.q(c) for c in columns)
        for row in loader.fetch(
            f"SELECT {cols}, count(*) FROM ({select}) n GROUP BY {cols} "
            f"HAVING count(*) > 1 ORDER BY 1 LIMIT %s",
            [EXAMPLES],
        ):
            values = ", ".join(f"{c}={v!r}" for c, v in zip(columns, row, strict=False))
            problems.append(f"{label}: {row[-1]} rows in {plan.entry.file} share {values}")
        condition = " AND ".join(f"t.{loader.q(c)} = n.{loader.q(c)}" for c in columns)
        for row in loader.fetch(
            f"SELECT n.{loader.q(pk)}, {', '.join('n.' + loader.q(c) for c in columns)}, "
            f"t.{loader.q(pk)} FROM ({select}) n JOIN {loader.q(plan.table)} t ON {condition} "
            f"ORDER BY 1 LIMIT %s",
            [EXAMPLES],
        ):
            values = ", ".join(f"{c}={v!r}" for c, v in zip(columns, row[1:], strict=False))
            problems.append(
                f"{label}({pk}={row[0]}): {values} already exists in the target ({pk}={row[-1]})"
            )
    if not problems:
        detail = getattr(diagnostics(exc), "message_detail", None) or str(exc)
        problems.append(f"{label}: {detail}")
    return IntegrityViolation(
        f"Could not load {label} from {plan.entry.file}: unique constraint violated: "
        + "; ".join(problems)
        + f"; {UNCHANGED}"
    )


def restore_foreign_keys(loader: Loader) -> None:
    from django_gyro.load.keys import check_references

    problems: list[str] = []
    for table, name, definition in loader.dropped:
        try:
            with transaction.atomic(using=loader.alias):
                loader.execute(f"ALTER TABLE {table} ADD CONSTRAINT {loader.q(name)} {definition}")
        except IntegrityError:
            if not problems:
                check_references(loader, everything=True)  # a reference outside the export?
            problems.extend(fk_violations(loader, table, name))
    if problems:
        raise IntegrityViolation(
            "foreign keys would point to missing rows: " + "; ".join(problems) + f"; {UNCHANGED}"
        )


def fk_violations(loader: Loader, table: str, constraint: str) -> list[str]:
    with loader.wrapper.cursor() as cursor:
        info = catalog.constraint_columns(cursor, table, constraint)
    # The constraint is gone after the failed ADD; read its columns from the definition.
    definition = next(d for t, n, d in loader.dropped if t == table and n == constraint)
    if info:
        parent, columns, parent_columns = info
    else:
        match = re.match(r"FOREIGN KEY \((.+?)\) REFERENCES (.+?)\((.+?)\)", definition)
        if not match:
            return [f"{table}: constraint {constraint} ({definition})"]
        columns = [c.strip().strip('"') for c in match.group(1).split(",")]
        parent = match.group(2)
        parent_columns = [c.strip().strip('"') for c in match.group(3).split(",")]
    model_label = loader.label_of_table(table.strip('"'))
    pk = next(
        (p.pk for p in loader.plans if p.table == table.strip('"')),
        columns[0],
    )
    present = " AND ".join(f"c.{loader.q(c)} IS NOT NULL" for c in columns)
    join = " AND ".join(
        f"p.{loader.q(pc)} = c.{loader.q(c)}"
        for c, pc in zip(columns, parent_columns, strict=True)
    )
    rows = loader.fetch(
        f"SELECT c.{loader.q(pk)}, {', '.join('c.' + loader.q(c) for c in columns)} "
        f"FROM {table} c WHERE {present} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE "
        f"{join}) ORDER BY 1 LIMIT %s",
        [EXAMPLES],
    )
    parent_label = loader.label_of_table(parent.strip('"'))
    return [
        f"{model_label}({pk}={row[0]}): "
        + ", ".join(f"{c}={v!r}" for c, v in zip(columns, row[1:], strict=True))
        + f" has no {parent_label} row"
        for row in rows
    ] or [f"{model_label}: constraint {constraint} ({definition})"]


def check_deferred(loader: Loader) -> None:
    # Deferrable constraints the load did not lift (unique ones, FKs of other tables)
    # would only fire at COMMIT; fire them now, where a violation can still be named.
    try:
        with transaction.atomic(using=loader.alias):
            loader.execute("SET CONSTRAINTS ALL IMMEDIATE")
    except IntegrityError as exc:
        detail = getattr(diagnostics(exc), "message_detail", None) or primary_message(exc)
        raise IntegrityViolation(
            f"a deferred constraint is violated: {detail}; {UNCHANGED}"
        ) from exc
