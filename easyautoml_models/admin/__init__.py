"""The Django admin of ``easyautoml_models``: billing, the work queue, and the platform's models.

Importing this package (Django's admin autodiscovery does it) registers every ``ModelAdmin``
below with the default admin site. The pages, actions and permissions are described in
``docs/admin.md``.

- Ledgers (:class:`~easyautoml_models.models.Credit`, ``Debit``, ``CreditIXIOO``, ``DebitIXIOO``),
  :class:`~easyautoml_models.models.Operation` and the legacy ``Billing`` are read-only for
  everybody; money moves only through the "credit balance" / "debit balance" pages of the user
  admin, which call the ledger managers.
- The work queue is read-only too; its actions (requeue, cancel) call the model's queue methods.
"""

from __future__ import annotations

from easyautoml_models.admin.accounts import TeamAdmin, UserAdmin
from easyautoml_models.admin.base import ReadOnlyModelAdmin
from easyautoml_models.admin.billing import (
    BillingAdmin,
    CreditAdmin,
    CreditIXIOOAdmin,
    DebitAdmin,
    DebitIXIOOAdmin,
    LedgerEntryAdmin,
    OperationAdmin,
)
from easyautoml_models.admin.platform import (
    ConsultingRequestAdmin,
    DataLinesOperationAdmin,
    EasyAutoMLLoggerAdmin,
    GraphAdmin,
    MachineAdmin,
    MachineTableLockWriteAdmin,
)
from easyautoml_models.admin.work import ServerAdmin, WorkAdmin

__all__ = [
    "BillingAdmin",
    "ConsultingRequestAdmin",
    "CreditAdmin",
    "CreditIXIOOAdmin",
    "DataLinesOperationAdmin",
    "DebitAdmin",
    "DebitIXIOOAdmin",
    "EasyAutoMLLoggerAdmin",
    "GraphAdmin",
    "LedgerEntryAdmin",
    "MachineAdmin",
    "MachineTableLockWriteAdmin",
    "OperationAdmin",
    "ReadOnlyModelAdmin",
    "ServerAdmin",
    "TeamAdmin",
    "UserAdmin",
    "WorkAdmin",
]
