"""EasyAutoML-Core's ``models/machine_billing.py``: a re-export of ``.models.billing``."""

from __future__ import annotations

from easyautoml_models.models.billing import Billing

__all__ = ["Billing"]
