"""Running Django's synchronous ORM from async code: one ``sync_to_async`` per call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import FunctionType
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async

from civ_orm_compat import _nplusone

__all__ = ["in_event_loop", "run", "run_to_completion"]

P = ParamSpec("P")
R = TypeVar("R")


def in_event_loop() -> bool:
    """Whether the calling thread is running an asyncio event loop (that is, async code).

    Django's sync-only operations are forbidden exactly there; in worker threads (where
    ``sync_to_async`` runs code) there is no running loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


async def run(fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run the synchronous ``fn`` from async code, the way Django's ``a*`` methods do.

    It is ``sync_to_async(fn)`` (thread-sensitive): inside ``db.transaction()`` that lands on the
    block's pinned thread, elsewhere on asgiref's shared thread (or the request's thread under
    ASGI). When an N+1 detection scope is active, the caller's line is recorded first so the
    report can name it (the SQL itself runs in the worker thread, far from the caller's frame).
    """
    bridge = _BRIDGES.get(fn) or _bridge(fn)
    if _nplusone.nplusone_active():
        token = _nplusone.CALL_SITE.set(_nplusone.user_call_site())
        try:
            return await bridge(*args, **kwargs)
        finally:
            _nplusone.CALL_SITE.reset(token)
    return await bridge(*args, **kwargs)


#: ``sync_to_async`` wrappers of module-level functions, built once (a wrapper holds no state
#: of a call: the executor is chosen per call).
_BRIDGES: dict[Callable[..., Any], Callable[..., Awaitable[Any]]] = {}


def _bridge(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    bridge = sync_to_async(fn)
    if isinstance(fn, FunctionType) and fn.__closure__ is None and "<" not in fn.__qualname__:
        _BRIDGES[fn] = bridge  # bound methods and closures are new objects on every call
    return bridge


async def run_to_completion(awaitable: Awaitable[R], cancelled: list[bool]) -> R:
    """Await ``awaitable`` to its end even if the caller is cancelled meanwhile (again and again).

    Cleanup that runs SQL (a rollback, closing a connection) must finish, or the thread and its
    connection are left half-way. A cancellation that arrived meanwhile is recorded in
    ``cancelled`` (a one-item list) so the caller can raise ``CancelledError`` once its cleanup is
    complete. The awaitable runs as its own task, in a copy of the caller's context (so a
    thread-sensitive ``sync_to_async`` lands on the same thread).
    """
    task = asyncio.ensure_future(awaitable)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            cancelled[0] = True
            if task.done():
                return task.result()
