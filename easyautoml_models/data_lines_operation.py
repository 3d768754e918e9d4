"""EasyAutoML-Core's ``models/data_lines_operation.py``: re-exports ``.models.infrastructure``."""

from __future__ import annotations

from easyautoml_models.models.infrastructure import DataLinesOperation

__all__ = ["DataLinesOperation"]
