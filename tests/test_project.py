"""The project as a whole: migrations complete, system checks clean, apps installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.core import checks
from django.core.management import call_command

from settings.database import BASE_DIR, mask_url


@pytest.mark.django_db
def test_no_missing_migrations() -> None:
    # check=True exits non-zero (SystemExit) when a model change has no migration.
    out = StringIO()
    call_command("makemigrations", check=True, dry_run=True, stdout=out)
    assert "No changes detected" in out.getvalue()


def test_system_checks_report_no_errors() -> None:
    errors = [message for message in checks.run_checks() if message.level >= checks.ERROR]
    assert errors == []
    # And through the command, as an operator runs it (raises SystemCheckError on errors).
    call_command("check", fail_level="ERROR", stdout=StringIO())


@pytest.mark.parametrize(
    "label", ["easyautoml_models", "django_gyro", "gyro_example", "civ_orm_compat"]
)
def test_app_is_installed_with_its_config(label: str) -> None:
    config = apps.get_app_config(label)
    assert config.name == label
    assert type(config).__module__ == f"{label}.apps"


def test_required_settings() -> None:
    assert settings.AUTH_USER_MODEL == "easyautoml_models.User"
    assert settings.MODEL_DECIMAL_FIELD_DEFAULT_MAX_DIGITS == 20
    assert settings.MODEL_DECIMAL_FIELD_DEFAULT_DECIMAL_PLACES == 8
    assert settings.USE_TZ is True


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgres://bob:s3cret@db.example:5432/app", "postgres://bob:***@db.example:5432/app"),
        ("postgres://bob@db.example/app", "postgres://bob@db.example/app"),
        ("postgres://bob:@/app?host=/run/pg", "postgres://bob:@/app?host=/run/pg"),
        ("sqlite:///tmp/x.sqlite3", "sqlite:///tmp/x.sqlite3"),
    ],
)
def test_mask_url_hides_password(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_unreachable_database_is_one_clear_line() -> None:
    # Port 1 on localhost refuses connections: the server is "down".
    url = "postgres://someone:topsecret@127.0.0.1:1/nowhere"
    result = _manage("migrate", env={"DATABASE_URL": url})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "postgres://someone:***@127.0.0.1:1/nowhere" in lines[0]
    assert "topsecret" not in result.stderr
    assert "DATABASE_URL" in lines[0]
    assert "Traceback" not in result.stderr


def test_extra_aliases_come_from_database_url_variables(tmp_path: Path) -> None:
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "print(json.dumps({a: d['NAME'] for a, d in settings.DATABASES.items()}))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "settings",
        "DATABASE_URL": f"sqlite:///{tmp_path}/a.sqlite3",
        "DATABASE_URL_TARGET": "postgres://u:p@db.example:5432/copy",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"default": f"{tmp_path}/a.sqlite3", "target": "copy"}


@pytest.mark.postgresql
def test_missing_database_says_to_create_it() -> None:
    from django.db import connections

    settings_dict = connections["default"].settings_dict
    user = settings_dict["USER"] or "postgres"
    if settings_dict["OPTIONS"].get("host"):  # the embedded server: a socket directory
        url = (
            f"postgres://{user}:pw@/no_such_database_here?host={settings_dict['OPTIONS']['host']}"
        )
    else:
        host, port = settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or 5432
        url = f"postgres://{user}:pw@{host}:{port}/no_such_database_here"
    result = _manage("migrate", env={"DATABASE_URL": url})
    assert result.returncode == 1
    assert "no_such_database_here" in result.stderr
    assert "create that database" in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "postgres://bob:s3cret@db.example:5432/app",
        "postgres://bob@db.example/app",
        "postgres://bob:@/app?host=/run/pg",
    ],
)
def test_apps_mask_urls_like_the_project(url: str) -> None:
    # django_gyro and civ_orm_compat are installable on their own, so each has its own masking
    # helper rather than importing the host project's; they must agree with it.
    from civ_orm_compat.connection import _masked
    from django_gyro.backend.connection import mask_url as gyro_mask_url

    assert gyro_mask_url(url) == mask_url(url)
    assert _masked(url) == mask_url(url)
    assert "s3cret" not in mask_url(url)
