"""EasyAutoML-Core's ``models/logger.py``: a re-export of ``.models.logger``."""

from __future__ import annotations

from easyautoml_models.models.logger import EasyAutoMLLogger

__all__ = ["EasyAutoMLLogger"]
