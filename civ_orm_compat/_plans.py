"""EXPLAIN plan analysis over the whole tree, for PostgreSQL, MariaDB/MySQL and SQLite."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from django.db import connections, models

from civ_orm_compat._async import run
from civ_orm_compat.conf import civ_settings

__all__ = ["aexplain_plan", "analyze_query_plan", "explain_plan"]

_MISESTIMATE_FACTOR = 10.0
_MISESTIMATE_MIN_ROWS = 100

# ------------------------------------------------------------------------- plan analysis


def _pg_nodes(node: dict[str, Any], depth: int = 0) -> Iterator[tuple[dict[str, Any], int]]:
    yield node, depth
    for child in node.get("Plans", ()):
        yield from _pg_nodes(child, depth + 1)


def _analyze_postgresql(
    plan: Any, table_rows: dict[str, float] | None = None
) -> list[dict[str, Any]]:
    root = plan[0] if isinstance(plan, list) else plan
    top = root["Plan"] if "Plan" in root else root
    large = float(civ_settings.LARGE_TABLE_ROWS)
    table_rows = table_rows or {}
    suggestions: list[dict[str, Any]] = []
    for node, depth in _pg_nodes(top):
        kind = node.get("Node Type", "")
        relation = node.get("Relation Name")
        loops = float(node.get("Actual Loops", 1) or 1)
        if kind in {"Seq Scan", "Parallel Seq Scan"} and relation:
            seen = (
                float(node.get("Actual Rows", node.get("Plan Rows", 0))) * loops
                + float(node.get("Rows Removed by Filter", 0)) * loops
            )
            rows = max(seen, table_rows.get(relation, 0.0))
            if rows >= large:
                condition = node.get("Filter")
                suggestions.append(
                    {
                        "type": "index_missing" if condition else "seq_scan_large_table",
                        "node": kind,
                        "depth": depth,
                        "relation": relation,
                        "rows": int(rows),
                        "filter": condition,
                        "message": (
                            f"sequential scan of {relation} (~{int(rows)} rows)"
                            + (f" filtering {condition}: an index may help" if condition else "")
                        ),
                    }
                )
        if "Actual Rows" in node:
            estimated = float(node.get("Plan Rows", 0))
            actual = float(node["Actual Rows"])
            high, low = max(estimated, actual), max(min(estimated, actual), 1.0)
            if high >= _MISESTIMATE_MIN_ROWS and high / low >= _MISESTIMATE_FACTOR:
                suggestions.append(
                    {
                        "type": "misestimate",
                        "node": kind,
                        "depth": depth,
                        "relation": relation,
                        "estimated_rows": int(estimated),
                        "actual_rows": int(actual),
                        "message": (
                            f"{kind} estimated {int(estimated)} rows but returned {int(actual)}:"
                            " statistics are stale or the predicate is correlated (ANALYZE, "
                            "CREATE STATISTICS)"
                        ),
                    }
                )
        if kind in {"Sort", "Incremental Sort"} and (
            node.get("Sort Space Type") == "Disk"
            or "external" in str(node.get("Sort Method", "")).lower()
        ):
            suggestions.append(
                {
                    "type": "sort_spill",
                    "node": kind,
                    "depth": depth,
                    "relation": relation,
                    "space_kb": node.get("Sort Space Used"),
                    "message": (
                        f"sort spilled to disk ({node.get('Sort Method')}, "
                        f"{node.get('Sort Space Used')} kB): raise work_mem or add an index "
                        f"matching the ORDER BY ({', '.join(node.get('Sort Key', []))})"
                    ),
                }
            )
        if kind == "Hash" and int(node.get("Hash Batches", 1) or 1) > 1:
            suggestions.append(
                {
                    "type": "hash_spill",
                    "node": kind,
                    "depth": depth,
                    "relation": relation,
                    "message": (
                        f"hash spilled to disk in {node['Hash Batches']} batches: raise work_mem"
                    ),
                }
            )
    cost = float(top.get("Total Cost", 0))
    if cost > float(civ_settings.HIGH_COST):
        suggestions.append(
            {
                "type": "high_cost",
                "node": top.get("Node Type"),
                "depth": 0,
                "relation": top.get("Relation Name"),
                "cost": cost,
                "message": f"estimated total cost {cost:.0f} is above {civ_settings.HIGH_COST}",
            }
        )
    return suggestions


_SQLITE_SCAN = re.compile(r"\bSCAN (?:TABLE )?(\w+)(?! USING)(?:\s|$)")


def _analyze_sqlite(plan: str) -> list[dict[str, Any]]:
    suggestions: list[dict[str, Any]] = []
    for depth, line in enumerate(plan.splitlines()):
        match = _SQLITE_SCAN.search(line)
        if match and "USING" not in line:
            suggestions.append(
                {
                    "type": "full_scan",
                    "node": "SCAN",
                    "depth": depth,
                    "relation": match.group(1),
                    "message": f"full scan of {match.group(1)}: an index may help",
                }
            )
        if "USE TEMP B-TREE" in line:
            suggestions.append(
                {
                    "type": "sort_without_index",
                    "node": "TEMP B-TREE",
                    "depth": depth,
                    "relation": None,
                    "message": f"{line.strip()}: an index matching the ordering avoids the sort",
                }
            )
    return suggestions


def _mysql_walk(node: Any, depth: int = 0) -> Iterator[tuple[dict[str, Any], int]]:
    if isinstance(node, dict):
        yield node, depth
        for value in node.values():
            yield from _mysql_walk(value, depth + 1)
    elif isinstance(node, list):
        for value in node:
            yield from _mysql_walk(value, depth)


def _analyze_mysql(plan: Any) -> list[dict[str, Any]]:
    large = float(civ_settings.LARGE_TABLE_ROWS)
    suggestions: list[dict[str, Any]] = []
    for node, depth in _mysql_walk(plan):
        if node.get("access_type") == "ALL" and "table_name" in node:
            rows = float(node.get("rows", node.get("rows_examined_per_scan", 0)) or 0)
            suggestions.append(
                {
                    "type": "index_missing" if node.get("attached_condition") else "full_scan",
                    "node": "ALL",
                    "depth": depth,
                    "relation": node["table_name"],
                    "rows": int(rows),
                    "large": rows >= large,
                    "filter": node.get("attached_condition"),
                    "message": f"full scan of {node['table_name']} (~{int(rows)} rows)",
                }
            )
        if "filesort" in node or node.get("using_filesort"):
            suggestions.append(
                {
                    "type": "sort_without_index",
                    "node": "filesort",
                    "depth": depth,
                    "relation": None,
                    "message": "filesort: an index matching the ordering avoids the sort",
                }
            )
    return suggestions


def analyze_query_plan(
    plan: Any, vendor: str = "postgresql", table_rows: dict[str, float] | None = None
) -> dict[str, Any]:
    """Walk a whole EXPLAIN output and return ``{"plan": plan, "suggestions": [...]}``.

    Args:
        plan: PostgreSQL ``EXPLAIN (FORMAT JSON)`` output (list, dict or its JSON text),
            MariaDB/MySQL ``FORMAT=JSON`` output, or SQLite ``EXPLAIN QUERY PLAN`` text.
        vendor: ``connection.vendor`` of the database that produced it.
        table_rows: known table sizes (PostgreSQL ``reltuples``), to judge "large".

    Every suggestion has ``type`` (``index_missing``, ``seq_scan_large_table``,
    ``misestimate``, ``sort_spill``, ``hash_spill``, ``high_cost``, ``full_scan``,
    ``sort_without_index``), ``node``, ``depth``, ``relation`` and ``message``.
    """
    if vendor == "sqlite":
        return {"plan": plan, "suggestions": _analyze_sqlite(str(plan))}
    if isinstance(plan, str):
        plan = json.loads(plan)
    if vendor == "mysql":
        return {"plan": plan, "suggestions": _analyze_mysql(plan)}
    if vendor != "postgresql":
        raise ValueError(f"plan analysis does not know the {vendor!r} backend")
    return {"plan": plan, "suggestions": _analyze_postgresql(plan, table_rows)}


def explain_plan(queryset: models.QuerySet[Any], analyze: bool = False) -> dict[str, Any]:
    """EXPLAIN ``queryset`` on its database and analyse the plan (sync).

    ``analyze=True`` runs the query (PostgreSQL ``EXPLAIN ANALYZE``, MariaDB ``ANALYZE``) so
    misestimates and spills can be seen.
    """
    windowed = getattr(queryset, "windowed", None)
    if windowed is not None:
        queryset = windowed()
    connection = connections[queryset.db]
    vendor = connection.vendor
    if vendor == "postgresql":
        options: dict[str, Any] = {"analyze": True, "buffers": True} if analyze else {}
        plan = json.loads(queryset.explain(format="json", **options))
        relations = {
            str(node["Relation Name"])
            for root in plan
            for node, _ in _pg_nodes(root["Plan"])
            if node.get("Relation Name")
        }
        table_rows: dict[str, float] = {}
        with connection.cursor() as cursor:
            for relation in relations:
                cursor.execute(
                    "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)",
                    [connection.ops.quote_name(relation)],
                )
                row = cursor.fetchone()
                if row and row[0] is not None:
                    table_rows[relation] = float(row[0])
        return analyze_query_plan(plan, vendor, table_rows)
    if vendor == "mysql":
        options = {"analyze": True} if analyze else {}
        return analyze_query_plan(queryset.explain(format="json", **options), vendor)
    return analyze_query_plan(queryset.explain(), vendor)


async def aexplain_plan(queryset: models.QuerySet[Any], analyze: bool = False) -> dict[str, Any]:
    """Async :func:`explain_plan`."""
    return await run(explain_plan, queryset, analyze)
