"""The one execute wrapper behind transactions guards, query metrics and N+1 detection.

``CivOrmCompatConfig.ready()`` connects :func:`install` to ``connection_created``, so every Django
connection, in every thread, gets :func:`execute_wrapper`. It costs a few ContextVar reads per
query when nothing is active, and does three things when something is:

* **escaped queries**: inside ``db.transaction()`` a query for that alias that runs on another
  thread than the pinned one would silently run outside the transaction; it raises instead;
* **metrics**: with ``CIV_ORM_QUERY_METRICS`` or ``query_tracker.enable()``, every query is
  timed into the bounded :class:`QueryTracker`;
* **N+1 detection**: inside :func:`detect_n_plus_one`, queries are grouped by (calling line,
  normalised SQL); a shape repeated ``threshold`` times at one line is reported with the
  ``select_related``/``prefetch_related`` that removes it.

ContextVars carry the scopes: asgiref copies them into the worker thread of ``sync_to_async``,
so a scope opened in async code sees the queries its awaits run elsewhere.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import sys
import threading
import time
import warnings
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from statistics import quantiles
from types import TracebackType
from typing import Any

import asgiref
import django
from django.apps import apps
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

from civ_orm_compat._context import active_transaction_thread
from civ_orm_compat._databases import STATS
from civ_orm_compat.caching import on_write_sql
from civ_orm_compat.conf import civ_settings
from civ_orm_compat.exceptions import NPlusOneDetected, NPlusOneWarning, TransactionError

__all__ = [
    "CALL_SITE",
    "NPlusOneDetector",
    "NPlusOneReport",
    "QueryTracker",
    "detect_n_plus_one",
    "execute_wrapper",
    "install",
    "normalize_sql",
    "nplusone_active",
    "query_tracker",
    "user_call_site",
]

#: (filename, line, function) of the user code that awaited a compat query, set by
#: ``connection.run`` while an N+1 scope is active.
CALL_SITE: ContextVar[tuple[str, int, str] | None] = ContextVar("civ_orm_call_site", default=None)

_DETECTOR: ContextVar[NPlusOneDetector | None] = ContextVar("civ_orm_nplusone", default=None)

# ------------------------------------------------------------------------- normalisation

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.\"`])-?\d+(?:\.\d+)?\b")
_PLACEHOLDER_LIST = re.compile(r"\((?:\s*(?:%s|\?)\s*,)+\s*(?:%s|\?)\s*\)")
_SPACE = re.compile(r"\s+")


def normalize_sql(sql: str) -> str:
    """The shape of a statement: literals and placeholders become ``?``, IN lists ``(...)``.

    Django's SQL already carries ``%s`` placeholders, so two queries differing only in their
    parameters have one shape; literals in raw SQL are folded too.
    """
    shape = _STRING.sub("?", sql)
    shape = _NUMBER.sub("?", shape)
    shape = shape.replace("%s", "?")
    shape = _PLACEHOLDER_LIST.sub("(...)", shape)
    return _SPACE.sub(" ", shape).strip()


# ------------------------------------------------------------------------- call sites

_SKIP_DIRS = tuple(
    os.path.dirname(module.__file__ or "") + os.sep
    for module in (django, asgiref, asyncio, concurrent.futures)
)
_SELF_DIR = os.path.dirname(__file__) + os.sep
_SKIP_FILES = {threading.__file__, contextlib.__file__}


def user_call_site(depth: int = 1) -> tuple[str, int, str] | None:
    """The innermost frame outside Django, asgiref, asyncio and this package."""
    frame = sys._getframe(depth)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not (
            filename.startswith(_SKIP_DIRS)
            or filename.startswith(_SELF_DIR)
            or filename in _SKIP_FILES
            or filename.startswith("<")
        ):
            return filename, frame.f_lineno, frame.f_code.co_name
        frame = frame.f_back  # type: ignore[assignment]
    return None


# ------------------------------------------------------------------------- metrics


@dataclass
class _Pattern:
    count: int = 0
    total: float = 0.0
    min: float = float("inf")
    max: float = 0.0
    samples: deque[float] = field(default_factory=deque)


class QueryTracker:
    """Bounded per-pattern query metrics (count, total, min, max, p50, p95), all in seconds.

    At most ``CIV_ORM_METRICS_MAX_PATTERNS`` patterns are kept (least recently seen evicted,
    counted in ``evicted_patterns``) and ``CIV_ORM_METRICS_SAMPLES`` timings per pattern (the
    most recent), so memory stays bounded however long the process runs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._patterns: OrderedDict[str, _Pattern] = OrderedDict()
        self._slow: deque[dict[str, Any]] = deque(maxlen=100)
        self._enabled = False
        self.total_queries = 0
        self.evicted_patterns = 0

    @property
    def enabled(self) -> bool:
        """Whether queries are recorded (``enable()`` or ``CIV_ORM_QUERY_METRICS``)."""
        return self._enabled or bool(civ_settings.QUERY_METRICS)

    def enable(self) -> None:
        """Start recording every query."""
        self._enabled = True

    def disable(self) -> None:
        """Stop recording (``CIV_ORM_QUERY_METRICS`` still wins when set)."""
        self._enabled = False

    @contextmanager
    def recording(self) -> Iterator[QueryTracker]:
        """Record queries inside a ``with`` block."""
        previous = self._enabled
        self._enabled = True
        try:
            yield self
        finally:
            self._enabled = previous

    def track_query(self, query: str, execution_time: float, alias: str = "default") -> None:
        """Record one execution of ``query`` that took ``execution_time`` seconds."""
        pattern = normalize_sql(query)
        max_patterns = int(civ_settings.METRICS_MAX_PATTERNS)
        max_samples = int(civ_settings.METRICS_SAMPLES)
        with self._lock:
            self.total_queries += 1
            stats = self._patterns.get(pattern)
            if stats is None:
                stats = self._patterns[pattern] = _Pattern(samples=deque(maxlen=max_samples))
                while len(self._patterns) > max_patterns:
                    self._patterns.popitem(last=False)
                    self.evicted_patterns += 1
            else:
                self._patterns.move_to_end(pattern)
            stats.count += 1
            stats.total += execution_time
            stats.min = min(stats.min, execution_time)
            stats.max = max(stats.max, execution_time)
            stats.samples.append(execution_time)
            if execution_time * 1000 >= float(civ_settings.SLOW_QUERY_MS):
                self._slow.append(
                    {
                        "query": query,
                        "pattern": pattern,
                        "execution_time": execution_time,
                        "alias": alias,
                        "timestamp": time.time(),
                    }
                )

    @staticmethod
    def _summary(pattern: str, stats: _Pattern) -> dict[str, Any]:
        samples = sorted(stats.samples)
        if len(samples) >= 2:
            cuts = quantiles(samples, n=100, method="inclusive")
            p50, p95 = cuts[49], cuts[94]
        else:
            p50 = p95 = samples[0] if samples else 0.0
        return {
            "pattern": pattern,
            "count": stats.count,
            "total_time": stats.total,
            "avg_time": stats.total / stats.count if stats.count else 0.0,
            "min_time": stats.min if stats.count else 0.0,
            "max_time": stats.max,
            "p50": p50,
            "p95": p95,
        }

    def get_query_stats(self, pattern: str | None = None) -> dict[str, Any]:
        """Overall statistics, or those of one pattern (raw SQL is normalised first).

        Raises:
            KeyError: ``pattern`` was never recorded (or was evicted).
        """
        with self._lock:
            if pattern is not None:
                key = pattern if pattern in self._patterns else normalize_sql(pattern)
                if key not in self._patterns:
                    raise KeyError(f"no recorded query has the pattern {key!r}")
                return self._summary(key, self._patterns[key])
            summaries = [self._summary(p, s) for p, s in self._patterns.items()]
            slow = len(self._slow)
        return {
            "total_queries": self.total_queries,
            "slow_queries": slow,
            "unique_patterns": len(summaries),
            "evicted_patterns": self.evicted_patterns,
            "slow_query_threshold": float(civ_settings.SLOW_QUERY_MS) / 1000,
            "most_frequent": sorted(summaries, key=lambda s: -s["count"])[:5],
            "slowest": sorted(summaries, key=lambda s: -s["avg_time"])[:5],
        }

    def get_most_frequent_queries(self, limit: int = 10) -> list[dict[str, Any]]:
        """The ``limit`` patterns run most often."""
        with self._lock:
            summaries = [self._summary(p, s) for p, s in self._patterns.items()]
        return sorted(summaries, key=lambda s: -s["count"])[:limit]

    def get_slowest_queries(self, limit: int = 10) -> list[dict[str, Any]]:
        """The ``limit`` patterns with the highest p95."""
        with self._lock:
            summaries = [self._summary(p, s) for p, s in self._patterns.items()]
        return sorted(summaries, key=lambda s: -s["p95"])[:limit]

    def get_slow_queries(self, limit: int = 10) -> list[dict[str, Any]]:
        """The most recent queries slower than ``CIV_ORM_SLOW_QUERY_MS``, newest first."""
        with self._lock:
            return list(reversed(self._slow))[:limit]

    def clear_stats(self) -> None:
        """Forget everything recorded."""
        with self._lock:
            self._patterns.clear()
            self._slow.clear()
            self.total_queries = 0
            self.evicted_patterns = 0


