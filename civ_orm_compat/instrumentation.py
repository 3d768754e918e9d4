"""Instrumentation, by its older name: re-exports of :mod:`civ_orm_compat._metrics`,
:mod:`civ_orm_compat._nplusone` and :mod:`civ_orm_compat._wrapper`."""

from __future__ import annotations

from civ_orm_compat._metrics import QueryTracker, normalize_sql, query_tracker
from civ_orm_compat._nplusone import (
    CALL_SITE,
    NPlusOneDetector,
    NPlusOneReport,
    detect_n_plus_one,
    nplusone_active,
    user_call_site,
)
from civ_orm_compat._wrapper import execute_wrapper, install

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
