"""The closure report: exported rows whose foreign key points to a row that is not exported.

Every foreign key column of every file that is declared in ``Columns`` or whose target model has
a job is checked, at (nearly) no cost beyond the export itself:

1. **Closed by construction.** A job whose query filters ``fk__in=<the parent job's queryset>``
   (at the top of its WHERE, or inside a ``pk__in=<subquery of the same model>`` as
   :func:`~django_gyro.limit_per` builds) can only hold keys of rows in the parent's file: both
   statements read one snapshot. :func:`closure_plan` proves this by compiling the subquery
   and the parent's query the same way and comparing them; no query runs.
2. **Collected while streaming.** The other integer and UUID keys are collected from the rows
   already streaming into the files (:class:`~django_gyro.export.sink.KeyScanner`: the child's
   foreign key values with their row counts, the parent's key values), at most
   ``GYRO_CLOSURE_KEYS`` distinct values per column, and compared when the jobs are done.
3. **Checked in SQL.** What is left (other key types, a column with more distinct values than
   the limit) is checked by :func:`closure_issues`: one statement per job, inside the export's
   snapshot, with an anti-join per foreign key.

All three give the same, exact report: rows, distinct missing keys, a few example keys.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.lookups import In
from django.db.models.sql import Query
from django.db.models.sql.where import AND, WhereNode

from django_gyro.conf import settings
from django_gyro.export.plan import CompiledJob
from django_gyro.export.results import ClosureIssue
from django_gyro.export.sink import KeyScanner
from django_gyro.slicing import make_deterministic

__all__ = [
    "ClosureCheck",
    "ClosurePlan",
    "closure_issues",
    "closure_plan",
    "foreign_keys",
    "in_file_order",
    "scanned_issues",
]


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


def _checked(
    item: CompiledJob, by_model: dict[str, CompiledJob]
) -> list[tuple[dict[str, Any], CompiledJob | None]]:
    """The foreign keys of ``item`` the report covers, each with its parent job (or None)."""
    checked = []
    for fk in foreign_keys(item):
        parent = by_model.get(fk["target"])
        if parent is None and not fk["declared"]:
            continue  # an undeclared FK to a model outside the export: not this run's concern
        if parent is not None and fk["target_column"] not in parent.columns:
            parent = None  # the parent file lacks the referenced column (excluded)
        checked.append((fk, parent))
    return checked


def closure_issues(
    cursor: Any,
    wrapper: BaseDatabaseWrapper,
    compiled: list[CompiledJob],
    only: set[tuple[int, str]] | None = None,
) -> list[ClosureIssue]:
    """One statement per job: its rows run once, each referenced parent's keys once.

    Args:
        only: check just these ``(job index, foreign key column)`` pairs (default: all).
    """
    by_model = {item.job.model._meta.label: item for item in compiled}
    examples = int(settings.CLOSURE_EXAMPLES)
    quote = wrapper.ops.quote_name
    issues = []
    for item in compiled:
        checked = [
            (fk, parent)
            for fk, parent in _checked(item, by_model)
            if only is None or (item.index, fk["column"]) in only
        ]
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


# --------------------------------------------------------------------------- the plan

#: Key types whose COPY text never needs CSV quoting, so they can be collected from the stream.
_SCANNABLE = {
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveBigIntegerField",
    "PositiveSmallIntegerField",
    "UUIDField",
}
#: SQL functions whose value differs between two statements of one snapshot: a query that uses
#: one may select other rows the second time, so it proves nothing.
_VOLATILE = re.compile(
    r"\b(random|setseed|now|clock_timestamp|statement_timestamp|transaction_timestamp|timeofday|"
    r"current_timestamp|current_date|current_time|localtime|localtimestamp|nextval|currval|"
    r"gen_random_uuid|uuid_generate_v[14]|txid_current|pg_current_xact_id|tablesample)\b",
    re.IGNORECASE,
)
#: Django's table aliases (``T3``, ``U0``, ``V1``...): the letter depends on how deeply the
#: subquery is nested, which says nothing about the rows it selects.
_ALIAS = re.compile(r"\b[A-Z]([0-9]+)\b")


def _key_type(f: Any) -> str:
    target: Any = f
    while target.is_relation:
        target = target.target_field
    return str(target.get_internal_type())


def _scannable(f: Any) -> bool:
    return _key_type(f) in _SCANNABLE


@dataclass
class ClosureCheck:
    """One foreign key column the report covers, and how it is checked.

    Attributes:
        job: the job whose file holds the foreign key.
        fk: its entry of :func:`foreign_keys`.
        parent: the parent's job, None when the parent is not exported.
        how: ``"construction"`` (provably closed), ``"scan"`` (keys collected from the stream)
            or ``"sql"`` (an anti-join after the export).
    """

    job: CompiledJob
    fk: dict[str, Any]
    parent: CompiledJob | None
    how: str

    @property
    def position(self) -> int:
        return self.job.columns.index(self.fk["column"])

    @property
    def parent_position(self) -> int:
        assert self.parent is not None
        return self.parent.columns.index(self.fk["target_column"])


@dataclass
class ClosurePlan:
    """How each foreign key is checked, and which columns each job's stream must yield."""

    checks: list[ClosureCheck] = field(default_factory=list)
    #: labels of the models that have a job
    exported: set[str] = field(default_factory=set)
    #: job index -> positions counted (foreign keys) and collected (parent keys)
    count: dict[int, set[int]] = field(default_factory=dict)
    collect: dict[int, set[int]] = field(default_factory=dict)

    def scanner(self, item: CompiledJob) -> KeyScanner | None:
        """A scanner for ``item``'s stream, or None when it needs none."""
        count = self.count.get(item.index, set())
        collect = self.collect.get(item.index, set())
        if not count and not collect:
            return None
        return KeyScanner(len(item.columns), count, collect, int(settings.CLOSURE_KEYS))

    def summary(self) -> dict[str, int]:
        """How many checks of each kind (for tests and the benchmark)."""
        result = {"construction": 0, "scan": 0, "sql": 0}
        for check in self.checks:
            result[check.how] += 1
        return result


