"""EasyAutoML-Core's ``models/billing.py``: a re-export of ``.models.billing``."""

from __future__ import annotations

from easyautoml_models.models.billing import Credit, CreditIXIOO, Debit, DebitIXIOO, Operation

__all__ = ["Credit", "CreditIXIOO", "Debit", "DebitIXIOO", "Operation"]
