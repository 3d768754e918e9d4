"""System checks of ``civ_orm_compat`` (ids ``civ_orm.E00x`` / ``civ_orm.W00x``, never renumbered).

======================  ==================================================================
id                      problem
======================  ==================================================================
``civ_orm.E001``        ``CIV_ORM_NPLUSONE`` is not ``"warn"``, ``"raise"`` or ``"off"``
``civ_orm.E002``        ``CIV_ORM_MIGRATIONS_APP`` names an app that is not installed
``civ_orm.E003``        ``CIV_ORM_CACHE_ALIAS`` is not a ``CACHES`` alias
``civ_orm.E004``        ``CIV_ORM_NPLUSONE_THRESHOLD`` is not an integer >= 2
``civ_orm.W001``        a database asks for a connection pool, which psycopg2 ignores
======================  ==================================================================
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks

from civ_orm_compat.conf import civ_settings

__all__ = ["check_settings"]


@checks.register(checks.Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Check the ``CIV_ORM_*`` settings and the pooling options of ``DATABASES``."""
    if app_configs is not None and not any(c.name == "civ_orm_compat" for c in app_configs):
        return []
    errors: list[checks.CheckMessage] = []
    action = civ_settings.NPLUSONE
    if action not in {"warn", "raise", "off"}:
        errors.append(
            checks.Error(
                f"CIV_ORM_NPLUSONE is {action!r}.",
                hint='Set it to "warn", "raise" or "off".',
                id="civ_orm.E001",
            )
        )
    label = civ_settings.MIGRATIONS_APP
    if (
        label is not None
        and not apps.is_installed(str(label))
        and label not in {config.label for config in apps.get_app_configs()}
    ):
        errors.append(
            checks.Error(
                f"CIV_ORM_MIGRATIONS_APP names {label!r}, which is not an installed app.",
                hint="Use the label of an app in INSTALLED_APPS, or unset the setting.",
                id="civ_orm.E002",
            )
        )
    alias = civ_settings.CACHE_ALIAS
    if alias not in settings.CACHES:
        errors.append(
            checks.Error(
                f"CIV_ORM_CACHE_ALIAS is {alias!r}, which is not in CACHES.",
                hint="Use one of: " + ", ".join(settings.CACHES),
                id="civ_orm.E003",
            )
        )
    threshold = civ_settings.NPLUSONE_THRESHOLD
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 2:
        errors.append(
            checks.Error(
                f"CIV_ORM_NPLUSONE_THRESHOLD is {threshold!r}.",
                hint="Use an integer of at least 2.",
                id="civ_orm.E004",
            )
        )
    limit = civ_settings.TRANSACTION_MAX_THREADS
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        errors.append(
            checks.Error(
                f"CIV_ORM_TRANSACTION_MAX_THREADS is {limit!r}.",
                hint="Use a positive integer, below the database's max_connections.",
                id="civ_orm.E005",
            )
        )
    timeout = civ_settings.TRANSACTION_TIMEOUT
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        errors.append(
            checks.Error(
                f"CIV_ORM_TRANSACTION_TIMEOUT is {timeout!r}.",
                hint="Use a positive number of seconds, or None to wait without a limit.",
                id="civ_orm.E006",
            )
        )
    try:
        from django.db.backends.postgresql.psycopg_any import (  # type: ignore[import-untyped, unused-ignore]
            is_psycopg3,
        )
    except ImportError:  # no PostgreSQL driver at all: a pool cannot work either
        is_psycopg3 = False

    for name, database in settings.DATABASES.items():
        if database.get("OPTIONS", {}).get("pool") and not is_psycopg3:
            errors.append(
                checks.Warning(
                    f"DATABASES[{name!r}] asks for a connection pool, which psycopg2 ignores.",
                    hint="Install psycopg 3 ('psycopg[binary,pool]'), or use CONN_MAX_AGE "
                    "with CONN_HEALTH_CHECKS (or PgBouncer).",
                    id="civ_orm.W001",
                )
            )
    return errors
