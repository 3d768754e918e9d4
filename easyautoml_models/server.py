"""EasyAutoML-Core's ``models/server.py``: a re-export of ``.models.infrastructure``."""

from __future__ import annotations

from easyautoml_models.models.infrastructure import Server

__all__ = ["Server"]
