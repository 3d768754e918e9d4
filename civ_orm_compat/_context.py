"""Context variables shared by ``_transactions`` and ``_wrapper`` (which import neither)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

__all__ = ["TRANSACTION_GROUP", "active_transaction_thread"]

#: The ``connection._Group`` of the ``db.transaction()`` block the current context is inside.
TRANSACTION_GROUP: ContextVar[Any] = ContextVar("civ_orm_transaction_group", default=None)


def active_transaction_thread(alias: str) -> int | None:
    """The thread id pinned for ``alias`` in the current context, or None outside a block."""
    group = TRANSACTION_GROUP.get()
    if group is None or group.closed or not group.depth.get(alias):
        return None
    return int(group.thread_id)
