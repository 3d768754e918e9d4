"""Balances change only through the ledger, atomically, and never go below zero."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import override_settings

from easyautoml_models.exceptions import InsufficientFunds, LedgerEntryImmutable
from easyautoml_models.factories import MachineFactory, UserFactory
from easyautoml_models.ledger import verify_balances
from easyautoml_models.models import (
    Credit,
    CreditIXIOO,
    Debit,
    DebitIXIOO,
    Machine,
    Operation,
    User,
)
from tests.easyautoml_models.helpers import raw_update

pytestmark = pytest.mark.django_db


def _balances(user: User) -> tuple[Decimal, Decimal]:
    fresh = User.objects.get(pk=user.pk)
    return fresh.user_balance, fresh.user_ixioo_balance


def test_increase_and_decrease_move_the_balance_and_write_positive_rows(user: User) -> None:
    credit = Credit.objects.increase(user, Decimal("100.5"))
    debit = Debit.objects.decrease(user, "40.25")
    assert _balances(user) == (Decimal("60.25"), Decimal("0"))
    assert user.user_balance == Decimal("60.25")  # the passed instance is kept in step
    assert credit.amount == Decimal("100.5") and debit.amount == Decimal("40.25")
    assert Credit.objects.for_user(user).total() - Debit.objects.for_user(user).total() == Decimal(
        "60.25"
    )


def test_ixioo_ledgers_use_the_token_balance_and_the_same_sign(user: User) -> None:
    CreditIXIOO.objects.increase(user, 10)
    entry = DebitIXIOO.objects.decrease(user, 4)
    assert _balances(user) == (Decimal("0"), Decimal("6"))
    # Debit and DebitIXIOO both store positive amounts (the original mixed signs).
    assert entry.amount == Decimal("4") > 0


def test_saving_a_ledger_entry_sends_the_model_signals(user: User) -> None:
    from django.db.models.signals import post_save, pre_save

    seen: list[tuple[object, ...]] = []

    def pre(sender, instance, **kwargs):
        seen.append(("pre", sender, instance.amount))

    def post(sender, instance, created, **kwargs):
        seen.append(("post", sender, created, instance._state.adding))

    pre_save.connect(pre, sender=Credit)
    post_save.connect(post, sender=Credit)
    try:
        Credit.objects.increase(user, 5)
    finally:
        pre_save.disconnect(pre, sender=Credit)
        post_save.disconnect(post, sender=Credit)
    assert seen == [("pre", Credit, Decimal("5")), ("post", Credit, True, False)]


def test_seed_style_create_is_a_balance_change(user: User) -> None:
    Credit.objects.create(user=user, amount=100.00)
    assert _balances(user)[0] == Decimal("100")
    assert verify_balances() == []


def test_debit_beyond_the_balance_raises_and_changes_nothing(rich_user: User) -> None:
    with pytest.raises(InsufficientFunds) as excinfo:
        Debit.objects.decrease(rich_user, Decimal("100.00000001"))
    message = str(excinfo.value)
    assert rich_user.email in message
    assert "100.00000000" in message and "100.00000001" in message
    assert excinfo.value.balance == Decimal("100")
    assert _balances(rich_user) == (Decimal("100"), Decimal("50"))
    assert Debit.objects.count() == 0


def test_token_debit_beyond_the_token_balance_is_refused(rich_user: User) -> None:
    with pytest.raises(InsufficientFunds, match="user_ixioo_balance"):
        DebitIXIOO.objects.decrease(rich_user, 51)
    assert _balances(rich_user) == (Decimal("100"), Decimal("50"))


def test_debit_of_exactly_the_balance_leaves_zero(rich_user: User) -> None:
    Debit.objects.decrease(rich_user, 100)
    assert _balances(rich_user)[0] == Decimal("0")


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        (0, "positive"),
        (-5, "positive"),
        ("abc", "number"),
        (None, "number"),
        (True, "number"),
        (float("nan"), "finite"),
        (Decimal("0.000000001"), "decimal places"),
        (Decimal("1e15"), "too large"),
    ],
)
def test_bad_amounts_are_refused_with_a_clear_error(rich_user: User, amount, reason) -> None:
    with pytest.raises(ValueError, match=reason):
        Credit.objects.increase(rich_user, amount)
    with pytest.raises(ValueError, match=reason):
        Debit.objects.decrease(rich_user, amount)
    assert _balances(rich_user) == (Decimal("100"), Decimal("50"))
    assert Credit.objects.count() == 1 and Debit.objects.count() == 0


def test_entry_without_user_or_for_missing_user_is_refused(user: User) -> None:
    with pytest.raises(ValueError, match="needs a user"):
        Credit.objects.create(amount=5)
    ghost = User(pk=987654, email="ghost@example.com")
    with pytest.raises(ValueError, match="no user with primary key 987654"):
        Credit.objects.increase(ghost, 5)
    assert Credit.objects.count() == 0


def test_ledger_insert_failing_after_the_balance_update_changes_neither(rich_user: User) -> None:
    """Acceptance check 2, on every backend: the INSERT fails after the balance UPDATE ran.

    A second entry with the id of an existing one violates the primary key. On PostgreSQL the
    UPDATE and the INSERT are one statement, elsewhere one transaction; either way the balance
    stays as it was.
    """
    first = Debit.objects.decrease(rich_user, 30)
    with pytest.raises(IntegrityError):
        Debit.objects.create(id=first.id, user=rich_user, amount=Decimal("20"))
    assert _balances(rich_user) == (Decimal("70"), Decimal("50"))
    assert Debit.objects.count() == 1
    assert verify_balances() == []


@pytest.mark.skipif(
    connection.vendor == "postgresql", reason="one statement on PostgreSQL: nothing in between"
)
def test_failure_between_balance_and_ledger_changes_neither(
    rich_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Acceptance check 2 where the UPDATE and the INSERT are two statements."""
    calls = []

    def boom(self, *args, **kwargs):
        calls.append(self)
        raise RuntimeError("disk full")

    monkeypatch.setattr(Debit, "save_base", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        Debit.objects.decrease(rich_user, 30)
    assert calls, "the forced failure did not run"
    assert _balances(rich_user) == (Decimal("100"), Decimal("50"))
    assert Debit.objects.count() == 0


def test_database_refuses_a_negative_balance_even_through_update(rich_user: User) -> None:
    """Acceptance check 3, with raw SQL: the ORM refuses balance updates before that."""
    for field in ("user_balance", "user_ixioo_balance", "coupon_balance"):
        with pytest.raises(IntegrityError), transaction.atomic():
            raw_update(rich_user, field, Decimal(-1))
    assert _balances(rich_user) == (Decimal("100"), Decimal("50"))


def test_database_refuses_a_non_positive_ledger_amount(rich_user: User) -> None:
    table = connection.ops.quote_name(Credit._meta.db_table)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, user_id, date_time, amount) "
            "VALUES (%s, %s, CURRENT_TIMESTAMP, %s)",
            ["6f1e8a400000000000000000000000a1", rich_user.pk, -5],
        )
    assert Credit.objects.count() == 1


