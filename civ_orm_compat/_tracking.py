"""The optimization API of the original's ``README_OPTIMIZATION.md``, on this package's tools.

``QueryTracker``/``QueryMetrics`` are :mod:`civ_orm_compat._metrics`'s (bounded, and fed by the
execute wrapper when enabled). This module adds the rest of the README's names:

* :func:`track_query`, the decorator that times a function whose first argument is the SQL
  (also the second, for methods: the original skipped ``self`` and so never recorded them);
* :func:`get_query_tracker` / :func:`get_connection_monitor`, returning the process-wide objects;
* :class:`IndexManager` (existing indexes, introspected on every backend, and index suggestions
  from slow queries, minus what an existing index covers already);
* :class:`QueryOptimizer` (EXPLAIN of raw SQL and the whole-tree plan analysis);
* :class:`ConnectionPoolMonitor` (the original's manual counters, plus the real ones of
  ``db.pool_stats()``).
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections

from civ_orm_compat._async import run
from civ_orm_compat._databases import STATS
from civ_orm_compat._metrics import QueryMetrics, QueryTracker, query_tracker
from civ_orm_compat._plans import analyze_query_plan

__all__ = [
    "ConnectionPoolMonitor",
    "IndexManager",
    "QueryOptimizer",
    "QueryStatistics",
    "get_connection_monitor",
    "get_query_tracker",
    "track_query",
]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class QueryStatistics:
    """The original's per-pattern statistics (the trackers return dicts with these as
    attributes: ``stats.execution_count`` is ``stats["count"]``)."""

    query_pattern: str
    execution_count: int = 0
    total_time: float = 0.0
    min_time: float = float("inf")
    max_time: float = 0.0
    avg_time: float = 0.0
    last_execution: datetime | None = None
    slow_query_threshold: float = 1.0


def get_query_tracker() -> QueryTracker:
    """The process-wide tracker (``query_tracker``), the same object on every call."""
    return query_tracker


def track_query(tracker: QueryTracker) -> Callable[[F], F]:
    """Decorator: time each successful call of a sync or async function running SQL.

    The SQL is the first argument, or the second when the first is not a string (a method's
    ``self``). A call that raises records nothing.
    """

    def decorate(fn: F) -> F:
        def record(args: tuple[Any, ...], started: float) -> None:
            sql = next((a for a in args[:2] if isinstance(a, str)), None)
            if sql is not None:
                tracker.track_query(
                    QueryMetrics(sql, time.perf_counter() - started, datetime.now(UTC))
                )

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                result = await fn(*args, **kwargs)
                record(args, started)
                return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = fn(*args, **kwargs)
            record(args, started)
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


def _using(db_connection: Any) -> str:
    return str(getattr(db_connection, "using", None) or DEFAULT_DB_ALIAS)


_WHERE = re.compile(r"WHERE\s+[\"`]?(\w+)[\"`]?\s*=", re.IGNORECASE)
_FROM = re.compile(r"FROM\s+[\"`]?(\w+)[\"`]?", re.IGNORECASE)


class IndexManager:
    """Existing indexes and index suggestions (the original's ``IndexManager(db)``).

    Args:
        db_connection: ``db`` (or anything with a ``using`` alias attribute); the default
            alias otherwise.
    """

    def __init__(self, db_connection: Any = None) -> None:
        self.db = db_connection
        self.using = _using(db_connection)
        self._index_recommendations: list[dict[str, Any]] = []

    async def list_indexes(self, table: str | None = None) -> list[dict[str, Any]]:
        """``{schema, table, name, definition, columns, unique}`` of every index (of ``table``)."""
        return await run(self._list_indexes, table)

    def _list_indexes(self, table: str | None) -> list[dict[str, Any]]:
        connection = connections[self.using]
        found = []
        with connection.cursor() as cursor:
            tables = connection.introspection.table_names(cursor)
            for name in sorted(t for t in tables if table is None or t == table):
                constraints = connection.introspection.get_constraints(cursor, name)
                for index_name, info in sorted(constraints.items()):
                    if not info.get("index") and not info.get("primary_key"):
                        continue
                    columns = [c for c in info.get("columns") or [] if c]
                    kind = "UNIQUE INDEX" if info.get("unique") else "INDEX"
                    found.append(
                        {
                            "schema": None,
                            "table": name,
                            "name": index_name,
                            "definition": f"{kind} {index_name} ON {name} ({', '.join(columns)})",
                            "columns": columns,
                            "unique": bool(info.get("unique")),
                        }
                    )
        return found

    async def analyze_missing_indexes(self, query_tracker: QueryTracker) -> list[dict[str, Any]]:
        """Index suggestions from the tracker's slow queries (``WHERE col =`` on ``FROM t``).

        One per (table, column); a column that already leads an index is left out. Each is
        ``{table, column, reason, query_time, recommendation}``, the recommendation being
        ``CREATE INDEX`` SQL quoted for this backend.
        """
        return await run(self._analyze, query_tracker)

    def _analyze(self, tracker: QueryTracker) -> list[dict[str, Any]]:
        connection = connections[self.using]
        qn = connection.ops.quote_name
        existing = self._list_indexes(None)
        leading = {(i["table"], i["columns"][0]) for i in existing if i["columns"]}
        recommendations: dict[tuple[str, str], dict[str, Any]] = {}
        for slow in tracker.get_slow_queries(limit=50):
            where, table = _WHERE.search(slow["query"]), _FROM.search(slow["query"])
            if where is None or table is None:
                continue
            key = (table.group(1), where.group(1))
            if key in leading or key in recommendations:
                continue
            t, c = key
            recommendations[key] = {
                "table": t,
                "column": c,
                "reason": f"Slow query with WHERE clause on {c}",
                "query_time": slow["execution_time"],
                "recommendation": f"CREATE INDEX {qn(f'idx_{t}_{c}')} ON {qn(t)} ({qn(c)})",
            }
        self._index_recommendations = list(recommendations.values())
        return list(self._index_recommendations)

    def get_recommendations(self) -> list[dict[str, Any]]:
        """The suggestions of the last :meth:`analyze_missing_indexes`."""
        return list(self._index_recommendations)


class QueryOptimizer:
    """EXPLAIN for raw SQL and plan analysis (the original's ``QueryOptimizer(db)``)."""

    def __init__(self, db_connection: Any = None) -> None:
        self.db = db_connection
        self.using = _using(db_connection)

    async def explain_query(self, query: str, analyze: bool = False) -> Any:
        """The plan of ``query``: PostgreSQL's JSON plan (the dict holding ``"Plan"``), MySQL's
        JSON, SQLite's ``EXPLAIN QUERY PLAN`` rows as text; ``{"error": ...}`` on failure."""
        try:
            return await run(self._explain, query, analyze)
        except Exception as exc:  # the original's contract: errors come back as a value
            return {"error": str(exc)}

    def _explain(self, query: str, analyze: bool) -> Any:
        connection = connections[self.using]
        vendor = connection.vendor
        if vendor == "postgresql":
            prefix = "EXPLAIN (FORMAT JSON, ANALYZE TRUE)" if analyze else "EXPLAIN (FORMAT JSON)"
        elif vendor == "mysql":
            prefix = "ANALYZE FORMAT=JSON" if analyze else "EXPLAIN FORMAT=JSON"
        else:
            prefix = "EXPLAIN QUERY PLAN"
        with connection.cursor() as cursor:
            cursor.execute(f"{prefix} {query}")
            rows = cursor.fetchall()
        if not rows:
            return {}
        if vendor == "sqlite":
            return "\n".join(str(row[-1]) for row in rows)
        plan = rows[0][0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return plan[0] if isinstance(plan, list) and plan else plan

    def analyze_query_plan(self, plan: Any) -> dict[str, Any]:
        """``{"suggestions": [...], "plan": plan}`` over the whole plan tree."""
        if not plan or (isinstance(plan, dict) and "error" in plan):
            return {"suggestions": [], "plan": plan}
        vendor = connections[self.using].vendor
        return analyze_query_plan([plan] if vendor == "postgresql" else plan, vendor)


class ConnectionPoolMonitor:
    """The original's connection counters: what was recorded by hand, plus this process's real
    counts for the alias (``db.pool_stats()``)."""

    def __init__(self, using: str | None = None) -> None:
        self.using = using or DEFAULT_DB_ALIAS
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero the manual counters and restart the uptime (and the real counts' baseline)."""
        with self._lock:
            real = STATS.get(self.using)
            self._base = (real.connections_created, real.connections_closed)
            self.created = self.closed = self.in_use = self.max_used = 0
            self.waits: list[float] = []
            self.started = time.monotonic()

    def record_connection_created(self) -> None:
        with self._lock:
            self.created += 1
            self.in_use += 1
            self.max_used = max(self.max_used, self.in_use)

    def record_connection_closed(self) -> None:
        with self._lock:
            self.closed += 1
            self.in_use = max(0, self.in_use - 1)

    def record_wait_time(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(float(seconds))

    def get_stats(self) -> dict[str, Any]:
        """The original's seven keys (milliseconds and uptime rounded to 2 decimals)."""
        real = STATS.get(self.using)
        with self._lock:
            waits = list(self.waits)
            created = self.created + real.connections_created - self._base[0]
            closed = self.closed + real.connections_closed - self._base[1]
            in_use = self.in_use + real.in_use
            max_used = max(self.max_used + real.in_use, real.max_in_use, self.max_used)
        if real.wait_count:
            waits.append(real.wait_total_ms / real.wait_count / 1000)
        return {
            "connections_created": created,
            "connections_closed": closed,
            "connections_in_use": in_use,
            "max_connections_used": max_used,
            "avg_wait_time_ms": round(sum(waits) / len(waits) * 1000, 2) if waits else 0,
            "max_wait_time_ms": round(max(waits) * 1000, 2) if waits else 0,
            "uptime_seconds": round(time.monotonic() - self.started, 2),
        }


_connection_monitor = ConnectionPoolMonitor()


def get_connection_monitor() -> ConnectionPoolMonitor:
    """The process-wide monitor, the same object on every call."""
    return _connection_monitor
