"""EasyAutoML-Core's ``models/JsonEncoderExtended.py``: a re-export of ``.encoders``."""

from __future__ import annotations

from easyautoml_models.encoders import JsonEncoderExtended

__all__ = ["JsonEncoderExtended"]
