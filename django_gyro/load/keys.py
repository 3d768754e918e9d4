"""Deciding the key of every loaded row: kept, remapped, merged, skipped or updated.

Each model with a strategy gets a temporary key map (``old -> new, action``), filled set-based in
the load's transaction; children's foreign keys are rewritten through their parents' maps when
the rows are inserted (:func:`parent_joins`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

from django_gyro.exceptions import UNCHANGED, IntegrityViolation, KeyConflictError
from django_gyro.load.plan import ModelPlan
from django_gyro.models import KeyAction

if TYPE_CHECKING:
    from django_gyro.load.loader import Loader

__all__ = ["EXAMPLES", "check_dangling", "decide_keys", "parent_joins"]

#: How many offending keys an error message lists.
EXAMPLES = 5


def create_map(loader: Loader, plan: ModelPlan) -> None:
    loader.execute(
        f"CREATE TEMPORARY TABLE {loader.q(plan.map)} ON COMMIT DROP AS "
        f"SELECT {loader.q(plan.pk)} AS old, {loader.q(plan.pk)} AS new, ''::text AS action "
        f"FROM {loader.q(plan.table)} WITH NO DATA"
    )


def index_map(loader: Loader, plan: ModelPlan) -> None:
    loader.execute(f"CREATE UNIQUE INDEX ON {loader.q(plan.map)} (old)")
    loader.execute(f"ANALYZE {loader.q(plan.map)}")


def parent_joins(
    loader: Loader, plan: ModelPlan, columns: list[str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """Expressions giving each column's value in the target's key space, and the joins."""
    exprs: dict[str, str] = {}
    joins: list[str] = []
    wanted = columns if columns is not None else plan.entry.column_names
    for fk in plan.fks:
        if fk.column not in wanted:
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


def decide_keys(loader: Loader) -> None:
    problems: list[str] = []
    # Export order puts parents first, so a merge's natural key can use the parents' maps.
    for plan in loader.plans:
        if plan.table_was_empty:
            continue
        strategy = plan.strategy
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
    if problems:
        raise KeyConflictError(
            "the target already has rows under these keys:\n  "
            + "\n  ".join(problems)
            + f"\nuse on_conflict='remap' (new keys), 'merge', 'skip' or 'update'; {UNCHANGED}"
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
    pk_field = plan.model._meta.pk
    table, pk = loader.q(plan.table), loader.q(plan.pk)
    if isinstance(pk_field, models.UUIDField):
        new = "gen_random_uuid()"
    else:
        sequence = loader.fetch("SELECT pg_get_serial_sequence(%s, %s)", [table, plan.pk])[0][0]
        if sequence is None:
            return [
                f"{plan.report.label}: cannot remap, its primary key {plan.pk} has no "
                f"sequence and is not a UUID (use 'merge', 'skip' or 'update' for it)"
            ]
        # A sequence left behind its table (a load that never reset it) would hand out
        # taken keys: move it past the table's largest key first.
        loader.execute(
            f"SELECT setval(%s::regclass, GREATEST((SELECT COALESCE(max({pk}), 0) FROM "
            f"{table}), nextval(%s::regclass)))",
            [sequence, sequence],
        )
        new = "nextval(%s::regclass)"
        params: list[Any] = [sequence, KeyAction.REMAPPED.value]
    if isinstance(pk_field, models.UUIDField):
        params = [KeyAction.REMAPPED.value]
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
    same = (
        " AND ".join(
            f"t.{loader.q(c)} IS NOT DISTINCT FROM s.{loader.q(c)}" for c in plan.natural_key
        )
        or "true"
    )
    # Rows under a taken key whose natural key differs are a different entity: attaching
    # the export's children to them would corrupt the target.
    rows = loader.fetch(
        f"SELECT s.{pk} FROM {loader.q(plan.stage)} s JOIN {loader.q(plan.table)} t "
        f"ON t.{pk} = s.{pk} WHERE NOT ({same}) ORDER BY 1 LIMIT %s",
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


def check_dangling(loader: Loader) -> None:
    # A child pointing at a parent row that is not in the export would keep its old value;
    # when the parent's keys were rewritten that value means an unrelated target row.
    problems = []
    for plan in loader.plans:
        for fk in plan.fks:
            parent = loader.by_label[fk.parent]
            if parent.map_kind != "rewrite":
                continue
            column, pk = loader.q(fk.column), loader.q(plan.pk)
            rows = loader.fetch(
                f"SELECT s.{pk}, s.{column} FROM {loader.q(plan.stage)} s "
                f"WHERE s.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                f"{loader.q(parent.map)} m WHERE m.old = s.{column}) ORDER BY 1 LIMIT %s",
                [EXAMPLES],
            )
            for key, value in rows:
                problems.append(
                    f"{plan.report.label}({plan.pk}={key}) {fk.column}={value}: "
                    f"{fk.parent} {value} is not in the export"
                )
    if problems:
        raise IntegrityViolation(
            "rows reference parents that are not in the export, whose keys are being "
            "rewritten, so they cannot be attached:\n  "
            + "\n  ".join(problems)
            + f"\nexport the parents too, or load into an empty target; {UNCHANGED}"
        )
