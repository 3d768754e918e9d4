"""The closure report: exported rows whose foreign key points to a row that is not exported.

One statement per job, inside the export's snapshot: the job's rows are read once, each referenced
parent's keys once, and every foreign key column is checked with an anti-join.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from django_gyro.conf import settings
from django_gyro.export.plan import CompiledJob
from django_gyro.export.results import ClosureIssue

__all__ = ["closure_issues", "foreign_keys"]


def foreign_keys(item: CompiledJob) -> list[dict[str, Any]]:
    declared = item.job.get_importer().declared_foreign_keys()
    result = []
    for f in item.fields:
        if not (f.many_to_one or f.one_to_one):
            continue
        related = f.related_model
        assert related is not None and not isinstance(related, str)
        target_field = f.target_field  # type: ignore[attr-defined]
        result.append(
            {
                "field": f.name,
                "column": f.column,
                "target": related._meta.label,
                "target_table": related._meta.db_table,
                "target_column": target_field.column,
                "nullable": f.null,
                "declared": f.name in declared,
            }
        )
    return result


def closure_issues(
    cursor: Any, wrapper: BaseDatabaseWrapper, compiled: list[CompiledJob]
) -> list[ClosureIssue]:
    """One statement per job: its rows run once, each referenced parent's keys once."""
    by_model = {item.job.model._meta.label: item for item in compiled}
    examples = int(settings.CLOSURE_EXAMPLES)
    quote = wrapper.ops.quote_name
    issues = []
    for item in compiled:
        checked = []
        for fk in foreign_keys(item):
            parent = by_model.get(fk["target"])
            if parent is None and not fk["declared"]:
                continue  # an undeclared FK to a model outside the export: not this run's concern
            if parent is not None and fk["target_column"] not in parent.columns:
                parent = None  # the parent file lacks the referenced column (excluded)
            checked.append((fk, parent))
        if not checked:
            continue
        needed = {fk["column"] for fk, _ in checked}
        needed |= {fk["target_column"] for fk, parent in checked if parent is item}
        child_columns = ", ".join(quote(column) for column in sorted(needed))
        ctes = [
            f"gyro_child AS MATERIALIZED (SELECT {child_columns} FROM ({item.select_sql}) AS c)"
        ]
        params: list[Any] = list(item.params)
        parent_cte: dict[tuple[str, str], str] = {}
        selects = []
        for n, (fk, parent) in enumerate(checked):
            column = quote(fk["column"])
            condition = f"c.{column} IS NOT NULL"
            if parent is not None:
                key = (parent.job.model._meta.label, fk["target_column"])
                if key not in parent_cte:
                    name = f"gyro_parent_{len(parent_cte)}"
                    parent_cte[key] = name
                    target = quote(fk["target_column"])
                    if parent is item:
                        ctes.append(f"{name} AS (SELECT {target} AS k FROM gyro_child)")
                    else:
                        ctes.append(
                            f"{name} AS MATERIALIZED (SELECT {target} AS k FROM "
                            f"({parent.select_sql}) AS p)"
                        )
                        params += list(parent.params)
                parent_keys = parent_cte[key]
                condition += (
                    f" AND NOT EXISTS (SELECT 1 FROM {parent_keys} AS p WHERE p.k = c.{column})"
                )
            missing = f"SELECT c.{column} AS k FROM gyro_child AS c WHERE {condition}"
            ctes.append(f"gyro_missing_{n} AS ({missing})")
            selects.append(
                f"SELECT {n:d}, count(*), count(DISTINCT k), (SELECT array_agg(k::text) FROM "
                f"(SELECT DISTINCT k FROM gyro_missing_{n} ORDER BY k LIMIT {examples:d}) AS e) "
                f"FROM gyro_missing_{n}"
            )
        cursor.execute("WITH " + ", ".join(ctes) + " " + " UNION ALL ".join(selects), params)
        for n, rows, keys, sample in sorted(cursor.fetchall()):
            if not rows:
                continue
            fk, parent = checked[n]
            issues.append(
                ClosureIssue(
                    job=item.job.label,
                    column=fk["column"],
                    parent=fk["target"],
                    parent_exported=fk["target"] in by_model,
                    rows=int(rows),
                    keys=int(keys),
                    examples=list(sample or []),
                )
            )
    return issues
