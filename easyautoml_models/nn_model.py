"""EasyAutoML-Core's ``models/nn_model.py``: a re-export of ``.models.nn``."""

from __future__ import annotations

from easyautoml_models.models.nn import NNModel

__all__ = ["NNModel"]
