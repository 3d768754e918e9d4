"""Deciding the key of every loaded row: kept, remapped, merged, skipped or updated.

Each model with a strategy gets a temporary key map (``old -> new, action``), filled set-based in
the load's transaction; children's foreign keys are rewritten through their parents' maps when
the rows are inserted (:func:`parent_joins`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, models, transaction

from django_gyro.exceptions import UNCHANGED, IntegrityViolation, KeyConflictError, LoadError
from django_gyro.load.plan import ForeignKeyPlan, ModelPlan
from django_gyro.models import KeyAction

if TYPE_CHECKING:
    from django_gyro.load.loader import Loader

__all__ = ["EXAMPLES", "check_references", "decide_keys", "parent_joins"]

#: How many offending keys an error message lists.
EXAMPLES = 5


def create_map(loader: Loader, plan: ModelPlan) -> None:
    loader.execute(
        f"CREATE TEMPORARY TABLE {loader.q(plan.map)} ON COMMIT DROP AS "
        f"SELECT {loader.q(plan.pk)} AS old, {loader.q(plan.pk)} AS new, ''::text AS action "
        f"FROM {loader.q(plan.table)} WITH NO DATA"
    )


def index_map(loader: Loader, plan: ModelPlan) -> None:
    """Index the map on ``old``; a key that appears twice in the file is named as such."""
    from django_gyro.load.integrity import duplicate_keys

    try:
        with transaction.atomic(using=loader.alias):
            loader.execute(f"CREATE UNIQUE INDEX ON {loader.q(plan.map)} (old)")
    except IntegrityError:
        error = duplicate_keys(loader, plan)
        if error is None:
            raise
        raise error from None
    loader.execute(f"ANALYZE {loader.q(plan.map)}")


def parent_joins(
    loader: Loader, plan: ModelPlan, columns: list[str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """Expressions giving each column's value in the target's key space, and the joins."""
    exprs: dict[str, str] = {}
    joins: list[str] = []
    wanted = columns if columns is not None else plan.entry.column_names
    for fk in plan.fks:
        if fk.column not in wanted or not fk.in_export:
            continue
        parent = loader.by_label[fk.parent]
        if parent.map_kind != "rewrite":
            continue
        alias = f"p{len(joins)}"
        joins.append(
            f"LEFT JOIN {loader.q(parent.map)} {alias} ON {alias}.old = s.{loader.q(fk.column)}"
        )
        exprs[fk.column] = f"COALESCE({alias}.new, s.{loader.q(fk.column)})"
    for name in wanted:
        exprs.setdefault(name, f"s.{loader.q(name)}")
    return exprs, joins


def _check_natural_key_parents(loader: Loader, plan: ModelPlan) -> None:
    """A natural key may only use foreign keys whose parents' keys are already decided."""
    for fk in plan.fks:
        if fk.column not in plan.natural_key or not fk.in_export:
            continue
        parent = loader.by_label[fk.parent]
        if parent.decided and parent is not plan:
            continue
        raise LoadError(
            f"{plan.label} is matched ({plan.strategy}) on its natural key "
            f"({', '.join(plan.natural_key)}), which uses {fk.column} -> {fk.parent}, but "
            f"{fk.parent}'s keys depend on {plan.label} (a foreign-key cycle or a "
            f"self-reference); choose a natural key without {fk.column}, or "
            f"on_conflict='remap' for {plan.label}; {UNCHANGED}"
        )


def decide_keys(loader: Loader) -> None:
    """Decide every staged row's key, model by model in load order (parents first).

    A foreign key in a natural key is compared with its parent's *resolved* key (the key the
    parent row has, or will have, in the target), so matching never uses an exported key that
    means another row in the target.

    Raises:
        KeyConflictError: rows collide with the target's under the chosen strategies.
        LoadError: a natural key that needs a parent decided after its model (a cycle).
    """
    problems: list[str] = []
    for plan in loader.plans:
        if plan.table_was_empty:
            plan.decided = True
            continue
        strategy = plan.strategy
        if strategy in ("merge", "skip", "update"):
            _check_natural_key_parents(loader, plan)
        plan.report.keys = strategy
        if strategy == "error":
            problems.extend(pk_conflicts(loader, plan))
        elif strategy in ("remap", "merge"):
            plan.map_kind = "rewrite"
            create_map(loader, plan)
            if strategy == "merge" and plan.natural_key:
                merge(loader, plan)
            problems.extend(allocate(loader, plan))
            index_map(loader, plan)
        else:
            plan.map_kind = "identity"
            create_map(loader, plan)
            problems.extend(same_key(loader, plan))
            index_map(loader, plan)
        plan.decided = True
    if problems:
        raise KeyConflictError(
            "the target already has rows under these keys: "
            + "; ".join(problems)
            + f". Use on_conflict='remap' (new keys), 'merge', 'skip' or 'update'; {UNCHANGED}"
        )


