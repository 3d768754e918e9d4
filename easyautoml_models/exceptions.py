"""Exceptions raised by ``easyautoml_models``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

__all__ = [
    "InsufficientFunds",
    "InvalidValue",
    "LedgerEntryImmutable",
    "RawSQLRefused",
    "WorkStateError",
]


class InsufficientFunds(Exception):
    """A debit would take a balance below zero; nothing was changed.

    Attributes:
        user: the user (or its primary key) whose balance was too low.
        balance: the balance read when the debit was refused.
        amount: the amount that was asked for.
        balance_field: ``"user_balance"`` or ``"user_ixioo_balance"``.
    """

    def __init__(self, user: Any, balance: Decimal | None, amount: Decimal, balance_field: str):
        self.user = user
        self.balance = balance
        self.amount = amount
        self.balance_field = balance_field
        super().__init__(
            f"insufficient funds: user {user} has {balance_field}={balance}, cannot debit {amount}"
        )


class LedgerEntryImmutable(Exception):
    """A ledger entry (or an Operation) was asked to change or disappear.

    Ledger rows are append-only: correct a mistake with a new, opposite entry.
    """


class WorkStateError(Exception):
    """A work-queue transition was asked for from a status that does not allow it."""


class InvalidValue(ValidationError, ValueError):
    """A value a model refuses (a reserved machine name, Work flags that do not add up).

    A :class:`django.core.exceptions.ValidationError` for forms and ``full_clean()``, and a
    ``ValueError`` for code written against EasyAutoML-Core, which raised ``ValueError`` here.
    """


class RawSQLRefused(ValueError):
    """A raw SQL fragment was passed where a dict, a ``Q`` or a list of ids is expected."""