def _normalized(query: Query, wrapper: BaseDatabaseWrapper) -> tuple[str, tuple[Any, ...]] | None:
    """The SQL and parameters of a subquery with its aliases renamed; None if it proves nothing."""
    query = query.clone()
    make_deterministic(query)
    try:
        sql, params = query.get_compiler(connection=wrapper, elide_empty=False).as_sql()
    except Exception:  # EmptyResultSet, FullResultSet, unsupported expressions: no proof
        return None
    if _VOLATILE.search(sql):
        return None
    return _ALIAS.sub(r"A\1", sql), tuple(params)


def _conditions(where: WhereNode) -> list[Any]:
    """The lookups that every row satisfies: the AND-ed, non-negated leaves of ``where``."""
    if where.negated:
        return []
    if where.connector != AND and len(where.children) > 1:
        return []
    result: list[Any] = []
    for child in where.children:
        if isinstance(child, WhereNode):
            result += _conditions(child)
        else:
            result.append(child)
    return result


def _filters_on(query: Query, depth: int = 0) -> list[tuple[models.Field[Any, Any], Query]]:
    """``(field, subquery)`` for every ``field__in=<subquery>`` that all rows of ``query`` meet.

    Follows ``pk__in=<subquery of the same model>`` (what :func:`~django_gyro.limit_per` builds):
    the rows are a subset of the subquery's, so its conditions hold too.
    """
    if query.combinator or depth > 8:
        return []
    model = query.model
    result = []
    for lookup in _conditions(query.where):
        if not isinstance(lookup, In) or not isinstance(lookup.rhs, Query):
            continue
        target = getattr(lookup.lhs, "target", None)
        if not isinstance(target, models.Field) or getattr(lookup.lhs, "alias", None) not in (
            query.base_table,
            None,
        ):
            continue
        result.append((target, lookup.rhs))
        if (
            model is not None
            and model._meta.pk is not None
            and target == model._meta.pk
            and lookup.rhs.model is model
        ):
            result += _filters_on(lookup.rhs, depth + 1)
    return result