def test_entries_are_append_only(rich_user: User) -> None:
    """Acceptance check 4: re-save, update and delete are refused; the time is set once."""
    entry = Credit.objects.filter(user=rich_user).get()
    created = entry.date_time
    with pytest.raises(LedgerEntryImmutable):
        entry.save()
    entry.amount = Decimal("1")
    with pytest.raises(LedgerEntryImmutable):
        entry.save()
    with pytest.raises(LedgerEntryImmutable):
        entry.delete()
    with pytest.raises(LedgerEntryImmutable):
        Credit.objects.filter(pk=entry.pk).update(amount=Decimal("1"))
    with pytest.raises(LedgerEntryImmutable):
        Credit.objects.all().delete()
    with pytest.raises(LedgerEntryImmutable):
        Credit.objects.bulk_create([Credit(user=rich_user, amount=1)])
    stored = Credit.objects.get(pk=entry.pk)
    assert stored.amount == Decimal("100") and stored.date_time == created
    assert _balances(rich_user) == (Decimal("100"), Decimal("50"))


def test_saving_a_stale_profile_never_overwrites_a_balance(rich_user: User) -> None:
    stale = User.objects.get(pk=rich_user.pk)
    Debit.objects.decrease(rich_user, 30)
    stale.first_name = "Renamed"
    stale.save()
    fresh = User.objects.get(pk=rich_user.pk)
    assert fresh.first_name == "Renamed"
    assert fresh.user_balance == Decimal("70")


