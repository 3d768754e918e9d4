"""The EasyAutoML platform's shared models.

``from easyautoml_models import User, Machine, Work`` works once Django is set up: the names are
resolved lazily through a module ``__getattr__``, so importing the package itself never touches
the app registry. Every model is registered when the app loads (``easyautoml_models.models`` is
the app's models module), whichever names are accessed.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("django-data-toolkit")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

if TYPE_CHECKING:
    from easyautoml_models.models import (
        CATEGORIES,
        GRAPH_TYPES,
        OPERATION_TYPES,
        WORK_STATUSES,
        Billing,
        ConsultingRequest,
        Credit,
        CreditIXIOO,
        DataLinesOperation,
        Debit,
        DebitIXIOO,
        EasyAutoMLLogger,
        EncDecConfiguration,
        Graph,
        Machine,
        MachineOperationsManager,
        MachineTableLockWrite,
        NNModel,
        Operation,
        Server,
        Team,
        User,
        UserManager,
        Work,
        WorkStatus,
    )

#: Public name -> module that defines it (imported on first access).
_LAZY = {
    "CATEGORIES": "easyautoml_models.models",
    "GRAPH_TYPES": "easyautoml_models.models",
    "OPERATION_TYPES": "easyautoml_models.models",
    "WORK_STATUSES": "easyautoml_models.models",
    "Billing": "easyautoml_models.models",
    "ConsultingRequest": "easyautoml_models.models",
    "Credit": "easyautoml_models.models",
    "CreditIXIOO": "easyautoml_models.models",
    "DataLinesOperation": "easyautoml_models.models",
    "Debit": "easyautoml_models.models",
    "DebitIXIOO": "easyautoml_models.models",
    "EasyAutoMLLogger": "easyautoml_models.models",
    "EncDecConfiguration": "easyautoml_models.models",
    "Graph": "easyautoml_models.models",
    "Machine": "easyautoml_models.models",
    "MachineOperationsManager": "easyautoml_models.models",
    "MachineTableLockWrite": "easyautoml_models.models",
    "NNModel": "easyautoml_models.models",
    "Operation": "easyautoml_models.models",
    "Server": "easyautoml_models.models",
    "Team": "easyautoml_models.models",
    "User": "easyautoml_models.models",
    "UserManager": "easyautoml_models.models",
    "Work": "easyautoml_models.models",
    "WorkStatus": "easyautoml_models.models",
    "DatasetColumnDataType": "easyautoml_models.enums",
    "InsufficientFunds": "easyautoml_models.exceptions",
    "LedgerEntryImmutable": "easyautoml_models.exceptions",
    "WorkStateError": "easyautoml_models.exceptions",
    "DatabaseLogHandler": "easyautoml_models.log",
    "verify_balances": "easyautoml_models.ledger",
    "EasyAutoMLDBModels": "easyautoml_models.EasyAutoMLDBModels",
    "DynamicModel": "easyautoml_models.data_lines",
    "JsonEncoderExtended": "easyautoml_models.encoders",
}

__all__ = [
    "__version__",
    "Billing",
    "CATEGORIES",
    "ConsultingRequest",
    "Credit",
    "CreditIXIOO",
    "DataLinesOperation",
    "DatabaseLogHandler",
    "DatasetColumnDataType",
    "Debit",
    "DynamicModel",
    "EasyAutoMLDBModels",
    "JsonEncoderExtended",
    "MachineBilling",
    "DebitIXIOO",
    "EasyAutoMLLogger",
    "EncDecConfiguration",
    "GRAPH_TYPES",
    "Graph",
    "InsufficientFunds",
    "LedgerEntryImmutable",
    "Machine",
    "MachineOperationsManager",
    "MachineTableLockWrite",
    "NNModel",
    "OPERATION_TYPES",
    "Operation",
    "Server",
    "Team",
    "User",
    "UserManager",
    "WORK_STATUSES",
    "Work",
    "WorkStateError",
    "WorkStatus",
    "verify_balances",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first access (models need ``django.setup()`` first)."""
    if name == "MachineBilling":
        return None  # EasyAutoML-Core's package resolved this name to None; use Billing
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'easyautoml_models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
