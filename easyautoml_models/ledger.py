"""Ledger audits: does every user's ledger add up to their stored balances?"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import DecimalField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from easyautoml_models.conf import decimal_places, max_digits

__all__ = [
    "BalanceMismatch",
    "checks_count",
    "iter_balance_mismatches",
    "verify_balances",
]

#: (balance column, credit model name, debit model name)
LEDGERS = (
    ("user_balance", "Credit", "Debit"),
    ("user_ixioo_balance", "CreditIXIOO", "DebitIXIOO"),
)


@dataclass(frozen=True)
class BalanceMismatch:
    """One balance that its ledger does not explain."""

    user_id: Any
    email: str
    balance_field: str
    stored: Decimal
    ledger: Decimal

    @property
    def difference(self) -> Decimal:
        """``stored - ledger``."""
        return self.stored - self.ledger

    def __str__(self) -> str:
        return (
            f"user {self.user_id} <{self.email}>: {self.balance_field}={self.stored}, "
            f"ledger says {self.ledger} (difference {self.difference})"
        )


def _sum_for_user(model: Any) -> Any:
    money: DecimalField[Any, Any] = DecimalField(
        max_digits=max_digits(), decimal_places=decimal_places()
    )
    total = (
        model.objects.filter(user=OuterRef("pk"))
        .order_by()
        .values("user")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Coalesce(Subquery(total, output_field=money), Value(Decimal(0)), output_field=money)


def iter_balance_mismatches(
    using: str = DEFAULT_DB_ALIAS, progress: Callable[[int], object] | None = None
) -> Iterator[BalanceMismatch]:
    """Yield every (user, balance) where credits - debits differs from the stored balance.

    The comparison runs at the ledger's precision, one query per currency, streamed.

    Args:
        using: database alias.
        progress: called with 1 after each (user, currency) checked, e.g. ``tqdm.update``.
    """
    from django.apps import apps

    from easyautoml_models.models import User

    quantum = Decimal(1).scaleb(-decimal_places())
    exact_in_python = connections[using].vendor == "sqlite"  # SUM() of TEXT there is a float
    for field, credit_name, debit_name in LEDGERS:
        credit = apps.get_model("easyautoml_models", credit_name)
        debit = apps.get_model("easyautoml_models", debit_name)
        users = User.objects.using(using).order_by("pk")
        if exact_in_python:
            sums = {
                name: _python_sums(model, using) for name, model in [("c", credit), ("d", debit)]
            }
            rows: Any = (
                (pk, email, stored, sums["c"].get(pk), sums["d"].get(pk))
                for pk, email, stored in users.values_list("pk", "email", field).iterator(2000)
            )
        else:
            rows = (
                users.annotate(credits=_sum_for_user(credit), debits=_sum_for_user(debit))
                .values_list("pk", "email", field, "credits", "debits")
                .iterator(chunk_size=2000)
            )
        for pk, email, stored, credits, debits in rows:
            if progress is not None:
                progress(1)
            stored_value = Decimal(str(stored or 0)).quantize(quantum)
            ledger_value = (Decimal(str(credits or 0)) - Decimal(str(debits or 0))).quantize(
                quantum
            )
            if stored_value != ledger_value:
                yield BalanceMismatch(pk, email or "", field, stored_value, ledger_value)


def _python_sums(model: Any, using: str) -> dict[Any, Decimal]:
    """Per-user sums of a ledger's exact amounts, added up in Python."""
    sums: dict[Any, Decimal] = {}
    rows = model.objects.using(using).filter(user__isnull=False).values_list("user", "amount")
    for user_id, amount in rows.iterator(chunk_size=5000):
        sums[user_id] = sums.get(user_id, Decimal(0)) + amount
    return sums


def checks_count(using: str = DEFAULT_DB_ALIAS) -> int:
    """How many (user, currency) pairs :func:`iter_balance_mismatches` checks."""
    from easyautoml_models.models import User

    return User.objects.using(using).count() * len(LEDGERS)


def verify_balances(using: str = DEFAULT_DB_ALIAS) -> list[BalanceMismatch]:
    """Every balance its ledger does not explain (an empty list means all is consistent)."""
    return list(iter_balance_mismatches(using))
