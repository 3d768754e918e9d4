"""Every model of the app; Django imports this package when the app loads, so all register."""

from __future__ import annotations

from easyautoml_models.models.billing import (
    OPERATION_TYPES,
    Billing,
    Credit,
    CreditIXIOO,
    Debit,
    DebitIXIOO,
    MachineOperationsManager,
    Operation,
)
from easyautoml_models.models.consulting import CATEGORIES, ConsultingRequest
from easyautoml_models.models.graph import GRAPH_TYPES, Graph
from easyautoml_models.models.infrastructure import (
    DataLinesOperation,
    MachineTableLockWrite,
    Server,
)
from easyautoml_models.models.logger import EasyAutoMLLogger
from easyautoml_models.models.machine import Machine
from easyautoml_models.models.nn import EncDecConfiguration, NNModel
from easyautoml_models.models.team import Team
from easyautoml_models.models.user import User, UserManager
from easyautoml_models.models.work import WORK_STATUSES, Work, WorkStatus

__all__ = [
    "CATEGORIES",
    "GRAPH_TYPES",
    "OPERATION_TYPES",
    "WORK_STATUSES",
    "Billing",
    "ConsultingRequest",
    "Credit",
    "CreditIXIOO",
    "DataLinesOperation",
    "Debit",
    "DebitIXIOO",
    "EasyAutoMLLogger",
    "EncDecConfiguration",
    "Graph",
    "Machine",
    "MachineOperationsManager",
    "MachineTableLockWrite",
    "NNModel",
    "Operation",
    "Server",
    "Team",
    "User",
    "UserManager",
    "Work",
    "WorkStatus",
]
