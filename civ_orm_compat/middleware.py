"""``NPlusOneMiddleware``: an N+1 detection scope around every request.

Add ``"civ_orm_compat.middleware.NPlusOneMiddleware"`` to ``MIDDLEWARE``; each request (sync or
async view) then runs inside :func:`civ_orm_compat.optimization.detect_n_plus_one`, which warns
(``CIV_ORM_NPLUSONE = "warn"``, the default), raises (``"raise"``) or does nothing (``"off"``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from civ_orm_compat._nplusone import detect_n_plus_one

__all__ = ["NPlusOneMiddleware"]


class NPlusOneMiddleware:
    """Run every request inside an N+1 detection scope (sync and async capable).

    Args:
        get_response: the next handler in the middleware chain.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        with detect_n_plus_one():
            return self.get_response(request)

    async def __acall__(self, request: Any) -> Any:
        handler: Callable[[Any], Awaitable[Any]] = self.get_response
        async with detect_n_plus_one():
            return await handler(request)
