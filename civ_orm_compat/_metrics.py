"""Query metrics: SQL normalisation and the bounded ``QueryTracker`` behind ``query_tracker``.

The execute wrapper (:mod:`civ_orm_compat._wrapper`) feeds :data:`query_tracker` when metrics
are enabled (``CIV_ORM_QUERY_METRICS`` or ``query_tracker.enable()``).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from statistics import quantiles
from typing import Any

from civ_orm_compat.conf import civ_settings

__all__ = ["QueryMetrics", "QueryTracker", "Record", "normalize_sql", "query_tracker"]


@dataclass
class QueryMetrics:
    """One executed query, as the original's ``QueryMetrics`` (``execution_time`` in seconds)."""

    query: str
    execution_time: float
    timestamp: datetime
    rows_affected: int | None = None
    table: str | None = None
    operation: str | None = None
    parameters: list[Any] | None = None


class Record(dict[str, Any]):
    """A result dict whose keys are also attributes, under the original's names too.

    ``stats["count"]`` and ``stats.execution_count`` (the original's ``QueryStatistics``) read
    the same value, so code written for either shape works.
    """

    ALIASES = {"query_pattern": "pattern", "execution_count": "count"}

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self.ALIASES.get(name, name)]
        except KeyError:
            raise AttributeError(name) from None


# ------------------------------------------------------------------------- normalisation

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.\"`])-?\d+(?:\.\d+)?\b")
_PLACEHOLDER_LIST = re.compile(r"\((?:\s*(?:%s|\?)\s*,)+\s*(?:%s|\?)\s*\)")
_SPACE = re.compile(r"\s+")
_DOLLAR = re.compile(r"(?<![\w$])\$\d+\b")  # asyncpg placeholders, as the original folded them


def normalize_sql(sql: str) -> str:
    """The shape of a statement: literals and placeholders become ``?``, IN lists ``(...)``.

    Django's SQL already carries ``%s`` placeholders, so two queries differing only in their
    parameters have one shape; literals in raw SQL are folded too.
    """
    shape = _STRING.sub("?", sql)
    shape = _DOLLAR.sub("?", shape)
    shape = _NUMBER.sub("?", shape)
    shape = shape.replace("%s", "?")
    shape = _PLACEHOLDER_LIST.sub("(...)", shape)
    return _SPACE.sub(" ", shape).strip()


# ------------------------------------------------------------------------- metrics


@dataclass
class _Pattern:
    count: int = 0
    total: float = 0.0
    min: float = float("inf")
    max: float = 0.0
    samples: deque[float] = field(default_factory=deque)
    last: datetime | None = None


class QueryTracker:
    """Bounded per-pattern query metrics (count, total, min, max, p50, p95), all in seconds.

    At most ``CIV_ORM_METRICS_MAX_PATTERNS`` patterns are kept (least recently seen evicted,
    counted in ``evicted_patterns``) and ``CIV_ORM_METRICS_SAMPLES`` timings per pattern (the
    most recent), so memory stays bounded however long the process runs.
    """

    def __init__(self, slow_query_threshold: float | None = None) -> None:
        if slow_query_threshold is not None and (
            isinstance(slow_query_threshold, bool)
            or not isinstance(slow_query_threshold, int | float)
            or slow_query_threshold < 0
        ):
            raise ValueError(
                f"slow_query_threshold is a number of seconds >= 0, got {slow_query_threshold!r}"
            )
        self._threshold = slow_query_threshold
        self._lock = threading.Lock()
        self._patterns: OrderedDict[str, _Pattern] = OrderedDict()
        self._slow: deque[Record] = deque(maxlen=100)
        self._enabled = False
        self.total_queries = 0
        self.evicted_patterns = 0

    @property
    def slow_query_threshold(self) -> float:
        """Seconds from which a query is slow (given, else ``CIV_ORM_SLOW_QUERY_MS``)."""
        if self._threshold is not None:
            return float(self._threshold)
        return float(civ_settings.SLOW_QUERY_MS) / 1000

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

    def track_query(
        self,
        query: str | QueryMetrics,
        execution_time: float | None = None,
        alias: str = "default",
    ) -> None:
        """Record one execution of ``query`` that took ``execution_time`` seconds.

        The original's form, ``track_query(QueryMetrics(...))``, works too.
        """
        when = None
        if isinstance(query, QueryMetrics):
            when, execution_time, query = query.timestamp, query.execution_time, query.query
        if execution_time is None:
            raise TypeError("track_query() needs the execution time in seconds")
        when = when or datetime.now(UTC)
        pattern = normalize_sql(query)
        max_patterns = int(civ_settings.METRICS_MAX_PATTERNS)
        max_samples = int(civ_settings.METRICS_SAMPLES)
        threshold = self.slow_query_threshold
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
            stats.last = when
            stats.count += 1
            stats.total += execution_time
            stats.min = min(stats.min, execution_time)
            stats.max = max(stats.max, execution_time)
            stats.samples.append(execution_time)
            if execution_time >= threshold:
                self._slow.append(
                    Record(
                        query=query,
                        pattern=pattern,
                        execution_time=execution_time,
                        alias=alias,
                        timestamp=when,
                    )
                )

    @staticmethod
    def _summary(pattern: str, stats: _Pattern) -> Record:
        samples = sorted(stats.samples)
        if len(samples) >= 2:
            cuts = quantiles(samples, n=100, method="inclusive")
            p50, p95 = cuts[49], cuts[94]
        else:
            p50 = p95 = samples[0] if samples else 0.0
        return Record(
            pattern=pattern,
            count=stats.count,
            total_time=stats.total,
            avg_time=stats.total / stats.count if stats.count else 0.0,
            min_time=stats.min if stats.count else 0.0,
            max_time=stats.max,
            p50=p50,
            p95=p95,
            last_execution=stats.last,
        )

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
            "slow_query_threshold": self.slow_query_threshold,
            "most_frequent": sorted(summaries, key=lambda s: -s["count"])[:5],
            "slowest": sorted(summaries, key=lambda s: -s["avg_time"])[:5],
        }

    def get_most_frequent_queries(self, limit: int = 10) -> list[Record]:
        """The ``limit`` patterns run most often."""
        with self._lock:
            summaries = [self._summary(p, s) for p, s in self._patterns.items()]
        return sorted(summaries, key=lambda s: -s["count"])[:limit]

    def get_slowest_queries(self, limit: int = 10) -> list[Record]:
        """The ``limit`` patterns with the highest p95."""
        with self._lock:
            summaries = [self._summary(p, s) for p, s in self._patterns.items()]
        return sorted(summaries, key=lambda s: -s["p95"])[:limit]

    def get_slow_queries(self, limit: int | None = 10) -> list[Record]:
        """The most recent slow queries (at least ``slow_query_threshold``), newest first.

        A falsy ``limit`` returns all that are kept (the last 100).
        """
        with self._lock:
            slow = list(reversed(self._slow))
        return slow[:limit] if limit else slow

    def _normalize_query(self, query: str) -> str:
        """The original's normalisation (``$n``, strings, integers -> ``?``), kept for callers
        that build ``get_query_stats(pattern)`` keys with it."""
        return normalize_sql(query)

    def clear_stats(self) -> None:
        """Forget everything recorded."""
        with self._lock:
            self._patterns.clear()
            self._slow.clear()
            self.total_queries = 0
            self.evicted_patterns = 0


#: The process-wide tracker.
query_tracker = QueryTracker()
