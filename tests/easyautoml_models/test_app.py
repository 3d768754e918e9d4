"""Plumbing: lazy imports, settings checks, the log handler, verify_balances, migrations."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from io import StringIO

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from easyautoml_models.checks import check_settings
from easyautoml_models.models import User
from settings.database import BASE_DIR
from tests.easyautoml_models.helpers import raw_update


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
    assert messages[1] == checks.Error(
        "EASYAUTOML_WORK_LEASE_TIMEOUT must be a positive number of seconds, got 0.",
        hint="Use a value well above the interval at which servers call heartbeat().",
        id="easyautoml_models.E002",
    )
    assert "training_price" in messages[0].msg
    assert any(m.id == "easyautoml_models.E001" for m in checks.run_checks())


def test_settings_checks_skip_other_apps() -> None:
    from django.apps import apps

    with override_settings(EASYAUTOML_WORK_LEASE_TIMEOUT=0):
        assert check_settings(app_configs=[apps.get_app_config("auth")]) == []
        assert check_settings(app_configs=[apps.get_app_config("easyautoml_models")]) != []


@pytest.mark.django_db
def test_verify_balances_command(rich_user: User) -> None:
    out, err = StringIO(), StringIO()
    call_command("verify_balances", stdout=out, stderr=err)
    assert "every balance matches its ledger" in out.getvalue()
    quiet = StringIO()
    call_command("verify_balances", verbosity=0, stdout=quiet, stderr=quiet)
    assert quiet.getvalue() == ""
    raw_update(rich_user, "user_ixioo_balance", Decimal("49.50000000"))
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