def test_saving_a_balance_field_explicitly_is_refused(rich_user: User) -> None:
    rich_user.user_balance = Decimal("1000000")
    with pytest.raises(ValueError, match="change only through the ledger"):
        rich_user.save(update_fields=["user_balance"])
    rich_user.save()  # silently keeps the stored balance
    assert _balances(rich_user) == (Decimal("100"), Decimal("50"))


def test_a_new_user_cannot_start_with_money(db: None) -> None:
    with pytest.raises(ValueError, match="zero balances"):
        User.objects.create_user(email="cheat@example.com", user_balance=Decimal("1000"))
    assert not User.objects.filter(email="cheat@example.com").exists()


def test_deleting_a_user_keeps_the_financial_history(rich_user: User) -> None:
    Debit.objects.decrease(rich_user, 10)
    operation = Operation.objects.create(operation_user=rich_user, is_solving_operation=True)
    rich_user.delete()
    assert Credit.objects.count() == 1 and Debit.objects.count() == 1
    assert CreditIXIOO.objects.count() == 1
    assert set(Credit.objects.values_list("user", flat=True)) == {None}
    assert set(Debit.objects.values_list("user", flat=True)) == {None}
    operation.refresh_from_db()
    assert operation.operation_user_id is None


def test_deleting_a_machine_keeps_its_operations(machine: Machine) -> None:
    operation = Operation.objects.create(machine=machine, is_training_operation=True)
    machine.delete()
    operation.refresh_from_db()
    assert operation.machine_id is None


def test_operations_are_never_deleted(user: User) -> None:
    operation = Operation.objects.create(operation_user=user, is_solving_operation=True)
    with pytest.raises(LedgerEntryImmutable):
        operation.delete()
    with pytest.raises(LedgerEntryImmutable):
        Operation.objects.all().delete()
    assert Operation.objects.filter(pk=operation.pk).exists()


