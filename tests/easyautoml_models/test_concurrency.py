"""Real concurrency on PostgreSQL: threads with their own connections, committed data."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connections

from easyautoml_models.exceptions import IdempotencyKeyReused, InsufficientFunds
from easyautoml_models.factories import MachineFactory, ServerFactory, UserFactory
from easyautoml_models.ledger import verify_balances
from easyautoml_models.models import (
    Credit,
    CreditIXIOO,
    Debit,
    DebitIXIOO,
    Operation,
    User,
    Work,
)

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def _run_threads(count: int, target: Callable[[int], Any]) -> list[Any]:
    """Start ``count`` threads together; each gets its own connection, closed at its end."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = target(index)
        except BaseException as exc:  # recorded, asserted on by the caller
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


@pytest.mark.parametrize(("balance", "amount"), [(Decimal("100"), Decimal("7")), (10, 1)])
def test_twenty_concurrent_debits_never_overspend(balance: Decimal, amount: Decimal) -> None:
    user = UserFactory.create(balance=balance)

    def debit(_: int) -> str:
        try:
            Debit.objects.decrease(User.objects.get(pk=user.pk), amount)
        except InsufficientFunds:
            return "refused"
        return "ok"

    results = _run_threads(20, debit)
    outcome = Counter(results)
    expected = int(Decimal(balance) // Decimal(amount))
    assert outcome == {"ok": expected, "refused": 20 - expected}, outcome
    stored = User.objects.get(pk=user.pk).user_balance
    assert stored == Decimal(balance) - expected * Decimal(amount)
    assert stored >= 0
    assert Debit.objects.filter(user=user).count() == expected
    assert verify_balances() == []


def test_concurrent_training_with_one_key_charges_once(settings: Any) -> None:
    settings.EASYAUTOML_BILLING_IXIOO_OPERATIONS_PRICE = {"training_price": Decimal("0.01")}
    owner = UserFactory.create(ixioo_balance=Decimal("100"))
    machine = MachineFactory.create(machine_owner_user=owner)

    def train(_: int) -> Any:
        return Operation.machine_operations.training(machine, 100, idempotency_key="job-1").pk

    results = _run_threads(8, train)
    assert all(not isinstance(result, BaseException) for result in results), results
    assert len(set(results)) == 1
    assert DebitIXIOO.objects.count() == 1
    assert User.objects.get(pk=owner.pk).user_ixioo_balance == Decimal("97")
    assert verify_balances() == []


def test_eight_workers_claim_a_hundred_items_exactly_once() -> None:
    machine = MachineFactory.create()
    for _ in range(100):
        Work.objects.create(
            machine=machine, is_work_training=True, is_work_status_wait_for_server_start=True
        )
    servers = [ServerFactory.create() for _ in range(8)]

    def worker(index: int) -> list[int]:
        claimed = []
        while (item := Work.objects.claim_next(servers[index])) is not None:
            claimed.append(item.pk)
            item.finish()
        return claimed

    results = _run_threads(8, worker)
    assert all(isinstance(result, list) for result in results), results
    every_claim = [pk for claimed in results for pk in claimed]
    assert len(every_claim) == 100
    assert Counter(every_claim).most_common(1)[0][1] == 1  # nobody claimed an item twice
    assert set(every_claim) == set(Work.objects.values_list("pk", flat=True))
    assert Work.objects.finished().count() == 100
    # Each item was finished by the server that claimed it.
    by_server = {s.pk: set(results[i]) for i, s in enumerate(servers)}
    for work in Work.objects.all():
        assert work.server_id is not None and work.pk in by_server[work.server_id]


def test_ten_concurrent_credits_with_one_key_credit_once() -> None:
    user = UserFactory.create()

    def credit(_: int) -> Any:
        return Credit.objects.increase(user, Decimal("5"), idempotency_key="grant-1").pk

    results = _run_threads(10, credit)
    assert all(not isinstance(result, BaseException) for result in results), results
    assert len(set(results)) == 1
    assert User.objects.get(pk=user.pk).user_balance == Decimal("5")
    assert Credit.objects.filter(user=user).count() == 1
    assert verify_balances() == []


def test_concurrent_pay_bill_with_one_key_for_two_users_charges_one() -> None:
    alice, bob = UserFactory.create(), UserFactory.create()

    def pay(index: int) -> Any:
        payer = User.objects.get(pk=(alice if index % 2 else bob).pk)
        try:
            return CreditIXIOO.objects.pay_bill(payer, 5, idempotency_key="invoice-9").pk
        except IdempotencyKeyReused:
            return "refused"

    results = _run_threads(10, pay)
    operations = [result for result in results if result != "refused"]
    assert len(set(operations)) == 1, results
    assert len(operations) == 5 and results.count("refused") == 5
    assert CreditIXIOO.objects.count() == 1
    assert verify_balances() == []
