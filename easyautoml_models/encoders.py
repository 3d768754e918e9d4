"""JSON encoding of the values the ML code stores in ``JSONField`` columns."""

from __future__ import annotations

import enum
import math
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

__all__ = ["JsonEncoderExtended"]


def _clean(value: Any) -> Any:
    """Replace NaN and infinities by ``None``, recursively (JSON has no such numbers)."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return value


class JsonEncoderExtended(DjangoJSONEncoder):
    """``DjangoJSONEncoder`` that also writes NaN/inf as ``null``, numpy values and enums.

    - ``float('nan')``, ``float('inf')`` become ``null`` instead of invalid JSON;
    - numpy scalars become Python numbers, numpy arrays become lists (numpy is optional);
    - an :class:`enum.Enum` member (e.g. ``DatasetColumnDataType.FLOAT``) is written as its name.
    """

    def encode(self, o: Any) -> str:
        return super().encode(_clean(o))

    def iterencode(self, o: Any, _one_shot: bool = False) -> Any:
        return super().iterencode(_clean(o), _one_shot)

    def default(self, o: Any) -> Any:
        if isinstance(o, enum.Enum):
            return o.name
        # numpy, without importing it: scalars have .item(), arrays have .tolist().
        module = type(o).__module__
        if module == "numpy" or module.startswith("numpy."):
            if hasattr(o, "tolist"):
                return _clean(o.tolist())
        return super().default(o)