def test_operation_needs_exactly_one_type(user: User) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Operation.objects.create(operation_user=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Operation.objects.create(is_training_operation=True, is_solving_operation=True)
    operation = Operation.objects.create(is_credit_from_user_operation=True)
    assert operation.get_type == "Credit from user"
    assert operation.type_flag == "is_credit_from_user_operation"
    with pytest.raises(LedgerEntryImmutable):
        Operation.objects.filter(pk=operation.pk).update(is_pay_a_bill_operation=True)


def test_resaving_an_operation_is_refused_and_keeps_its_time(user: User) -> None:
    operation = Operation.objects.create(operation_user=user, is_solving_operation=True)
    created = operation.date_time
    operation.count_of_lines = 5
    with pytest.raises(LedgerEntryImmutable, match="never changed"):
        operation.save()
    operation.refresh_from_db()
    assert operation.date_time == created and operation.count_of_lines is None


def test_pay_bill_credits_tokens_stamps_the_time_and_is_idempotent(user: User) -> None:
    operation = CreditIXIOO.objects.pay_bill(user, Decimal("25"), idempotency_key="invoice-1")
    again = CreditIXIOO.objects.pay_bill(user, Decimal("25"), idempotency_key="invoice-1")
    assert again.pk == operation.pk
    assert operation.is_pay_a_bill_operation and operation.credit_ixioo is not None
    fresh = User.objects.get(pk=user.pk)
    assert fresh.user_ixioo_balance == Decimal("25")
    assert fresh.last_billing_time is not None and fresh.last_billing_time.tzinfo is not None
    assert CreditIXIOO.objects.count() == 1


@override_settings(EASYAUTOML_BILLING_IXIOO_OPERATIONS_PRICE={"training_price": Decimal("0.01")})
def test_training_is_billed_once_per_key(db: None) -> None:
    """Acceptance check 5: 3 columns x 0.01 x 100 lines = 3 tokens, charged exactly once."""
    owner = UserFactory.create(ixioo_balance=Decimal("10"))
    machine = MachineFactory.create(machine_owner_user=owner)
    first = Operation.machine_operations.training(machine, 100, idempotency_key="train-42")
    second = Operation.machine_operations.training(machine, 100, idempotency_key="train-42")
    assert first.pk == second.pk
    assert first.is_training_operation and first.count_of_lines == 100
    assert first.debit_ixioo is not None and first.debit_ixioo.amount == Decimal("3")
    assert _balances(owner)[1] == Decimal("7")
    assert DebitIXIOO.objects.count() == 1 and Operation.objects.count() == 1
    # Without a key each call is a new charge.
    Operation.machine_operations.training(machine, 100)
    assert _balances(owner)[1] == Decimal("4")


@override_settings(EASYAUTOML_BILLING_IXIOO_OPERATIONS_PRICE={"training_price": Decimal("1")})
def test_training_without_funds_raises_and_records_nothing(machine: Machine) -> None:
    with pytest.raises(InsufficientFunds):
        Operation.machine_operations.training(machine, 10, idempotency_key="k")
    assert Operation.objects.count() == 0 and DebitIXIOO.objects.count() == 0
    with pytest.raises(ValueError, match="count_of_lines"):
        Operation.machine_operations.training(machine, -1)


def test_free_training_records_the_operation_without_a_debit(machine: Machine) -> None:
    operation = Operation.machine_operations.training(machine, 10)  # default price: 0
    assert operation.debit_ixioo is None and DebitIXIOO.objects.count() == 0


@override_settings(BILLING_IXIOO_OPERATIONS_PRICE={"training_price": Decimal("0.01")})
def test_the_original_unprefixed_price_setting_is_honoured(db: None) -> None:
    owner = UserFactory.create(ixioo_balance=Decimal("10"))
    machine = MachineFactory.create(machine_owner_user=owner)
    operation = Operation.machine_operations.training(machine, 10)
    assert operation.debit_ixioo is not None and operation.debit_ixioo.amount == Decimal("0.3")


def test_verify_balances_finds_a_tampered_balance(rich_user: User) -> None:
    assert verify_balances() == []
    raw_update(rich_user, "user_balance", Decimal("99.00000000"))
    [mismatch] = verify_balances()
    assert mismatch.user_id == rich_user.pk
    assert mismatch.balance_field == "user_balance"
    assert (mismatch.stored, mismatch.ledger) == (Decimal("99"), Decimal("100"))
    assert rich_user.email in str(mismatch)


def test_balance_change_without_returning_support(
    rich_user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Older SQLite has no RETURNING: the new balance is read back in the same transaction."""
    from easyautoml_models.models.billing import _change_balance

    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    change: dict[str, Any] = {"user_id": rich_user.pk, "field_name": "user_balance"}
    with transaction.atomic():
        assert _change_balance(using="default", amount=Decimal("40"), sign=-1, **change) == 60
    with pytest.raises(InsufficientFunds), transaction.atomic():
        _change_balance(using="default", amount=Decimal("61"), sign=-1, **change)
    assert _balances(rich_user)[0] == Decimal("60")
