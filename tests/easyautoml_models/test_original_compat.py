"""Behaviours EasyAutoML-Core's callers rely on (each failed before this package matched them)."""

from __future__ import annotations

import importlib
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings

from easyautoml_models.exceptions import WorkStateError
from easyautoml_models.factories import MachineFactory, WorkFactory
from easyautoml_models.models import (
    OPERATION_TYPES,
    CreditIXIOO,
    Machine,
    Operation,
    Server,
    User,
    Work,
    WorkStatus,
)

pytestmark = pytest.mark.django_db


def test_pay_bill_stamps_last_billing_time_on_the_callers_user(user: User) -> None:
    assert user.last_billing_time is None
    CreditIXIOO.objects.pay_bill(user, 5)
    stored = User.objects.get(pk=user.pk).last_billing_time
    assert stored is not None
    assert user.last_billing_time == stored


@override_settings(EASYAUTOML_BILLING_IXIOO_OPERATIONS_PRICE={"training_price": 0})
def test_training_records_the_machines_epoch_count(machine: Machine) -> None:
    machine.training_training_epoch_count = 12
    machine.save()
    operation = Operation.machine_operations.training(machine, 100)
    assert operation.count_of_training_epoch == 12
    explicit = Operation.machine_operations.training(machine, 100, count_of_training_epoch=3)
    assert explicit.count_of_training_epoch == 3


def test_machine_save_stores_an_empty_dict_for_no_column_types(machine: Machine) -> None:
    machine.mdc_columns_data_type = None
    machine.save()
    assert Machine.objects.get(pk=machine.pk).mdc_columns_data_type == {}


@pytest.mark.parametrize(
    ("flag", "label"),
    [
        ("is_training_operation", "Training"),
        ("is_solving_operation", "Solving"),
        ("is_solving_with_api_operation", "Solving API"),
        ("is_solving_with_api_market_operation", "Solving API Market"),
        ("is_buy_data_source_operation", "Buy data source"),
        ("is_machine_copy_operation", "Machine copy"),
        ("is_machine_copy_update_operation", "Machine copy update"),
        ("is_pay_a_bill_operation", "Pay bill"),
        ("is_credit_from_user_operation", "Credit from user"),
    ],
)
def test_operation_get_type_is_the_display_string(flag: str, label: str) -> None:
    operation = Operation(**{flag: True})
    assert operation.get_type == label
    assert operation.type_flag == flag
    assert Operation().get_type == ""
    assert flag in OPERATION_TYPES


def _all_fields_but(*names: str) -> list[str]:
    return [f.name for f in Machine._meta.fields if f.name not in names]


@pytest.mark.parametrize("optimizer", ["Adam", "SGD", "RMSprop", "Adadelta"])
def test_the_ml_codes_optimizer_values_validate(machine: Machine, optimizer: str) -> None:
    machine.parameter_nn_optimizer = optimizer
    machine.parameter_nn_loss = "mean_absolute_error"
    machine.clean_fields(exclude=_all_fields_but("parameter_nn_optimizer", "parameter_nn_loss"))
    machine.save()
    assert Machine.objects.get(pk=machine.pk).parameter_nn_optimizer == optimizer


def test_lower_case_optimizer_values_no_longer_validate(machine: Machine) -> None:
    machine.parameter_nn_optimizer = "adam"
    with pytest.raises(ValidationError, match="parameter_nn_optimizer"):
        machine.clean_fields(exclude=_all_fields_but("parameter_nn_optimizer"))


def test_the_data_migration_maps_lower_case_values(machine: Machine) -> None:
    migration = importlib.import_module("easyautoml_models.migrations.0003_original_compat")
    Machine.objects.filter(pk=machine.pk).update(
        parameter_nn_optimizer="rmsprop", parameter_nn_loss="mae"
    )
    editor = SimpleNamespace(connection=connection)
    migration.forwards(apps, editor)
    row = Machine.objects.values("parameter_nn_optimizer", "parameter_nn_loss").get(pk=machine.pk)
    assert row == {"parameter_nn_optimizer": "RMSprop", "parameter_nn_loss": "mean_absolute_error"}
    migration.backwards(apps, editor)
    row = Machine.objects.values("parameter_nn_optimizer", "parameter_nn_loss").get(pk=machine.pk)
    assert row == {"parameter_nn_optimizer": "rmsprop", "parameter_nn_loss": "mae"}


def test_machine_save_errors_are_value_errors_too(user: User) -> None:
    machine = Machine(machine_owner_user=user, machine_name="__reserved__")
    with pytest.raises(ValueError, match="reserved") as caught:
        machine.save()
    from easyautoml_models.exceptions import InvalidValue

    assert isinstance(caught.value, ValidationError)
    assert isinstance(caught.value, InvalidValue)


def test_work_flag_errors_are_value_errors_too(machine: Machine) -> None:
    work = Work(machine=machine, is_work_training=True)
    with pytest.raises(ValueError, match="exactly one status flag"):
        work.save()


