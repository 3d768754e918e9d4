"""Exceptions raised by ``easyautoml_models``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

__all__ = [
    "IdempotencyKeyReused",
    "InsufficientFunds",
    "InvalidAmount",
    "InvalidValue",
    "LedgerEntryImmutable",
    "LedgerFieldProtected",
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


class LedgerFieldProtected(LedgerEntryImmutable, ValueError):
    """A write would set a balance column that only the ledger managers change.

    A ``ValueError`` too, so code written against earlier versions (which raised
    ``ValueError``) keeps working.
    """


class InvalidAmount(ValueError):
    """An amount (or the balance it would produce) is outside what the ledger columns hold.

    The message names the limit: positive, finite, at most ``decimal_places`` places, at most
    ``max_digits`` digits, at most the column's largest value.
    """


class IdempotencyKeyReused(ValueError):
    """An idempotency key was used again for a different charge.

    A key belongs to one operation type, one user and one amount: a retry with the same
    parameters returns the first result, anything else raises this (as payment APIs do).
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
