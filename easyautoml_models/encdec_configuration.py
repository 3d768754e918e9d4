"""EasyAutoML-Core's ``models/encdec_configuration.py``: a re-export of ``.models.nn``."""

from __future__ import annotations

from easyautoml_models.models.nn import EncDecConfiguration

__all__ = ["EncDecConfiguration"]
