"""CIV ``optimization.py``: metrics, plan analysis, index recommendations, N+1 detection.

* :data:`query_tracker` / :class:`QueryTracker`: bounded per-pattern metrics (count, total, p50,
  p95), fed by the execute wrapper when enabled.
* :func:`analyze_query_plan` walks a whole EXPLAIN tree (PostgreSQL JSON, MariaDB/MySQL JSON,
  SQLite ``EXPLAIN QUERY PLAN``) and reports sequential scans over large tables, estimate
  misses, sorts and hashes spilling to disk and a high total cost; :func:`explain_plan` /
  :func:`aexplain_plan` run EXPLAIN for a queryset and analyse it.
* :func:`recommend_indexes` reads the compiled query's filters and orderings, drops what an
  existing index already covers (introspected), and returns ``models.Index`` objects.
* :func:`detect_n_plus_one`: see :mod:`civ_orm_compat._nplusone`.
* the original README's names: ``QueryMetrics``, ``QueryStatistics``, ``track_query``,
  ``get_query_tracker``, ``IndexManager``, ``QueryOptimizer``, ``ConnectionPoolMonitor``,
  ``get_connection_monitor`` (see :mod:`civ_orm_compat._tracking`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connections, models
from django.db.models.expressions import Col
from django.db.models.lookups import Lookup
from django.db.models.sql.where import WhereNode

from civ_orm_compat._async import run
from civ_orm_compat._metrics import QueryMetrics, QueryTracker, normalize_sql, query_tracker
from civ_orm_compat._nplusone import NPlusOneDetector, NPlusOneReport, detect_n_plus_one
from civ_orm_compat._plans import aexplain_plan, analyze_query_plan, explain_plan
from civ_orm_compat._tracking import (
    ConnectionPoolMonitor,
    IndexManager,
    QueryOptimizer,
    QueryStatistics,
    get_connection_monitor,
    get_query_tracker,
    track_query,
)

__all__ = [
    "ConnectionPoolMonitor",
    "IndexManager",
    "IndexRecommendation",
    "NPlusOneDetector",
    "NPlusOneReport",
    "QueryMetrics",
    "QueryOptimizer",
    "QueryStatistics",
    "QueryTracker",
    "aexplain_plan",
    "analyze_query_plan",
    "arecommend_indexes",
    "detect_n_plus_one",
    "explain_plan",
    "get_connection_monitor",
    "get_query_tracker",
    "normalize_sql",
    "query_tracker",
    "recommend_indexes",
    "track_query",
]

# ------------------------------------------------------------------------- index recommendations

_EQUALITY = {"exact", "iexact", "in"}
_RANGE = {"gt", "gte", "lt", "lte", "range", "startswith", "istartswith"}
_KIND_LABELS = {"eq": "equality filter", "order": "ordering", "range": "range filter"}


@dataclass
class IndexRecommendation:
    """A missing index: the ``models.Index`` to add to ``model.Meta.indexes`` and why."""

    model: type[models.Model]
    fields: list[str]
    index: models.Index
    reason: str

    def as_code(self) -> str:
        """The line to paste into ``Meta.indexes``."""
        fields = ", ".join(f'"{name}"' for name in self.fields)
        return f'models.Index(fields=[{fields}], name="{self.index.name}")'


def _lookups(node: Any) -> Iterator[Lookup[Any]]:
    if isinstance(node, WhereNode):
        if node.negated or node.connector != "AND":
            return  # OR / NOT branches are not served by one composite index
        for child in node.children:
            yield from _lookups(child)
    elif isinstance(node, Lookup):
        yield node


def _candidates(queryset: models.QuerySet[Any]) -> dict[type[models.Model], list[tuple[Any, str]]]:
    per_model: dict[type[models.Model], list[tuple[Any, str]]] = {}
    for lookup in _lookups(queryset.query.where):
        lhs = lookup.lhs
        if not isinstance(lhs, Col) or not hasattr(lhs.target, "model"):
            continue
        kind = (
            "eq"
            if lookup.lookup_name in _EQUALITY
            else "range"
            if lookup.lookup_name in _RANGE
            else ""
        )
        if kind:
            per_model.setdefault(lhs.target.model, []).append((lhs.target, kind))
    ordering = queryset.query.order_by or (
        queryset.model._meta.ordering if queryset.query.default_ordering else ()
    )
    for name in ordering:
        if not isinstance(name, str) or "__" in name or name.lstrip("-?") in {"pk", "?", ""}:
            continue
        try:
            field = queryset.model._meta.get_field(name.lstrip("-"))
        except Exception:
            continue
        if getattr(field, "concrete", False):
            per_model.setdefault(queryset.model, []).append((field, "order"))
    return per_model


def _covered(columns: list[str], existing: list[list[str]]) -> bool:
    return any(index[: len(columns)] == columns for index in existing)


def recommend_indexes(
    *querysets: models.QuerySet[Any], max_columns: int = 3
) -> list[IndexRecommendation]:
    """Indexes that would serve ``querysets`` and do not exist yet (sync).

    For each queryset and model it reads, the candidate is: equality filters, then the
    ORDER BY fields, then one range filter (the usual composite order), at most
    ``max_columns`` columns. A candidate that an existing index (or primary key / unique
    constraint) starts with is dropped, as are duplicates.
    """
    recommendations: list[IndexRecommendation] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for queryset in querysets:
        connection = connections[queryset.db]
        for model, entries in _candidates(queryset).items():
            ordered = (
                [f for f, kind in entries if kind == "eq"]
                + [f for f, kind in entries if kind == "order"]
                + [f for f, kind in entries if kind == "range"][:1]
            )
            fields: list[Any] = []
            for field in ordered:
                if field not in fields:
                    fields.append(field)
            fields = fields[:max_columns]
            if not fields:
                continue
            table = model._meta.db_table
            columns = [f.column for f in fields]
            key = (table, tuple(columns))
            if key in seen:
                continue
            seen.add(key)
            with connection.cursor() as cursor:
                constraints = connection.introspection.get_constraints(cursor, table)
            existing = [
                list(c["columns"])
                for c in constraints.values()
                if c.get("index") or c.get("primary_key") or c.get("unique")
            ]
            if _covered(columns, existing):
                continue
            names = [f.name for f in fields]
            index = models.Index(fields=names)
            index.set_name_with_model(model)
            kinds = {f.name: _KIND_LABELS[kind] for f, kind in entries}
            reason = "; ".join(f"{name} ({kinds[name]})" for name in names)
            recommendations.append(IndexRecommendation(model, names, index, reason))
    return recommendations


async def arecommend_indexes(
    *querysets: models.QuerySet[Any], max_columns: int = 3
) -> list[IndexRecommendation]:
    """Async :func:`recommend_indexes`."""
    return await run(recommend_indexes, *querysets, max_columns=max_columns)
