"""Enumerations shared by the models and the ML code."""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["DatasetColumnDataType", "to_column_types"]


class DatasetColumnDataType(enum.Enum):
    """Type of a dataset column, as the ML pipeline detects it.

    Stored in JSON by name (``"FLOAT"``) by
    :class:`~easyautoml_models.encoders.JsonEncoderExtended`.
    """

    LABEL = 1
    LANGUAGE = 2
    JSON = 3
    IGNORE = 4
    FLOAT = 5
    DATE = 6
    TIME = 7
    DATETIME = 8


def to_column_types(mapping: Any) -> Any:
    """Turn ``{"col": "FLOAT"}`` into ``{"col": DatasetColumnDataType.FLOAT}``.

    Values that are not the name of a member are kept as they are; anything that is not a dict is
    returned unchanged.
    """
    if not isinstance(mapping, dict):
        return mapping
    members = DatasetColumnDataType.__members__
    return {
        key: members[value] if isinstance(value, str) and value in members else value
        for key, value in mapping.items()
    }