def _closed_by_construction(
    item: CompiledJob, fk: dict[str, Any], parent: CompiledJob, wrapper: BaseDatabaseWrapper
) -> bool:
    model = item.job.model
    f = model._meta.get_field(fk["field"])
    candidates = [
        subquery for target, subquery in _filters_on(item.job.query.query) if target == f
    ]
    if not candidates:
        return False
    # The subquery Django builds for ``fk__in=<the parent job's queryset>``, to compare with.
    reference = model._default_manager.filter(**{f"{f.name}__in": parent.job.query}).query
    lookups = [c for c in _conditions(reference.where) if isinstance(c, In)]
    if len(lookups) != 1 or not isinstance(lookups[0].rhs, Query):
        return False
    expected = _normalized(lookups[0].rhs, wrapper)
    if expected is None:
        return False
    return any(_normalized(subquery, wrapper) == expected for subquery in candidates)


def _proven(
    item: CompiledJob, fk: dict[str, Any], parent: CompiledJob, wrapper: BaseDatabaseWrapper
) -> bool:
    try:
        return _closed_by_construction(item, fk, parent, wrapper)
    except Exception:  # a queryset shape the proof does not know: check the keys instead
        return False


def closure_plan(compiled: Sequence[CompiledJob], wrapper: BaseDatabaseWrapper) -> ClosurePlan:
    """Decide, for every foreign key the report covers, how it is checked (see the module)."""
    by_model = {item.job.model._meta.label: item for item in compiled}
    result = ClosurePlan(exported=set(by_model))
    for item in compiled:
        for fk, parent in _checked(item, by_model):
            f = item.job.model._meta.get_field(fk["field"])
            if parent is not None and _proven(item, fk, parent, wrapper):
                how = "construction"
            elif _scannable(f):
                how = "scan"
            else:
                how = "sql"
            check = ClosureCheck(job=item, fk=fk, parent=parent, how=how)
            result.checks.append(check)
            if how == "scan":
                result.count.setdefault(item.index, set()).add(check.position)
                if parent is not None:
                    result.collect.setdefault(parent.index, set()).add(check.parent_position)
    return result


def _sort_key(check: ClosureCheck) -> Any:
    if _key_type(check.job.job.model._meta.get_field(check.fk["field"])) == "UUIDField":
        return lambda value: value
    return int


def scanned_issues(
    plan: ClosurePlan, scanners: dict[int, KeyScanner | None]
) -> tuple[list[ClosureIssue], set[tuple[int, str]]]:
    """The issues found by the scanners, and the checks left to SQL (overflow or no scan).

    Args:
        plan: from :func:`closure_plan`.
        scanners: job index -> the scanner that read that job's stream.

    Returns:
        ``(issues, left)``: ``left`` holds ``(job index, column)`` for :func:`closure_issues`.
    """
    examples = int(settings.CLOSURE_EXAMPLES)
    issues: list[ClosureIssue] = []
    left: set[tuple[int, str]] = set()
    for check in plan.checks:
        if check.how == "construction":
            continue
        scanner = scanners.get(check.job.index)
        counts = scanner.counts.get(check.position) if scanner is not None else None
        parent_keys: set[bytes] | None = None
        if check.parent is not None:
            parent_scanner = scanners.get(check.parent.index)
            if parent_scanner is not None:
                parent_keys = parent_scanner.sets.get(check.parent_position)
        if (
            check.how == "sql"
            or counts is None
            or (check.parent is not None and parent_keys is None)
        ):
            left.add((check.job.index, check.fk["column"]))
            continue
        missing = [
            value
            for value in counts
            if value and (parent_keys is None or value not in parent_keys)
        ]
        if not missing:
            continue
        text = sorted((value.decode() for value in missing), key=_sort_key(check))
        issues.append(
            ClosureIssue(
                job=check.job.job.label,
                column=check.fk["column"],
                parent=check.fk["target"],
                parent_exported=check.fk["target"] in plan.exported,
                rows=sum(counts[value] for value in missing),
                keys=len(missing),
                examples=text[:examples],
            )
        )
    return issues, left


def in_file_order(
    compiled: Sequence[CompiledJob], issues: list[ClosureIssue]
) -> list[ClosureIssue]:
    """``issues`` sorted by job order, then by column order within the job's file."""
    order = {item.job.label: item for item in compiled}

    def key(issue: ClosureIssue) -> tuple[int, int]:
        item = order[issue.job]
        return item.index, item.columns.index(issue.column)

    return sorted(issues, key=key)