def _flip(work: Work, status: str) -> None:
    from easyautoml_models.models.work import STATUS_FLAGS

    for name, flag in STATUS_FLAGS.items():
        setattr(work, flag, name == status)


def test_legacy_status_flips_through_save_go_through_the_queue(
    machine: Machine, server: Server
) -> None:
    item = WorkFactory.create(machine=machine)
    work = Work.objects.get(pk=item.pk)
    work.server = server
    _flip(work, WorkStatus.PROCESSING)
    work.save()
    stored = Work.objects.get(pk=item.pk)
    assert stored.status == WorkStatus.PROCESSING
    assert stored.server_id == server.pk and stored.work_started_at_date_time is not None
    assert stored.work_started_by_server_name == server.server_name

    work.work_finished_count_of_line_to_process = 500
    _flip(work, WorkStatus.FINISHED)
    work.save()
    stored = Work.objects.get(pk=item.pk)
    assert stored.status == WorkStatus.FINISHED
    assert stored.work_finished_at_date_time is not None
    assert stored.work_finished_count_of_line_to_process == 500


def test_a_legacy_flip_the_queue_refuses_raises_and_writes_nothing(machine: Machine) -> None:
    item = WorkFactory.create(machine=machine)
    work = Work.objects.get(pk=item.pk)
    work.work_duration_estimation_seconds = Decimal("7")
    _flip(work, WorkStatus.FINISHED)  # waiting -> finished skips processing
    with pytest.raises(WorkStateError, match="from waiting to finished"):
        work.save()
    stored = Work.objects.get(pk=item.pk)
    assert stored.status == WorkStatus.WAITING
    assert stored.work_duration_estimation_seconds is None


def test_legacy_flips_to_error_and_back_to_waiting(machine: Machine, server: Server) -> None:
    item = WorkFactory.create(machine=machine)
    claimed = Work.objects.claim_next(server)
    assert claimed is not None and claimed.pk == item.pk
    claimed.text_error = {"message": "out of memory", "code": 137}
    _flip(claimed, WorkStatus.ERROR)
    claimed.save()
    stored = Work.objects.get(pk=item.pk)
    assert stored.status == WorkStatus.ERROR
    assert stored.text_error == {"message": "out of memory", "code": 137}
    _flip(stored, WorkStatus.WAITING)
    stored.save()
    again = Work.objects.get(pk=item.pk)
    assert again.status == WorkStatus.WAITING and again.work_attempt_count == 1
    _flip(again, WorkStatus.CANCELLED)
    again.save()
    assert Work.objects.get(pk=item.pk).status == WorkStatus.CANCELLED


def test_machine_takes_the_original_constructor_keywords(user: User) -> None:
    machine = Machine(  # type: ignore[misc]  # file_path is a keyword, not a field
        machine_owner_user=user,
        machine_name="iris",
        dfr_columns_type_user_df={"a": "FLOAT", "b": "LABEL"},
        file_path="/data/iris.csv",
    )
    from easyautoml_models.enums import DatasetColumnDataType

    assert machine.file_path == "/data/iris.csv"
    assert machine.dfr_columns_type_user_df == {
        "a": DatasetColumnDataType.FLOAT,
        "b": DatasetColumnDataType.LABEL,
    }
    raw = Machine(
        machine_owner_user=user,
        machine_name="raw",
        dfr_columns_type_user_df={"a": "FLOAT"},
        load_by_column_type=False,
    )
    assert raw.dfr_columns_type_user_df == {"a": "FLOAT"}


def test_update_field_directly_by_sql_writes_one_field(machine: Machine) -> None:
    machine.machine_columns_errors = {"col": 'it\'s "bad"\\n'}
    machine.machine_is_re_run_mdc = True
    machine.machine_description = "not saved"
    machine.update_field_directly_by_sql("machine_columns_errors")
    machine.update_field_directly_by_sql("machine_is_re_run_mdc")
    stored = Machine.objects.get(pk=machine.pk)
    assert stored.machine_columns_errors == {"col": 'it\'s "bad"\\n'}
    assert stored.machine_is_re_run_mdc is True
    assert stored.machine_description != "not saved"
    with pytest.raises(ValueError, match="no field 'nope'"):
        machine.update_field_directly_by_sql("nope")


def test_column_list_helpers(user: User) -> None:
    machine = MachineFactory.create(
        machine_owner_user=user,
        mdc_columns_name_input_user_df={"a": True, "b": True, "skip": False},
        mdc_columns_name_output_user_df={"y": True},
    )
    assert machine.get_machine_data_input_lines_list_columns() == ["a", "b"]
    assert machine.get_machine_data_output_lines_list_columns(include_predefined=True) == [
        "Line_ID",
        "y",
    ]
    assert machine.get_user_df_list_all_column == ["a", "b", "y"]
    machine.mdc_columns_values_mean = {"a": [1, 2, 3]}
    assert (
        machine.get_machine_info_by_field_name_and_column_name(
            "=>LEN;mdc_columns_values_mean", "a"
        )
        == 3
    )
