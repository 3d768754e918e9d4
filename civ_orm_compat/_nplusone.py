"""N+1 detection: queries grouped by (calling line, normalised SQL) inside a scope.

Inside :func:`detect_n_plus_one`, a query shape repeated ``threshold`` times at one line is
reported with the ``select_related``/``prefetch_related`` that removes it. ContextVars carry the
scope: asgiref copies them into the worker thread of ``sync_to_async``, so a scope opened in
async code sees the queries its awaits run elsewhere.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import re
import sys
import threading
import warnings
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import asgiref
import django
from django.apps import apps
from django.db import models

from civ_orm_compat._metrics import normalize_sql
from civ_orm_compat.conf import civ_settings
from civ_orm_compat.exceptions import NPlusOneDetected, NPlusOneWarning

__all__ = [
    "CALL_SITE",
    "NPlusOneDetector",
    "NPlusOneReport",
    "detect_n_plus_one",
    "nplusone_active",
    "suggest_fix",
    "user_call_site",
]

#: (filename, line, function) of the user code that awaited a compat query, set by
#: ``_async.run`` while an N+1 scope is active.
CALL_SITE: ContextVar[tuple[str, int, str] | None] = ContextVar("civ_orm_call_site", default=None)

_DETECTOR: ContextVar[NPlusOneDetector | None] = ContextVar("civ_orm_nplusone", default=None)

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
