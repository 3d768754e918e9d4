"""Settings of ``civ_orm_compat``, read live from Django settings with the ``CIV_ORM_`` prefix.

Every setting, its default and its meaning:

========================================  ===========  ==========================================
setting                                   default      meaning
========================================  ===========  ==========================================
``CIV_ORM_GET_RETURNS_NONE``              ``False``    legacy mode: ``await Model.get()`` returns
                                                       ``None`` on a miss (the original's
                                                       behaviour) instead of raising
``CIV_ORM_NPLUSONE``                      ``"warn"``   what a detected N+1 does inside a detection
                                                       scope: ``"warn"``, ``"raise"`` or ``"off"``
``CIV_ORM_NPLUSONE_THRESHOLD``            ``2``        repetitions of one query shape at one line
                                                       that count as an N+1
``CIV_ORM_MIGRATIONS_APP``                ``None``     label of the installed app whose migrations
                                                       package receives ``Migration.save()`` files
``CIV_ORM_MIGRATIONS_TABLE``              ``"migrations"``  history table of the original's
                                                       ``MigrationManager``
``CIV_ORM_QUERY_METRICS``                 ``False``    record every query in ``query_tracker``
``CIV_ORM_METRICS_MAX_PATTERNS``          ``500``      distinct normalised queries kept (LRU)
``CIV_ORM_METRICS_SAMPLES``               ``256``      timings kept per pattern for p50/p95
``CIV_ORM_SLOW_QUERY_MS``                 ``1000.0``   a query at least this slow is "slow"
``CIV_ORM_CACHE_ALIAS``                   ``"default"``  the ``CACHES`` alias of ``.cache(ttl)``
``CIV_ORM_LARGE_TABLE_ROWS``              ``10000``    plan analysis: a sequential scan over at
                                                       least this many rows is reported
``CIV_ORM_HIGH_COST``                     ``1000.0``   plan analysis: a root cost above this is
                                                       reported (the original's threshold)
``CIV_ORM_TRANSACTION_IDLE_THREADS``      ``4``        idle pinned transaction threads kept for
                                                       reuse
``CIV_ORM_TRANSACTION_MAX_THREADS``       ``10``       pinned transaction threads (so open
                                                       transactions, so connections) at once;
                                                       more blocks wait in a queue
``CIV_ORM_TRANSACTION_TIMEOUT``           ``30.0``     seconds a block waits for a thread before
                                                       ``TransactionError`` (None: no limit)
``CIV_ORM_INIT_IGNORES_UNKNOWN``          ``False``    ``Model(**row)`` drops keys that are not
                                                       fields, as the original (Django raises
                                                       ``TypeError``)
``CIV_ORM_EXECUTE_RETURNS_STATUS``        ``False``    ``db.execute(sql, params)`` returns
                                                       asyncpg's status string (``"UPDATE 3"``),
                                                       as the original, not the row count
========================================  ===========  ==========================================
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings

__all__ = ["DEFAULTS", "PREFIX", "civ_settings"]

PREFIX = "CIV_ORM_"

DEFAULTS: dict[str, Any] = {
    "GET_RETURNS_NONE": False,
    "NPLUSONE": "warn",
    "NPLUSONE_THRESHOLD": 2,
    "MIGRATIONS_APP": None,
    "MIGRATIONS_TABLE": "migrations",
    "QUERY_METRICS": False,
    "METRICS_MAX_PATTERNS": 500,
    "METRICS_SAMPLES": 256,
    "SLOW_QUERY_MS": 1000.0,
    "CACHE_ALIAS": "default",
    "LARGE_TABLE_ROWS": 10_000,
    "HIGH_COST": 1000.0,
    "TRANSACTION_IDLE_THREADS": 4,
    "TRANSACTION_MAX_THREADS": 10,
    "TRANSACTION_TIMEOUT": 30.0,
    "EXECUTE_RETURNS_STATUS": False,
    "INIT_IGNORES_UNKNOWN": False,
}


class _Settings:
    """Live view of the ``CIV_ORM_*`` settings: every access reads Django settings.

    Reading live (no cache) keeps ``override_settings`` and pytest-django's ``settings`` fixture
    working without a ``setting_changed`` receiver.
    """

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"unknown civ_orm_compat setting {name!r}")
        return getattr(django_settings, PREFIX + name, DEFAULTS[name])


civ_settings = _Settings()
