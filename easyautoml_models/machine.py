"""EasyAutoML-Core's ``models/machine.py`` path: re-exports; the code is in ``.models.machine``."""

from __future__ import annotations

from typing import Any

from easyautoml_models.data_lines import TYPE_MAPPING
from easyautoml_models.data_lines import (
    get_model_fields_by_names_types as _get_model_fields_by_names_types,
)
from easyautoml_models.enums import DatasetColumnDataType
from easyautoml_models.models.logger import EasyAutoMLLogger
from easyautoml_models.models.machine import LOSS_FUNCTIONS, OPTIMIZERS, Machine

__all__ = [
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
]

#: ``Machine.machine_level`` values.
POSSIBLE_MACHINES_LEVELS = [level for level, _ in Machine._meta.get_field("machine_level").choices]  # type: ignore[union-attr]
NNCONFIGURATION_LOSS_FUNCTION = LOSS_FUNCTIONS[0]
NNCONFIGURATION_ALL_POSSIBLE_OPTIMIZER_FUNCTION = tuple(OPTIMIZERS)
ENABLE_LOGGER_DEBUG_Machine = False  # noqa: N816 - SharedConstants' name


def get_logger() -> Any:
    """A new :class:`~easyautoml_models.models.EasyAutoMLLogger`."""
    return EasyAutoMLLogger()


logger = get_logger()
