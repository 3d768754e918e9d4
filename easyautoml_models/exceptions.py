"""Exceptions raised by ``easyautoml_models``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = ["InsufficientFunds", "LedgerEntryImmutable", "WorkStateError"]


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
