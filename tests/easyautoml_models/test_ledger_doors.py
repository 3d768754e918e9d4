"""Money changes only through the ledger, whatever the door: saves, querysets, keys, SQL."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import override_settings

from easyautoml_models.exceptions import (
    IdempotencyKeyReused,
    InvalidAmount,
    LedgerEntryImmutable,
    LedgerFieldProtected,
)
from easyautoml_models.factories import MachineFactory, UserFactory
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

pytestmark = pytest.mark.django_db

PRICE = {"training_price": Decimal("0.01")}


def _balances(user: User) -> tuple[Decimal, Decimal]:
    fresh = User.objects.get(pk=user.pk)
    return fresh.user_balance, fresh.user_ixioo_balance


def _raw(sql: str, params: list[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


# 3. A "new" instance with an existing pk ------------------------------------------------------


def test_saving_a_new_instance_with_an_existing_pk_keeps_the_balances(rich_user: User) -> None:
    User(pk=rich_user.pk, email=rich_user.email, first_name="Mallory").save()
    fresh = User.objects.get(pk=rich_user.pk)
    assert fresh.first_name == "Mallory"
    assert _balances(rich_user) == (Decimal("100"), Decimal("50"))
    assert verify_balances() == []


def test_a_new_instance_with_a_free_pk_is_inserted(db: None) -> None:
    User(pk=424242, email="new@example.com").save()
    assert User.objects.get(pk=424242).user_balance == Decimal("0")


# Every queryset door -------------------------------------------------------------------------


def test_queryset_writes_of_balances_are_refused(rich_user: User) -> None:
    users = User.objects.filter(pk=rich_user.pk)
    for field in ("user_balance", "user_ixioo_balance", "last_billing_time"):
        with pytest.raises(LedgerFieldProtected, match="Credit.objects.increase"):
            users.update(**{field: None if field == "last_billing_time" else 1})
    rich_user.user_balance = Decimal("1000")
    with pytest.raises(LedgerFieldProtected):
        User.objects.bulk_update([rich_user], ["user_balance"])
    with pytest.raises(LedgerFieldProtected):
        User.objects.bulk_create([User(email="rich@example.com", user_balance=Decimal("5"))])
    with pytest.raises(LedgerFieldProtected):
        User.objects.update_or_create(pk=rich_user.pk, defaults={"user_balance": Decimal("5")})
    with pytest.raises(LedgerFieldProtected):
        User._base_manager.filter(pk=rich_user.pk).update(user_balance=Decimal("5"))
    assert _balances(rich_user) == (Decimal("100"), Decimal("50"))
    # Harmless writes still work.
    assert users.update(first_name="Bulk") == 1
    assert not User.objects.filter(email="rich@example.com").exists()


def test_harmless_update_or_create_works_for_users_and_work(rich_user: User) -> None:
    user, created = User.objects.update_or_create(
        pk=rich_user.pk, defaults={"first_name": "Updated"}
    )
    assert not created and user.first_name == "Updated"
    assert _balances(rich_user) == (Decimal("100"), Decimal("50"))
    machine = MachineFactory.create(machine_owner_user=rich_user)
    work = Work.objects.create(
        machine=machine, is_work_training=True, is_work_status_wait_for_server_start=True
    )
    again, created = Work.objects.update_or_create(
        pk=work.pk, defaults={"work_started_count_of_line_to_process": 12}
    )
    assert not created and again.work_started_count_of_line_to_process == 12


def test_ledger_base_manager_is_append_only_too(rich_user: User) -> None:
    entry = Credit.objects.get(user=rich_user)
    for model in (Credit, Debit, CreditIXIOO, DebitIXIOO):
        with pytest.raises(LedgerEntryImmutable):
            model._base_manager.all().update(amount=Decimal("1"))
        with pytest.raises(LedgerEntryImmutable):
            model._base_manager.all().delete()
    assert Credit.objects.get(pk=entry.pk).amount == Decimal("100")


# 5. Operations are immutable -----------------------------------------------------------------


def test_operations_cannot_be_changed_through_any_manager(user: User) -> None:
    operation = CreditIXIOO.objects.pay_bill(user, Decimal("2"), idempotency_key="invoice-7")
    operation.idempotency_key = None
    with pytest.raises(LedgerEntryImmutable):
        operation.save()
    for manager in (Operation.objects, Operation.machine_operations, Operation._base_manager):
        with pytest.raises(LedgerEntryImmutable):
            manager.filter(pk=operation.pk).update(idempotency_key=None)
        with pytest.raises(LedgerEntryImmutable):
            manager.bulk_update([operation], ["idempotency_key"])
        with pytest.raises(LedgerEntryImmutable):
            manager.all().delete()
    assert Operation.objects.get(pk=operation.pk).idempotency_key == "invoice-7"
    # So the key still guards the bill: paying it again charges nothing.
    CreditIXIOO.objects.pay_bill(user, Decimal("2"), idempotency_key="invoice-7")
    assert _balances(user)[1] == Decimal("2")


@pytest.mark.postgresql
@pytest.mark.parametrize("table", ["billing_operation", "billing_credit", "billing_debitixioo"])
def test_the_database_refuses_raw_changes_of_history(rich_user: User, table: str) -> None:
    """A trigger makes append-only true for every client, not just the ORM."""
    machine = MachineFactory.create(machine_owner_user=rich_user)
    with override_settings(EASYAUTOML_BILLING_IXIOO_OPERATIONS_PRICE=PRICE):
        Operation.machine_operations.training(machine, 100, idempotency_key="t")
    column = "idempotency_key" if table == "billing_operation" else "amount"
    value = None if table == "billing_operation" else Decimal("1")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _raw(f'UPDATE "{table}" SET "{column}" = %s', [value])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _raw(f'DELETE FROM "{table}"', [])
    # Django's SET_NULL on delete still works.
    rich_user.delete()
    machine.delete()
    assert Operation.objects.get().operation_user_id is None
    assert verify_balances() == []


# 4. Idempotency keys belong to one type, one user, one amount ---------------------------------


def test_a_key_of_another_user_is_refused_and_charges_nothing(db: None) -> None:
    alice, bob = UserFactory.create(), UserFactory.create()
    first = CreditIXIOO.objects.pay_bill(alice, Decimal("5"), idempotency_key="invoice-2026-11")
    with pytest.raises(IdempotencyKeyReused, match="invoice-2026-11"):
        CreditIXIOO.objects.pay_bill(bob, Decimal("5"), idempotency_key="invoice-2026-11")
    assert (
        CreditIXIOO.objects.pay_bill(alice, Decimal("5"), idempotency_key="invoice-2026-11")
        == first
    )
    with pytest.raises(IdempotencyKeyReused, match="amount"):
        CreditIXIOO.objects.pay_bill(alice, Decimal("6"), idempotency_key="invoice-2026-11")
    assert _balances(alice)[1] == Decimal("5") and _balances(bob)[1] == Decimal("0")
    assert Operation.objects.count() == 1


@override_settings(EASYAUTOML_BILLING_IXIOO_OPERATIONS_PRICE=PRICE)
def test_a_key_of_another_operation_type_is_refused(db: None) -> None:
    owner = UserFactory.create(ixioo_balance=Decimal("10"))
    machine = MachineFactory.create(machine_owner_user=owner)
    CreditIXIOO.objects.pay_bill(owner, Decimal("5"), idempotency_key="k-1")
    with pytest.raises(IdempotencyKeyReused, match="pay a bill"):
        Operation.machine_operations.training(machine, 100, idempotency_key="k-1")
    first = Operation.machine_operations.training(machine, 100, idempotency_key="k-2")
    assert Operation.machine_operations.training(machine, 100, idempotency_key="k-2") == first
    with pytest.raises(IdempotencyKeyReused, match="count_of_lines"):
        Operation.machine_operations.training(machine, 200, idempotency_key="k-2")
    assert _balances(owner)[1] == Decimal("12")  # 10 + 5 - 3
    assert verify_balances() == []


# 6. Exact money on every backend ------------------------------------------------------------


def test_three_debits_of_a_tenth_empty_a_balance_of_three_tenths(user: User) -> None:
    Credit.objects.increase(user, 0.3)
    for _ in range(3):
        Debit.objects.decrease(user, 0.1)
    assert _balances(user)[0] == Decimal("0")
    assert verify_balances() == []
    assert Credit.objects.for_user(user).total() - Debit.objects.for_user(user).total() == 0


def test_verify_balances_sees_the_smallest_difference(user: User) -> None:
    Credit.objects.increase(user, Decimal("0.3"))
    table, column = connection.ops.quote_name("user"), connection.ops.quote_name("user_balance")
    stored = "0.29999999" if connection.vendor == "sqlite" else Decimal("0.29999999")
    _raw(f"UPDATE {table} SET {column} = %s WHERE id = %s", [stored, user.pk])
    [mismatch] = verify_balances()
    assert mismatch.difference == Decimal("-0.00000001")


# 8. Bad amounts are ValueErrors naming the limit --------------------------------------------


@pytest.mark.parametrize(
    ("amount", "limit"),
    [
        ("1e20", "at most 12 digits before the decimal point"),
        ("123456789012345678901", "at most 12 digits before the decimal point"),
        ("1.000000001", "at most 8 decimal places"),
        ("1" * 13 + ".5", "at most 12 digits before the decimal point"),
        (Decimal("1e-30"), "at most 8 decimal places"),
    ],
)
def test_bad_amounts_raise_invalid_amount_naming_the_limit(
    rich_user: User, amount: Any, limit: str
) -> None:
    for call in (Credit.objects.increase, Debit.objects.decrease, DebitIXIOO.objects.decrease):
        with pytest.raises(InvalidAmount, match=limit):
            call(rich_user, amount)
    assert _balances(rich_user) == (Decimal("100"), Decimal("50"))


def test_a_credit_past_the_column_is_invalid_amount_and_changes_nothing(user: User) -> None:
    Credit.objects.increase(user, Decimal("999999999999"))
    with pytest.raises(InvalidAmount, match="999999999999.99999999"):
        Credit.objects.increase(user, Decimal("1"))
    with transaction.atomic():  # inside a transaction the caller's transaction survives
        with pytest.raises(InvalidAmount):
            Credit.objects.increase(user, Decimal("1"))
        Debit.objects.decrease(user, Decimal("1"))
    assert _balances(user)[0] == Decimal("999999999998")
    assert Credit.objects.count() == 1
    assert verify_balances() == []


def test_requeue_stale_refuses_nan(db: None) -> None:
    for bad in (math.nan, math.inf, -1):
        with pytest.raises(ValueError, match="positive number of seconds"):
            Work.objects.requeue_stale(timeout=bad)


def test_balances_with_twenty_digits_stay_exact(user: User) -> None:
    """20 significant digits: more than a float (or SQLite's REAL) holds."""
    Credit.objects.increase(user, Decimal("999999999999.99999998"))
    Credit.objects.increase(user, Decimal("0.00000001"))
    Debit.objects.decrease(user, Decimal("0.00000003"))
    assert _balances(user)[0] == Decimal("999999999999.99999996")
    assert verify_balances() == []
    assert Credit.objects.for_user(user).total() == Decimal("999999999999.99999999")


def test_a_keyed_credit_or_debit_moves_money_once(rich_user: User) -> None:
    first = Debit.objects.decrease(rich_user, Decimal("10"), idempotency_key="refund-1")
    again = Debit.objects.decrease(rich_user, Decimal("10"), idempotency_key="refund-1")
    assert again.pk == first.pk and again.replayed and not first.replayed
    other = UserFactory.create(balance=Decimal("10"))
    with pytest.raises(IdempotencyKeyReused, match="refund-1"):
        Debit.objects.decrease(other, Decimal("10"), idempotency_key="refund-1")
    with pytest.raises(IdempotencyKeyReused):
        Debit.objects.decrease(rich_user, Decimal("11"), idempotency_key="refund-1")
    assert _balances(rich_user)[0] == Decimal("90") and _balances(other)[0] == Decimal("10")
    assert verify_balances() == []
