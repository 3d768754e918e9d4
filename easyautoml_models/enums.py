"""Enumerations shared by the models and the ML code."""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["DatasetColumnDataType", "column_type_enum", "to_column_types"]


class DatasetColumnDataType(enum.Enum):
    """Type of a dataset column, as the ML pipeline detects it.

    Members, values and order are those of EasyAutoML-Core's ``SharedConstants.py``
    (``enum.auto()`` from 1); ``str()`` is the member's name. Stored in JSON by name
    (``"FLOAT"``) by :class:`~easyautoml_models.encoders.JsonEncoderExtended`.
    """

    IGNORE = 1
    FLOAT = 2
    LABEL = 3
    DATE = 4
    TIME = 5
    DATETIME = 6
    LANGUAGE = 7
    JSON = 8

    def __str__(self) -> str:
        return self.name

    @property
    def is_numeric(self) -> bool:
        """FLOAT, DATE, TIME and DATETIME (the types the network encodes as numbers)."""
        return self.name in ("FLOAT", "DATE", "TIME", "DATETIME")

    @property
    def is_datetime(self) -> bool:
        """DATE, TIME and DATETIME."""
        return self.name in ("DATE", "TIME", "DATETIME")

    @property
    def is_text(self) -> bool:
        """LABEL and LANGUAGE."""
        return self.name in ("LABEL", "LANGUAGE")


def column_type_enum() -> type[enum.Enum]:
    """The class the models load column types into: ``EASYAUTOML_COLUMN_TYPE_ENUM`` or ours.

    The EasyAutoML platform keeps its own ``SharedConstants.DatasetColumnDataType`` and compares
    loaded values with it; naming it in the setting makes ``==`` and ``isinstance`` hold.
    """
    from django.utils.module_loading import import_string

    from easyautoml_models.conf import app_settings

    path = app_settings.COLUMN_TYPE_ENUM
    if not path:
        return DatasetColumnDataType
    cls = import_string(path) if isinstance(path, str) else path
    if not (isinstance(cls, type) and issubclass(cls, enum.Enum)):
        raise TypeError(f"EASYAUTOML_COLUMN_TYPE_ENUM must name an Enum class, not {path!r}")
    return cls


def to_column_types(mapping: Any) -> Any:
    """Turn ``{"col": "FLOAT"}`` into ``{"col": DatasetColumnDataType.FLOAT}``.

    Members of another enum class with the same name are converted too (so values set with the
    platform's own enum load as the configured one). Values that are not the name of a member are
    kept as they are; anything that is not a dict is returned unchanged.
    """
    if not isinstance(mapping, dict):
        return mapping
    members = column_type_enum().__members__

    def convert(value: Any) -> Any:
        name = value.name if isinstance(value, enum.Enum) else value
        return members[name] if isinstance(name, str) and name in members else value

    return {key: convert(value) for key, value in mapping.items()}
