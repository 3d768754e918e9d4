"""System checks of civ_orm_compat: stable ids, clear hints."""

from __future__ import annotations

import warnings

import pytest
from django.apps import apps
from django.core import checks
from pytest_django.fixtures import Settings

from civ_orm_compat.checks import check_settings


def run() -> list[checks.CheckMessage]:
    return check_settings(app_configs=[apps.get_app_config("civ_orm_compat")])


def test_default_settings_are_clean() -> None:
    assert run() == []


def test_each_bad_setting_has_its_id(settings: Settings) -> None:
    from django.db.backends.postgresql.psycopg_any import (  # type: ignore[import-untyped, unused-ignore]
        is_psycopg3,
    )

    settings.CIV_ORM_NPLUSONE = "loud"
    settings.CIV_ORM_MIGRATIONS_APP = "not_an_app"
    settings.CIV_ORM_CACHE_ALIAS = "nowhere"
    settings.CIV_ORM_NPLUSONE_THRESHOLD = 1
    settings.CIV_ORM_TRANSACTION_MAX_THREADS = 0
    settings.CIV_ORM_TRANSACTION_TIMEOUT = "soon"
    with warnings.catch_warnings():  # "Overriding DATABASES can lead to unexpected behavior"
        warnings.simplefilter("ignore", UserWarning)
        settings.DATABASES = {**settings.DATABASES, "pooled": {"OPTIONS": {"pool": True}}}
    pool_warning = [
        checks.Warning(
            "DATABASES['pooled'] asks for a connection pool, which psycopg2 ignores.",
            hint="Install psycopg 3 ('psycopg[binary,pool]'), or use CONN_MAX_AGE with "
            "CONN_HEALTH_CHECKS (or PgBouncer).",
            id="civ_orm.W001",
        )
    ]
    assert run() == [
        checks.Error(
            "CIV_ORM_NPLUSONE is 'loud'.",
            hint='Set it to "warn", "raise" or "off".',
            id="civ_orm.E001",
        ),
        checks.Error(
            "CIV_ORM_MIGRATIONS_APP names 'not_an_app', which is not an installed app.",
            hint="Use the label of an app in INSTALLED_APPS, or unset the setting.",
            id="civ_orm.E002",
        ),
        checks.Error(
            "CIV_ORM_CACHE_ALIAS is 'nowhere', which is not in CACHES.",
            hint="Use one of: default",
            id="civ_orm.E003",
        ),
        checks.Error(
            "CIV_ORM_NPLUSONE_THRESHOLD is 1.",
            hint="Use an integer of at least 2.",
            id="civ_orm.E004",
        ),
        checks.Error(
            "CIV_ORM_TRANSACTION_MAX_THREADS is 0.",
            hint="Use a positive integer, below the database's max_connections.",
            id="civ_orm.E005",
        ),
        checks.Error(
            "CIV_ORM_TRANSACTION_TIMEOUT is 'soon'.",
            hint="Use a positive number of seconds, or None to wait without a limit.",
            id="civ_orm.E006",
        ),
        *([] if is_psycopg3 else pool_warning),
    ]


def test_other_apps_are_not_checked(settings: Settings) -> None:
    settings.CIV_ORM_NPLUSONE = "loud"
    assert check_settings(app_configs=[apps.get_app_config("auth")]) == []
    assert any(m.id == "civ_orm.E001" for m in checks.run_checks())


def test_the_package_re_exports_its_public_api() -> None:
    import civ_orm_compat
    from civ_orm_compat.connection import db
    from civ_orm_compat.orm import Model

    assert civ_orm_compat.Model is Model and civ_orm_compat.db is db
    assert set(civ_orm_compat.__all__) >= {"Model", "QueryBuilder", "db", "Migration"}
    assert set(civ_orm_compat.__all__) - {"__version__"} == set(civ_orm_compat._EXPORTS)
    assert civ_orm_compat.DatabaseConnection is type(db)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        civ_orm_compat.nothing  # noqa: B018