def pk_conflicts(loader: Loader, plan: ModelPlan) -> list[str]:
    pk = loader.q(plan.pk)
    rows = loader.fetch(
        f"SELECT s.{pk}, count(*) OVER () FROM {loader.q(plan.stage)} s "
        f"JOIN {loader.q(plan.table)} t ON t.{pk} = s.{pk} ORDER BY 1 LIMIT %s",
        [EXAMPLES],
    )
    if not rows:
        return []
    keys = ", ".join(str(row[0]) for row in rows)
    more = f" and {rows[0][1] - len(rows)} more" if rows[0][1] > len(rows) else ""
    return [f"{plan.report.label} {plan.pk} {keys}{more} ({plan.entry.file})"]


def merge(loader: Loader, plan: ModelPlan) -> None:
    exprs, joins = parent_joins(loader, plan, list(plan.natural_key))
    condition = " AND ".join(f"t.{loader.q(c)} = {exprs[c]}" for c in plan.natural_key)
    pk = loader.q(plan.pk)
    count = loader.execute(
        f"INSERT INTO {loader.q(plan.map)} (old, new, action) "
        f"SELECT DISTINCT ON (s.{pk}) s.{pk}, t.{pk}, %s FROM {loader.q(plan.stage)} s "
        f"{' '.join(joins)} JOIN {loader.q(plan.table)} t ON {condition} "
        f"ORDER BY s.{pk}, t.{pk}",
        [KeyAction.MERGED.value],
    )
    plan.report.merged = count


def allocate(loader: Loader, plan: ModelPlan) -> list[str]:
    """New keys for the staged rows the map does not cover yet (``remapped``).

    Integer keys come from the table's sequence, UUIDs from ``gen_random_uuid()``. A dry run
    does not touch the sequence (``nextval`` is not rolled back): it numbers the rows after the
    table's largest key instead, which gives the same counts.
    """
    pk_field = plan.model._meta.pk
    table, pk = loader.q(plan.table), loader.q(plan.pk)
    params: list[Any] = []
    if isinstance(pk_field, models.UUIDField):
        new = "gen_random_uuid()"
    else:
        sequence = loader.fetch("SELECT pg_get_serial_sequence(%s, %s)", [table, plan.pk])[0][0]
        if sequence is None:
            return [
                f"{plan.report.label}: cannot remap, its primary key {plan.pk} has no "
                f"sequence and is not a UUID (use 'merge', 'skip' or 'update' for it)"
            ]
        if loader.dry_run:
            new = (
                f"GREATEST((SELECT COALESCE(max({pk}), 0) FROM {table}), "
                f"COALESCE(pg_sequence_last_value(%s::regclass), 0)) + row_number() OVER ()"
            )
        else:
            # A sequence left behind its table (a load that never reset it) would hand out
            # taken keys: move it past the table's largest key first.
            loader.execute(
                f"SELECT setval(%s::regclass, GREATEST((SELECT COALESCE(max({pk}), 0) FROM "
                f"{table}), nextval(%s::regclass)))",
                [sequence, sequence],
            )
            new = "nextval(%s::regclass)"
            params.append(sequence)
        if loader.dry_run:
            params.append(sequence)
    params.append(KeyAction.REMAPPED.value)
    count = loader.execute(
        f"INSERT INTO {loader.q(plan.map)} (old, new, action) "
        f"SELECT old, {new}, %s FROM (SELECT s.{pk} AS old FROM {loader.q(plan.stage)} s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {loader.q(plan.map)} m WHERE m.old = s.{pk}) "
        f"ORDER BY 1) q",
        params,
    )
    plan.report.remapped = count
    return []


