"""``DatasetColumnDataType`` is SharedConstants' enum, and the class models load into."""

from __future__ import annotations

import enum

import pytest
from django.core import checks
from django.test import override_settings

from easyautoml_models.checks import check_column_type_enum
from easyautoml_models.encoders import JsonEncoderExtended
from easyautoml_models.enums import DatasetColumnDataType
from easyautoml_models.models import Machine, User


class PlatformColumnType(enum.Enum):
    """Stands for the platform's own ``SharedConstants.DatasetColumnDataType``."""

    IGNORE = enum.auto()
    FLOAT = enum.auto()
    LABEL = enum.auto()
    DATE = enum.auto()
    TIME = enum.auto()
    DATETIME = enum.auto()
    LANGUAGE = enum.auto()
    JSON = enum.auto()


class WrongColumnType(enum.Enum):
    FLOAT = 1
    LABEL = 2


def test_members_values_and_order_are_shared_constants() -> None:
    assert [(m.name, m.value) for m in DatasetColumnDataType] == [
        (m.name, m.value) for m in PlatformColumnType
    ]
    assert [m.name for m in DatasetColumnDataType][:3] == ["IGNORE", "FLOAT", "LABEL"]
    assert str(DatasetColumnDataType.FLOAT) == "FLOAT"
    numeric = {m.name for m in DatasetColumnDataType if m.is_numeric}
    assert numeric == {"FLOAT", "DATE", "TIME", "DATETIME"}
    assert {m.name for m in DatasetColumnDataType if m.is_datetime} == {"DATE", "TIME", "DATETIME"}
    assert {m.name for m in DatasetColumnDataType if m.is_text} == {"LABEL", "LANGUAGE"}


def test_json_stores_names() -> None:
    assert JsonEncoderExtended().encode({"a": DatasetColumnDataType.JSON}) == '{"a": "JSON"}'


@pytest.mark.django_db
def test_machines_load_column_types_into_the_configured_class(user: User) -> None:
    machine = Machine.objects.create(
        machine_owner_user=user,
        machine_name="typed",
        dfr_columns_type_user_df={"a": DatasetColumnDataType.FLOAT, "b": "LABEL", "c": "?"},
    )
    loaded = Machine.objects.get(pk=machine.pk)
    assert loaded.dfr_columns_type_user_df["a"] is DatasetColumnDataType.FLOAT
    assert loaded.dfr_columns_type_user_df["c"] == "?"  # not a member name: kept as stored
    path = f"{__name__}.PlatformColumnType"
    with override_settings(EASYAUTOML_COLUMN_TYPE_ENUM=path):
        loaded = Machine.objects.get(pk=machine.pk)
        assert loaded.dfr_columns_type_user_df["a"] is PlatformColumnType.FLOAT
        assert isinstance(loaded.dfr_columns_type_user_df["b"], PlatformColumnType)
        assert check_column_type_enum() == []
        loaded.save()  # stored by name, whichever class
    assert Machine.objects.get(pk=machine.pk).dfr_columns_type_user_df["b"] is (
        DatasetColumnDataType.LABEL
    )


def test_the_setting_is_checked() -> None:
    with override_settings(EASYAUTOML_COLUMN_TYPE_ENUM="no.such.Enum"):
        [error] = check_column_type_enum()
        assert error.id == "easyautoml_models.E005"
    path = f"{__name__}.WrongColumnType"
    with override_settings(EASYAUTOML_COLUMN_TYPE_ENUM=path):
        assert check_column_type_enum() == [
            checks.Error(
                f"EASYAUTOML_COLUMN_TYPE_ENUM {path!r} has members ['FLOAT', 'LABEL'], expected "
                f"{list(DatasetColumnDataType.__members__)}.",
                hint="Stored column types are read by member name and iterated in member order: "
                "the class needs exactly these names, in this order.",
                obj=WrongColumnType,
                id="easyautoml_models.E006",
            )
        ]
