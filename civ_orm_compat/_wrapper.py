"""The one execute wrapper behind the transaction guard, query metrics, N+1 detection and
query-cache invalidation.

``CivOrmCompatConfig.ready()`` connects :func:`install` to ``connection_created``, so every Django
connection, in every thread, gets :func:`execute_wrapper`. It costs a few ContextVar reads per
query when nothing is active, and:

* **escaped queries**: inside ``db.transaction()`` a query for that alias that runs on another
  thread than the pinned one would silently run outside the transaction; it raises instead;
* **cache invalidation**: a writing statement bumps the cache generation of the models whose
  tables it names (:func:`civ_orm_compat.caching.on_write_sql`);
* **N+1 detection** inside :func:`civ_orm_compat._nplusone.detect_n_plus_one`;
* **metrics** into :data:`civ_orm_compat._metrics.query_tracker` when enabled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from civ_orm_compat._context import active_transaction_thread
from civ_orm_compat._databases import STATS
from civ_orm_compat._metrics import query_tracker
from civ_orm_compat._nplusone import _DETECTOR, CALL_SITE, user_call_site
from civ_orm_compat.caching import on_write_sql
from civ_orm_compat.exceptions import TransactionError

__all__ = ["execute_wrapper", "install"]

# ------------------------------------------------------------------------- the wrapper


def execute_wrapper(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """The execute wrapper installed on every connection (see the module docstring)."""
    connection = context["connection"]
    alias = connection.alias
    pinned = active_transaction_thread(alias)
    if pinned is not None and pinned != threading.get_ident():
        raise TransactionError(
            f"a query on {alias!r} ran outside the thread of the enclosing db.transaction() "
            "block, so it would not be part of the transaction; run it with the compat API or "
            "a thread-sensitive sync_to_async inside the block (or outside the block)"
        )
    detector = _DETECTOR.get()
    if detector is not None:
        detector.observe(sql, CALL_SITE.get() or user_call_site(2))
    if not query_tracker.enabled:
        result = execute(sql, params, many, context)
    else:
        started = time.perf_counter()
        try:
            result = execute(sql, params, many, context)
        finally:
            query_tracker.track_query(sql, time.perf_counter() - started, alias)
    # After the write, not before: a reader in between would cache the old rows under the
    # new generation.
    on_write_sql(connection, sql)
    return result


def install(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """``connection_created`` receiver: add the wrapper once per connection object."""
    STATS.connection_created(connection.alias)
    if execute_wrapper not in connection.execute_wrappers:
        connection.execute_wrappers.append(execute_wrapper)