#: The process-wide tracker.
query_tracker = QueryTracker()

# ------------------------------------------------------------------------- N+1

_FROM = re.compile(r"\bFROM\s+[\"`\[]?(\w+)[\"`\]]?", re.IGNORECASE)
_WHERE = re.compile(
    r"\bWHERE\s+\(?\s*[\"`\[]?(\w+)[\"`\]]?\.[\"`\[]?(\w+)[\"`\]]?\s*(?:=|IN\b)", re.IGNORECASE
)


@dataclass(frozen=True)
class NPlusOneReport:
    """One detected N+1: where, what, how often and the fix."""

    filename: str
    lineno: int
    function: str
    pattern: str
    count: int
    fix: str

    @property
    def location(self) -> str:
        """``path:line`` of the loop body that issued the queries."""
        return f"{self.filename}:{self.lineno}"

    def message(self) -> str:
        """The human-readable report."""
        return (
            f"N+1 query detected at {self.location} (in {self.function}): {self.count} queries "
            f"of the same shape: {self.pattern[:160]}. Fix: {self.fix}"
        )


def _table_models() -> dict[str, type[models.Model]]:
    return {model._meta.db_table: model for model in apps.get_models(include_auto_created=True)}


def suggest_fix(pattern: str, seen_tables: list[str]) -> str:
    """The ``select_related``/``prefetch_related`` that turns the repeated query into a join."""
    match = _WHERE.search(pattern)
    tables = _table_models()
    if match is None:
        return "load the related rows with the parent query (select_related/prefetch_related)"
    table, column = match.group(1), match.group(2)
    model = tables.get(table)
    if model is None:
        return f"load the {table} rows with the parent query (select_related/prefetch_related)"
    field_by_column = {f.column: f for f in model._meta.concrete_fields}
    filtered = field_by_column.get(column)
    if model._meta.auto_created and filtered is not None and filtered.is_relation:
        # A many-to-many through table: the loop reads one side per row of the other side.
        for owner in tables.values():
            for m2m in owner._meta.local_many_to_many:
                if m2m.remote_field.through is not model:
                    continue
                if filtered.related_model is owner:
                    return f'add .prefetch_related("{m2m.name}") to the {owner.__name__} query'
                accessor = getattr(m2m.remote_field, "get_accessor_name", lambda: None)()
                target = getattr(m2m.related_model, "__name__", "related")
                return f'add .prefetch_related("{accessor}") to the {target} query'
    if filtered is not None and filtered.is_relation and filtered.related_model is not None:
        # Rows of `model` fetched per parent row: a reverse relation, prefetch it.
        parent = getattr(filtered.related_model, "__name__", str(filtered.related_model))
        accessor = getattr(filtered.remote_field, "get_accessor_name", lambda: None)()
        return f'add .prefetch_related("{accessor}") to the {parent} query'
    # The related row fetched by key: a forward foreign key, join it.
    candidates = [
        (other, fk)
        for other in tables.values()
        for fk in other._meta.concrete_fields
        if fk.many_to_one and fk.related_model is model
    ]
    seen = [c for c in candidates if c[0]._meta.db_table in seen_tables]
    chosen = seen or candidates
    if not chosen:
        return f"load {model.__name__} rows with the parent query (select_related)"
    return " or ".join(
        f'add .select_related("{fk.name}") to the {other.__name__} query' for other, fk in chosen
    )


