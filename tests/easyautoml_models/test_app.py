"""Plumbing: lazy imports, settings checks, the log handler, verify_balances, migrations."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from decimal import Decimal
from io import StringIO

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from easyautoml_models.checks import check_settings
from easyautoml_models.log import DatabaseLogHandler
from easyautoml_models.models import EasyAutoMLLogger, User
from settings.database import BASE_DIR


def test_importing_the_package_needs_no_django_setup() -> None:
    code = (
        "import easyautoml_models, sys; "
        "assert 'easyautoml_models.models' not in sys.modules; "
        "print(easyautoml_models.__version__)"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_settings_checks_pass_by_default() -> None:
    assert check_settings() == []


@override_settings(
    EASYAUTOML_BILLING_IXIOO_OPERATIONS_PRICE={"training_price": -1},
    EASYAUTOML_WORK_LEASE_TIMEOUT=0,
    EASYAUTOML_WORK_MAX_ATTEMPTS="3",
    EASYAUTOML_SUPER_ADMIN_TEAM_MEMBERS="a@x.com",
)
def test_settings_checks_name_every_bad_setting() -> None:
    messages = check_settings()
    assert [m.id for m in messages] == [
        "easyautoml_models.E001",
        "easyautoml_models.E002",
        "easyautoml_models.E003",
        "easyautoml_models.W001",
    ]
    assert all(m.hint for m in messages)
    assert "training_price" in messages[0].msg
    assert any(m.id == "easyautoml_models.E001" for m in checks.run_checks())


@pytest.mark.django_db
def test_log_records_land_in_the_table() -> None:
    logger = logging.getLogger("easyautoml.tests.handler")
    handler = DatabaseLogHandler(level=logging.INFO)
    logger.addHandler(handler)
    try:
        logger.warning("disk at %d%%", 93)
        try:
            raise ValueError("bad column")
        except ValueError:
            logger.exception("training failed")
        logger.debug("below the handler's level")
    finally:
        logger.removeHandler(handler)
    rows = list(EasyAutoMLLogger.objects.order_by("pk"))
    assert [(r.level, r.message) for r in rows] == [
        ("WARNING", "disk at 93%"),
        ("ERROR", "training failed"),
    ]
    assert rows[0].logger == "easyautoml.tests.handler"
    assert rows[0].main_function == "test_log_records_land_in_the_table"
    assert rows[0].main_module == "test_app"
    assert rows[0].host_name
    assert "ValueError: bad column" in rows[1].traceback


@pytest.mark.django_db
def test_a_failing_database_never_breaks_the_caller(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    logger = logging.getLogger("easyautoml.tests.broken")
    handler = DatabaseLogHandler(using="default")
    logger.addHandler(handler)
    table = EasyAutoMLLogger._meta.db_table
    monkeypatch.setattr(EasyAutoMLLogger._meta, "db_table", "no_such_table")
    try:
        with transaction.atomic():
            user = User.objects.create_user(email="caller@example.com")
            logger.error("this cannot be stored")  # the INSERT fails inside a savepoint
            user.first_name = "Still"
            user.save()  # the caller's transaction is still usable
    finally:
        logger.removeHandler(handler)
        monkeypatch.setattr(EasyAutoMLLogger._meta, "db_table", table)
    assert User.objects.get(email="caller@example.com").first_name == "Still"
    assert "no_such_table" in capsys.readouterr().err
    assert EasyAutoMLLogger.objects.count() == 0


@pytest.mark.django_db
def test_verify_balances_command(rich_user: User) -> None:
    out, err = StringIO(), StringIO()
    call_command("verify_balances", stdout=out, stderr=err)
    assert "every balance matches its ledger" in out.getvalue()
    quiet = StringIO()
    call_command("verify_balances", verbosity=0, stdout=quiet, stderr=quiet)
    assert quiet.getvalue() == ""
    User.objects.filter(pk=rich_user.pk).update(user_ixioo_balance=Decimal("49.5"))
    err = StringIO()
    with pytest.raises(CommandError, match="1 balance"):
        call_command("verify_balances", stdout=StringIO(), stderr=err)
    assert rich_user.email in err.getvalue()
    assert "user_ixioo_balance=49.50000000" in err.getvalue()
    assert "ledger says 50.00000000" in err.getvalue()
    with pytest.raises(CommandError, match="unknown database alias 'nope'"):
        call_command("verify_balances", database="nope", stdout=StringIO(), stderr=StringIO())


@pytest.mark.django_db(transaction=True)
def test_migrations_are_reversible() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("easyautoml_models", None)])
    tables = set(connection.introspection.table_names())
    assert "Work" not in tables and "billing_credit" not in tables
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    tables = set(connection.introspection.table_names())
    expected = {
        "user", "Team", "machine", "machine_nnmodel", "machine_encdecconfiguration", "Graph",
        "billing_operation", "billing_credit", "billing_debit", "billing_creditixioo",
        "billing_debitixioo", "Billing", "server", "Work", "DataLinesOperation",
        "machine_table_lock_write", "ConsultingRequest", "EasyAutoMLLogger",
    }  # fmt: skip
    assert expected <= tables
