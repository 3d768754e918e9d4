"""EasyAutoML-Core's ``models/billing_managers.py``: a re-export of ``.models.billing``."""

from __future__ import annotations

from easyautoml_models.models.billing import (
    CreditIXIOOManager,
    CreditManager,
    DebitIXIOOManager,
    DebitManager,
    MachineOperationsManager,
)

__all__ = [
    "CreditIXIOOManager",
    "CreditManager",
    "DebitIXIOOManager",
    "DebitManager",
    "MachineOperationsManager",
]