class NPlusOneDetector:
    """An N+1 detection scope; use :func:`detect_n_plus_one` to open one.

    Attributes:
        reports: every N+1 found in the scope, in detection order.
    """

    def __init__(self, threshold: int | None = None, action: str | None = None) -> None:
        self.threshold = int(
            threshold if threshold is not None else civ_settings.NPLUSONE_THRESHOLD
        )
        self.action = action if action is not None else str(civ_settings.NPLUSONE)
        if self.action not in {"warn", "raise", "off"}:
            raise ValueError(f"N+1 action must be 'warn', 'raise' or 'off', not {self.action!r}")
        if self.threshold < 2:
            raise ValueError(f"N+1 threshold must be at least 2, not {self.threshold}")
        self.reports: list[NPlusOneReport] = []
        self._counts: dict[tuple[str, int, str], int] = {}
        self._reported: set[tuple[str, int, str]] = set()
        self._seen_tables: list[str] = []
        self._lock = threading.Lock()
        self._token: Any = None

    def observe(self, sql: str, site: tuple[str, int, str] | None) -> None:
        """Count one SELECT issued from ``site``; report when it repeats."""
        if not sql.lstrip()[:6].upper() == "SELECT":
            return
        pattern = normalize_sql(sql)
        table_match = _FROM.search(pattern)
        with self._lock:
            if table_match and table_match.group(1) not in self._seen_tables:
                self._seen_tables.append(table_match.group(1))
            if site is None:
                site = ("<unknown: async query outside civ_orm_compat>", 0, "?")
            key = (site[0], site[1], pattern)
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
            if count < self.threshold or key in self._reported:
                return
            self._reported.add(key)
            seen = list(self._seen_tables)
        report = NPlusOneReport(
            site[0], site[1], site[2], pattern, count, suggest_fix(pattern, seen)
        )
        self.reports.append(report)
        if self.action == "raise":
            raise NPlusOneDetected(report.message())
        warnings.warn(report.message(), NPlusOneWarning, stacklevel=2)

    def __enter__(self) -> NPlusOneDetector:
        self._token = _DETECTOR.set(self if self.action != "off" else None)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _DETECTOR.reset(self._token)

    async def __aenter__(self) -> NPlusOneDetector:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def detect_n_plus_one(threshold: int | None = None, action: str | None = None) -> NPlusOneDetector:
    """Open an N+1 detection scope (``with`` or ``async with``).

    Args:
        threshold: repetitions of one query shape at one line that make an N+1
            (default ``CIV_ORM_NPLUSONE_THRESHOLD``).
        action: ``"warn"`` (``NPlusOneWarning``), ``"raise"`` (``NPlusOneDetected``) or
            ``"off"`` (default ``CIV_ORM_NPLUSONE``).
    """
    return NPlusOneDetector(threshold, action)


def nplusone_active() -> bool:
    """Whether an N+1 detection scope is open in this context."""
    return _DETECTOR.get() is not None


# ------------------------------------------------------------------------- the wrapper


def execute_wrapper(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """The execute wrapper installed on every connection (see the module docstring)."""
    connection = context["connection"]
    on_write_sql(connection, sql)
    alias = connection.alias
    pinned = active_transaction_thread(alias)
    if pinned is not None and pinned != threading.get_ident():
        raise TransactionError(
            f"a query on {alias!r} ran outside the thread of the enclosing db.transaction() "
            "block, so it would not be part of the transaction; run it with the compat API or "
            "a thread-sensitive sync_to_async inside the block (or outside the block)"
        )
    detector = _DETECTOR.get()
    if detector is not None:
        detector.observe(sql, CALL_SITE.get() or user_call_site(2))
    if not query_tracker.enabled:
        return execute(sql, params, many, context)
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        query_tracker.track_query(sql, time.perf_counter() - started, alias)


def install(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """``connection_created`` receiver: add the wrapper once per connection object."""
    STATS.connection_created(connection.alias)
    if execute_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(execute_wrapper)
