"""Test data for the admin tests, built through the models' own methods and managers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.test import override_settings
from django.utils import timezone

from easyautoml_models.factories import (
    BillingFactory,
    ConsultingRequestFactory,
    CreditFactory,
    CreditIXIOOFactory,
    DataLinesOperationFactory,
    DebitFactory,
    DebitIXIOOFactory,
    EasyAutoMLLoggerFactory,
    GraphFactory,
    MachineFactory,
    MachineTableLockWriteFactory,
    ServerFactory,
    TeamFactory,
    UserFactory,
    WorkFactory,
)
from easyautoml_models.models import CreditIXIOO, Operation, Server, Work

__all__ = ["ROW_MAKERS", "TRAINING_PRICE", "make_operations", "make_work"]

#: EAML tokens per column per line of training (the app's default is 0: free).
TRAINING_PRICE = {"training_price": Decimal("0.01")}


def make_work(status: str, *, server: Server | None = None, **fields: Any) -> Work:
    """A work item in ``status``, moved there by the queue's own methods.

    ``stale`` is a processing item whose heartbeat is an hour old (only the timestamps are
    back-dated; the status flags are set by ``claim_next``).
    """
    work = WorkFactory.create(**fields)
    if status == "waiting":
        return work
    if status == "cancelled":
        work.cancel()
        return work
    server = server or ServerFactory.create()
    claimed = Work.objects.filter(pk=work.pk).claim_next(server)
    assert claimed is not None and claimed.pk == work.pk
    if status == "processing":
        return claimed
    if status == "stale":
        old = timezone.now() - timedelta(hours=1)
        Work.objects.filter(pk=work.pk).update(
            work_started_at_date_time=old, work_heartbeat_date_time=old
        )
        return Work.objects.get(pk=work.pk)
    if status == "finished":
        claimed.finish(count_of_lines=100, warnings={"columns": ["city has 3% missing values"]})
        return claimed
    if status == "error":
        claimed.fail(RuntimeError("CUDA out of memory <while training>"))
        return claimed
    raise ValueError(f"unknown status {status!r}")


def make_operations(
    n: int, *, emails: list[str] | None = None, machine_names: list[str] | None = None
) -> list[Operation]:
    """``n`` operations of varied types, each with its own users, machine and ledger entry.

    Even ones are trainings charged at :data:`TRAINING_PRICE` (a DebitIXIOO), odd ones bill
    payments (a CreditIXIOO). ``emails``
    and ``machine_names`` (cycled) give the owners and machines readable names.
    """
    operations: list[Operation] = []
    for i in range(n):
        extra = {}
        if emails:
            email = emails[i % len(emails)]
            extra["email"] = email if i < len(emails) else f"{i}.{email}"
        owner = UserFactory.create(ixioo_balance=100, **extra)
        names = {"machine_name": machine_names[i % len(machine_names)]} if machine_names else {}
        machine = MachineFactory.create(machine_owner_user=owner, **names)
        if i % 2 == 0:
            with override_settings(EASYAUTOML_BILLING_IXIOO_OPERATIONS_PRICE=TRAINING_PRICE):
                operation = Operation.machine_operations.training(
                    machine, 10, count_of_training_epoch=3, idempotency_key=f"train-{machine.pk}"
                )
            assert operation.debit_ixioo_id is not None
        else:
            operation = CreditIXIOO.objects.pay_bill(machine.machine_owner_user, Decimal("2.5"))
        operations.append(operation)
    return operations


def _work_mix(n: int) -> list[Work]:
    statuses = ["waiting", "processing", "stale", "finished", "error", "cancelled"]
    return [make_work(statuses[i % len(statuses)]) for i in range(n)]


def _servers(n: int) -> list[Any]:
    servers = ServerFactory.create_batch(n)
    for server in servers:
        make_work("processing", server=server)
    return servers


def _teams(n: int) -> list[Any]:
    return [TeamFactory.create(members=[UserFactory.create()]) for _ in range(n)]


def _machines(n: int) -> list[Any]:
    return [MachineFactory.create(machine_owner_team=TeamFactory.create()) for _ in range(n)]


def _consulting(n: int) -> list[Any]:
    return [
        ConsultingRequestFactory.create(
            team=TeamFactory.create(),
            machine=MachineFactory.create(),
            consultant_user=UserFactory.create(),
        )
        for _ in range(n)
    ]


#: model_name -> function creating that many rows (with their own related rows).
ROW_MAKERS: dict[str, Any] = {
    "user": lambda n: UserFactory.create_batch(n, balance=5, ixioo_balance=1),
    "team": _teams,
    "machine": _machines,
    "graph": lambda n: GraphFactory.create_batch(n),
    "server": _servers,
    "work": _work_mix,
    "operation": make_operations,
    "credit": lambda n: CreditFactory.create_batch(n),
    "debit": lambda n: DebitFactory.create_batch(n),
    "creditixioo": lambda n: CreditIXIOOFactory.create_batch(n),
    "debitixioo": lambda n: DebitIXIOOFactory.create_batch(n),
    "billing": lambda n: BillingFactory.create_batch(n),
    "consultingrequest": _consulting,
    "easyautomllogger": lambda n: EasyAutoMLLoggerFactory.create_batch(n),
    "datalinesoperation": lambda n: DataLinesOperationFactory.create_batch(n),
    "machinetablelockwrite": lambda n: MachineTableLockWriteFactory.create_batch(n),
}
