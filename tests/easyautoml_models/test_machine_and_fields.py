"""Machine behaviour, Graph, the JSON encoder and SizedBinaryField."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from easyautoml_models.encoders import JsonEncoderExtended
from easyautoml_models.enums import DatasetColumnDataType
from easyautoml_models.factories import (
    BillingFactory,
    ConsultingRequestFactory,
    DataLinesOperationFactory,
    GraphFactory,
    MachineFactory,
    MachineTableLockWriteFactory,
    UserFactory,
)
from easyautoml_models.fields import SizedBinaryField
from easyautoml_models.models import (
    Billing,
    ConsultingRequest,
    EncDecConfiguration,
    Machine,
    NNModel,
    User,
)

pytestmark = pytest.mark.django_db


def test_column_types_round_trip_as_enums(user: User) -> None:
    machine = MachineFactory.create(
        machine_owner_user=user,
        dfr_columns_type_user_df={"age": DatasetColumnDataType.FLOAT, "city": "LABEL"},
    )
    assert machine.dfr_columns_type_user_df["age"] is DatasetColumnDataType.FLOAT  # unchanged
    loaded = Machine.objects.get(pk=machine.pk)
    assert loaded.dfr_columns_type_user_df == {
        "age": DatasetColumnDataType.FLOAT,
        "city": DatasetColumnDataType.LABEL,
    }
    raw = Machine.objects.filter(pk=machine.pk).values_list("dfr_columns_type_user_df", flat=True)
    assert raw.get() == {"age": "FLOAT", "city": "LABEL"}  # stored by name


def test_machine_save_validates_the_name(user: User) -> None:
    with pytest.raises(ValidationError, match="non-empty name"):
        MachineFactory.create(machine_owner_user=user, machine_name="  ")
    with pytest.raises(ValidationError, match="reserved"):
        MachineFactory.create(machine_owner_user=user, machine_name="__system__")
    admin = UserFactory.create(is_superuser=True)
    assert MachineFactory.create(machine_owner_user=admin, machine_name="__system__").pk
    assert Machine.objects.filter(machine_owner_user=user).count() == 0


def test_nn_model_extfield_saves_updates_and_deletes_the_blob(machine: Machine) -> None:
    assert machine.training_nn_model_extfield is None
    machine.training_nn_model_extfield = b"weights-v1"
    machine.save()
    loaded = Machine.objects.get(pk=machine.pk)
    assert loaded.training_nn_model_extfield == b"weights-v1"
    loaded.training_nn_model_extfield = b"weights-v2"
    loaded.save()
    assert Machine.objects.get(pk=machine.pk).training_nn_model_extfield == b"weights-v2"
    assert NNModel.objects.count() == 1
    del loaded.training_nn_model_extfield
    loaded.save()
    assert Machine.objects.get(pk=machine.pk).training_nn_model_extfield is None
    assert NNModel.objects.count() == 0
    with pytest.raises(TypeError, match="bytes"):
        loaded.training_nn_model_extfield = "not bytes"  # type: ignore[assignment]


def test_enc_dec_extfield(machine: Machine) -> None:
    machine.enc_dec_configuration_extfield = {"age": {"scaler": "minmax"}}
    machine.save()
    loaded = Machine.objects.get(pk=machine.pk)
    assert loaded.enc_dec_configuration_extfield == {"age": {"scaler": "minmax"}}
    assert EncDecConfiguration.objects.count() == 1


def test_graph_title_and_factories_for_the_small_models(machine: Machine) -> None:
    graph = GraphFactory.create(machine=machine, graph_type=8, x="city", y="age")
    assert graph.graph_title == "Grouped boxplots: city / age"
    assert DataLinesOperationFactory.create(machine=machine).machine_id == machine.pk
    assert MachineTableLockWriteFactory.create().locked_at is not None
    request = ConsultingRequestFactory.create(machine=machine, file=b"\x00\x01")
    assert bytes(ConsultingRequest.objects.get(pk=request.pk).file) == b"\x00\x01"
    assert request.get_category_display() == "Data Engineering"


def test_legacy_billing_methods(machine: Machine) -> None:
    row = BillingFactory.create(machine=machine, SolvingCostMachineUSD=Decimal("2"))
    assert row.get_operation_type() == "Training"
    assert row.count_lines() == 100
    assert row.operation_cost() == Decimal("3.5")
    assert Billing().count_lines() is None
    assert "OperationIsTraining" in Billing.billing_operation_types()


def test_json_encoder_handles_nan_infinity_and_enums() -> None:
    data = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": DatasetColumnDataType.DATE}
    assert json.loads(json.dumps(data, cls=JsonEncoderExtended)) == {
        "a": None,
        "b": [None, None, 1.5],
        "c": "DATE",
    }


def test_sized_binary_field_has_a_valid_type_on_every_backend() -> None:
    field = SizedBinaryField(size_class=3)
    assert field.db_type(connection) in {"bytea", "BLOB"}

    class FakeMySQL:
        vendor = "mysql"

    assert field.db_type(FakeMySQL()) == "mediumblob"


def test_sized_binary_field_checks_its_size_class() -> None:
    field = SizedBinaryField(size_class=7)
    field.set_attributes_from_name("blob")
    [error] = [e for e in field.check() if e.id == "easyautoml_models.E004"]
    assert "size_class must be 1, 2, 3 or 4" in error.msg
