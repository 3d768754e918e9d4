"""EasyAutoML-Core's ``models/work.py``: a re-export of ``.models.work``."""

from __future__ import annotations

from easyautoml_models.models.work import Work

__all__ = ["Work"]
