"""EasyAutoML-Core's import paths and ``EasyAutoMLDBModels``, as its ML code uses them."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connections

from easyautoml_models import models as real

ROOT = Path(__file__).resolve().parents[2]

#: module -> the names EasyAutoML-Core's module exports (see docs/easyautoml_models.md).
ORIGINAL_MODULES = {
    "machine": [
        "ENABLE_LOGGER_DEBUG_Machine",
        "NNCONFIGURATION_ALL_POSSIBLE_OPTIMIZER_FUNCTION",
        "NNCONFIGURATION_LOSS_FUNCTION",
        "POSSIBLE_MACHINES_LEVELS",
        "TYPE_MAPPING",
        "DatasetColumnDataType",
        "Machine",
        "_get_model_fields_by_names_types",
        "get_logger",
        "logger",
    ],
    "user": [
        "ALLAUTH_AVAILABLE",
        "REST_FRAMEWORK_AVAILABLE",
        "SUPER_ADMIN_EASYAUTOML_EMAIL",
        "User",
        "UserManager",
        "_logger",
        "get_logger",
        "get_team_model",
    ],
    "team": ["Team"],
    "nn_model": ["NNModel"],
    "encdec_configuration": ["EncDecConfiguration"],
    "graph": ["DATETIME_COLUMNS", "FLOAT_COLUMNS", "GRAPH_TYPES", "Graph"],
    "logger": ["EasyAutoMLLogger"],
    "data_lines_operation": ["DataLinesOperation"],
    "machine_table_lock_write": ["MachineTableLockWrite"],
    "server": ["Server"],
    "consulting": ["CATEGORIES", "ConsultingRequest", "get_machine_model", "get_team_model"],
    "billing": ["Credit", "CreditIXIOO", "Debit", "DebitIXIOO", "Operation"],
    "billing_managers": [
        "CreditIXIOOManager",
        "CreditManager",
        "DebitIXIOOManager",
        "DebitManager",
        "MachineOperationsManager",
    ],
    "work": ["Work"],
    "machine_billing": ["Billing"],
    "dynamic_model": [
        "DynamicModel",
        "_get_alchemy_engine",
        "create_dynamic_model",
        "create_model",
        "logger",
    ],
    "JsonEncoderExtended": ["JsonEncoderExtended"],
    "EasyAutoMLDBModels": ["EasyAutoMLDBModels"],
}


@pytest.mark.parametrize("module", sorted(ORIGINAL_MODULES))
def test_original_module_paths_export_exactly_the_original_names(module: str) -> None:
    imported = importlib.import_module(f"easyautoml_models.{module}")
    assert sorted(imported.__all__) == sorted(ORIGINAL_MODULES[module])
    for name in imported.__all__:
        getattr(imported, name)


def test_re_exports_are_the_real_classes_not_copies() -> None:
    from easyautoml_models import billing_managers, machine, machine_billing, user, work

    assert machine.Machine is real.Machine
    assert user.User is real.User and user.get_team_model() is real.Team
    assert work.Work is real.Work
    assert machine_billing.Billing is real.Billing
    assert billing_managers.CreditManager is type(real.Credit.objects)
    assert billing_managers.MachineOperationsManager is type(real.Operation.machine_operations)


def test_easyautoml_db_models_has_every_attribute_of_the_original() -> None:
    from easyautoml_models.EasyAutoMLDBModels import EasyAutoMLDBModels

    db = EasyAutoMLDBModels()
    for name in (
        "User",
        "Team",
        "Machine",
        "MachineTableLockWrite",
        "DataLinesOperation",
        "Graph",
        "NNModel",
        "EncDecConfiguration",
        "Server",
        "Operation",
        "Work",
        "ConsultingRequest",
        "Billing",
        "EasyAutoMLLogger",
    ):
        assert getattr(db, name) is getattr(real, name), name
    assert db.MachineBilling is None
    assert db.Consulting is real.ConsultingRequest
    assert db.Logger is db.EasyAutoMLLogger
    assert db.connections is connections
    assert db.cursor is None
    for name in (
        "all",
        "filter",
        "exclude",
        "get",
        "create",
        "count",
        "exists",
        "first",
        "last",
        "latest",
        "earliest",
    ):
        assert hasattr(db.Machine.objects, name)
    assert db.Machine._meta.get_field("machine_name") is not None
    first, second = db.logger, db.logger
    assert first is not second  # a new logger at every access, as in EasyAutoML-Core
    for method in ("debug", "info", "warning", "error", "critical"):
        assert callable(getattr(first, method))


@pytest.mark.django_db
def test_get_cursor_opens_one_cursor_and_keeps_it() -> None:
    from easyautoml_models.EasyAutoMLDBModels import EasyAutoMLDBModels

    db = EasyAutoMLDBModels()
    cursor = db.get_cursor()
    assert cursor is not None and db.get_cursor() is cursor
    cursor.execute("SELECT 1")
    assert cursor.fetchone() == (1,)


def test_easyautoml_db_models_sets_django_up_only_when_needed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import django

    from easyautoml_models.EasyAutoMLDBModels import EasyAutoMLDBModels

    def fail() -> None:
        raise AssertionError("django.setup() called although the apps are ready")

    monkeypatch.setattr(django, "setup", fail)
    EasyAutoMLDBModels()


def test_easyautoml_db_models_sets_django_up_in_a_fresh_process() -> None:
    code = (
        "from django.apps import apps\n"
        "assert not apps.ready\n"
        "from easyautoml_models.EasyAutoMLDBModels import EasyAutoMLDBModels\n"
        "db = EasyAutoMLDBModels()\n"
        "assert apps.ready\n"
        "print(db.Machine._meta.db_table, db.MachineBilling)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "machine None"


def test_apps_module_has_the_original_names() -> None:
    from easyautoml_models import apps as app_module

    assert app_module.ModelsConfig is app_module.EasyAutoMLModelsConfig
    assert app_module.create_easyautoml_admin_team is app_module.ensure_super_admin_team


def test_alchemy_engine_is_not_used() -> None:
    from easyautoml_models.dynamic_model import _get_alchemy_engine

    with pytest.raises(NotImplementedError, match="does not use SQLAlchemy"):
        _get_alchemy_engine()