def same_key(loader: Loader, plan: ModelPlan) -> list[str]:
    pk = loader.q(plan.pk)
    exprs, joins = parent_joins(loader, plan, list(plan.natural_key))
    same = (
        " AND ".join(f"t.{loader.q(c)} IS NOT DISTINCT FROM {exprs[c]}" for c in plan.natural_key)
        or "true"
    )
    # Rows under a taken key whose natural key differs are a different entity: attaching
    # the export's children to them would corrupt the target. Foreign keys in the natural key
    # are compared after translation through their parents' maps.
    rows = loader.fetch(
        f"SELECT s.{pk} FROM {loader.q(plan.stage)} s {' '.join(joins)} "
        f"JOIN {loader.q(plan.table)} t ON t.{pk} = s.{pk} WHERE NOT ({same}) ORDER BY 1 "
        f"LIMIT %s",
        [EXAMPLES],
    )
    if rows:
        keys = ", ".join(str(row[0]) for row in rows)
        nk = ", ".join(plan.natural_key)
        return [
            f"{plan.report.label} {plan.pk} {keys}: the target's row under that key has a "
            f"different ({nk}), so it is another {plan.model.__name__}; use 'remap' or "
            f"'merge'"
        ]
    action = KeyAction.SKIPPED if plan.strategy == "skip" else KeyAction.UPDATED
    count = loader.execute(
        f"INSERT INTO {loader.q(plan.map)} (old, new, action) SELECT s.{pk}, s.{pk}, %s "
        f"FROM {loader.q(plan.stage)} s JOIN {loader.q(plan.table)} t ON t.{pk} = s.{pk}",
        [action.value],
    )
    setattr(plan.report, "skipped" if plan.strategy == "skip" else "updated", count)
    return []


def _examples(loader: Loader, plan: ModelPlan, column: str, condition: str) -> str:
    rows = loader.fetch(
        f"SELECT DISTINCT s.{loader.q(column)} FROM {loader.q(plan.stage)} s WHERE {condition} "
        f"ORDER BY 1 LIMIT %s",
        [EXAMPLES],
    )
    return ", ".join(str(row[0]) for row in rows)


def _validated_by_constraint(loader: Loader, plan: ModelPlan, fk: ForeignKeyPlan) -> bool:
    """Whether the re-added constraint will catch every dangling value of ``fk`` anyway.

    True when the parent's table was empty before the load (so its rows after the load are
    exactly the export's) and the foreign key's constraint was lifted (so it is re-validated).
    """
    if not fk.in_export or fk.shared:
        return False
    parent = loader.by_label[fk.parent]
    return parent.table_was_empty and (plan.table, fk.column) in loader.lifted_columns


def check_references(loader: Loader, everything: bool = False) -> None:
    """Every foreign key to a model Gyro manages points into the export (or is declared shared).

    A child row whose parent row is not in the export would keep its exported value, which in
    the target means whatever row has that key there: another tenant's customer, say. Such
    references are an error unless the foreign key was declared ``shared`` (the parent rows
    are already in the target under the same keys); those must then exist in the target. One
    anti-join per foreign key. Runs before any row is inserted. Foreign keys whose re-added
    constraint would catch the same rows are left to it (a parent table that was empty: the load
    into an empty database), unless ``everything``; the constraint check calls this again with
    ``everything=True`` to word a failure the same way.

    Raises:
        IntegrityViolation: naming model, column, parent, keys and counts.
    """
    problems: list[str] = []
    for plan in loader.plans:
        for fk in plan.fks:
            if not fk.managed:
                continue  # a model Gyro does not manage: kept as is, its constraint checks it
            if not everything and _validated_by_constraint(loader, plan, fk):
                continue
            column = f"s.{loader.q(fk.column)}"
            condition = f"{column} IS NOT NULL"
            if fk.in_export:
                parent = loader.by_label[fk.parent]
                condition += (
                    f" AND NOT EXISTS (SELECT 1 FROM {loader.q(parent.stage)} ps WHERE "
                    f"ps.{loader.q(parent.pk)} = {column})"
                )
            if fk.shared:
                condition += (
                    f" AND NOT EXISTS (SELECT 1 FROM {loader.q(fk.parent_table)} p WHERE "
                    f"p.{loader.q(fk.parent_pk)} = {column})"
                )
            # An anti-join per foreign key: hashed, and spilled to disk when large.
            rows, keys = loader.fetch(
                f"SELECT count(*), count(DISTINCT {column}) FROM {loader.q(plan.stage)} s "
                f"WHERE {condition}"
            )[0]
            if not rows:
                continue
            examples = _examples(loader, plan, fk.column, condition)
            more = f" and {keys - EXAMPLES} more" if keys > EXAMPLES else ""
            where = "declared shared but not in the target" if fk.shared else "not in the export"
            problems.append(
                f"{plan.label}.{fk.column}: {rows} row(s) reference {fk.parent} {examples}{more} "
                f"({keys} key(s)), {where}"
            )
    if problems:
        raise IntegrityViolation(
            "rows reference parents that are not in the export: "
            + "; ".join(problems)
            + ". Export those parents too; or, if they are shared rows already in the target "
            "under the same keys (a lookup table), declare the foreign key shared "
            "(shared=['app_label.Model.field'], gyro_import --shared app_label.Model.field, or "
            f"`shared = ('field',)` on the model's Importer); {UNCHANGED}"
        )
