"""CIV ``database.query``: ``Model.objects`` and the fluent ``QueryBuilder``.

``QueryBuilder`` *is* a Django ``QuerySet`` (so Django, the admin and other apps can use it as
one) with the CIV additions:

* ``limit(n)`` / ``offset(n)``: remembered and applied at the end, so they chain in any order
  with ``filter``/``order_by`` (Django refuses to filter a sliced queryset);
* awaitable terminals: ``await qs.all()`` (any ``QueryBuilder`` can be awaited for its list),
  ``first() last() count() exists() get() aggregate("age", "AVG")``;
* ``cache(ttl)``: an opt-in cached terminal on Django's cache framework.

The terminals that Django also has (``first``, ``count``, ...) answer both ways: called from
async code (a thread running an event loop) they return a coroutine, as the CIV API promises;
called from sync code (a view, the admin, Django's own ``sync_to_async`` worker threads) they
behave exactly as Django's. Each async terminal is a thin ``sync_to_async`` wrapper over the sync
method (``connection.run``), the same thing Django's ``a*`` methods do, so inside
``db.transaction()`` they land on the block's pinned thread.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models
from django.db.models import Avg, Count, Max, Min, Sum
from django.db.models.query import RawQuerySet

from civ_orm_compat._async import in_event_loop, run
from civ_orm_compat._table import TableQueryBuilder
from civ_orm_compat.caching import cached_call
from civ_orm_compat.conf import civ_settings

if TYPE_CHECKING:
    from django.db.models.aggregates import Aggregate

__all__ = [
    "AGGREGATES",
    "LOOKUPS",
    "CivManager",
    "CivRawQuerySet",
    "QueryBuilder",
    "TableQueryBuilder",
]

_M = TypeVar("_M", bound=models.Model)

#: The aggregate names ``aggregate(field, function)`` accepts.
AGGREGATES: dict[str, type[Aggregate]] = {
    "COUNT": Count,
    "SUM": Sum,
    "AVG": Avg,
    "MIN": Min,
    "MAX": Max,
}

#: The lookups of the CIV contract (all Django lookups work too).
LOOKUPS = (
    "exact",
    "iexact",
    "contains",
    "icontains",
    "in",
    "gt",
    "gte",
    "lt",
    "lte",
    "startswith",
    "endswith",
)


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}() takes a non-negative integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{name}() takes a non-negative integer, got {value}")
    return value


class QueryBuilder(models.QuerySet[_M]):
    """The CIV fluent query interface on a Django ``QuerySet``.

    ``QueryBuilder("users")`` (a table name, the original's form) gives the table-level
    :class:`TableQueryBuilder` instead.
    """

    def __new__(cls, model: Any = None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(model, str):
            return TableQueryBuilder(model, *args, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        model: type[_M] | None = None,
        query: Any = None,
        using: str | None = None,
        hints: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(model, query, using, hints)
        self._civ_limit: int | None = None
        self._civ_offset = 0
        self._civ_cache_ttl: float | None = None

    def _clone(self) -> QueryBuilder[_M]:
        clone: QueryBuilder[_M] = super()._clone()  # type: ignore[misc]
        clone._civ_limit = self._civ_limit
        clone._civ_offset = self._civ_offset
        clone._civ_cache_ttl = self._civ_cache_ttl
        return clone

    def _copy(self) -> QueryBuilder[_M]:
        clone: QueryBuilder[_M] = self._chain()  # type: ignore[attr-defined]
        return clone

    # -- building --------------------------------------------------------------------
    def limit(self, n: int) -> QueryBuilder[_M]:
        """Return at most ``n`` rows; applied after every filter and ordering."""
        clone = self._copy()
        clone._civ_limit = _check_count("limit", n)
        return clone

    def offset(self, n: int) -> QueryBuilder[_M]:
        """Skip the first ``n`` rows; applied after every filter and ordering."""
        clone = self._copy()
        clone._civ_offset = _check_count("offset", n)
        return clone

    def cache(self, ttl: float) -> QueryBuilder[_M]:
        """Serve this query's awaited terminals from Django's cache for ``ttl`` seconds.

        Entries are invalidated when a model the query reads (joined and prefetched ones
        included) is written by any statement Django runs: save, delete, queryset and bulk
        writes, many-to-many changes, raw SQL on Django's cursors. Inside ``db.transaction()``
        the cache is bypassed (uncommitted data must not be shared).
        """
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
            raise ValueError(f"cache() takes a positive number of seconds, got {ttl!r}")
        clone = self._copy()
        clone._civ_cache_ttl = float(ttl)
        return clone

    @property
    def has_window(self) -> bool:
        """Whether ``limit()``/``offset()`` is pending."""
        return self._civ_limit is not None or bool(self._civ_offset)

    def windowed(self) -> QueryBuilder[_M]:
        """A Django-sliced copy with the pending ``limit``/``offset`` applied."""
        if not self.has_window:
            return self
        clone = self._copy()
        stop = None if self._civ_limit is None else self._civ_offset + self._civ_limit
        clone._civ_limit, clone._civ_offset = None, 0
        return clone[self._civ_offset : stop]

    def _fetch_all(self) -> None:
        if self._result_cache is None and self.has_window:
            self._result_cache = list(self.windowed())
            self._prefetch_done = True
        super()._fetch_all()

    def _refuse_window(self, operation: str) -> None:
        if self.has_window:
            raise TypeError(f"{operation}() cannot be combined with limit()/offset()")

    # -- awaiting ----------------------------------------------------------------------
    def __await__(self) -> Generator[Any, None, list[_M]]:
        return self.alist().__await__()

    async def alist(self) -> list[_M]:
        """The rows as a list (what ``await qs`` and ``await qs.all()`` return)."""
        if self._result_cache is not None:
            # Filled by prefetch_related or an earlier evaluation: no query.
            return list(self._result_cache)
        return await run(self._terminal, "list", self._list)

    def _list(self) -> list[_M]:
        self._fetch_all()
        assert self._result_cache is not None
        return list(self._result_cache)

    def _terminal(self, terminal: str, compute: Any, /, *args: Any, **kwargs: Any) -> Any:
        # Runs in the worker thread: the cache lookup compiles SQL, which may touch the database.
        if self._civ_cache_ttl is None:
            return compute(*args, **kwargs)
        return cached_call(self, terminal, self._civ_cache_ttl, compute, *args, **kwargs)

    # -- dual-mode terminals -------------------------------------------------------------
    def first(self) -> Any:
        """The first row (by the ordering, else by primary key), or None."""
        if in_event_loop():
            return self.afirst()
        base = self if self.ordered else self.order_by("pk")
        for obj in base.windowed()[:1]:
            return obj
        return None

    def last(self) -> Any:
        """The last row (by the ordering, else by primary key), or None."""
        if in_event_loop():
            return self.alast()
        base = self if self.ordered else self.order_by("pk")
        if not self.has_window:
            return models.QuerySet.last(base)
        if self._civ_limit is not None:
            rows = list(base.windowed())
            return rows[-1] if rows else None
        if not models.QuerySet.exists(base.windowed()):
            return None
        return models.QuerySet.last(base.offset(0))

    def count(self) -> Any:
        """The number of rows (of the window when ``limit``/``offset`` is set)."""
        if in_event_loop():
            return self.acount()
        return models.QuerySet.count(self.windowed())

    def exists(self) -> Any:
        """Whether there is at least one row."""
        if in_event_loop():
            return self.aexists()
        return models.QuerySet.exists(self.windowed())

    def get(self, *args: Any, **kwargs: Any) -> Any:
        """The single row matching the lookups.

        Raises:
            Model.DoesNotExist: no row matches (unless ``CIV_ORM_GET_RETURNS_NONE`` is set, in
                async code, where None is returned as by the original).
            Model.MultipleObjectsReturned: more than one row matches.
        """
        if in_event_loop():
            return self.aget(*args, **kwargs)
        if self.has_window:
            return models.QuerySet.get(self.filter(*args, **kwargs).windowed())
        return super().get(*args, **kwargs)

    def aggregate(self, *args: Any, **kwargs: Any) -> Any:
        """``aggregate("age", "AVG")`` returns one value; Django's expression form a dict.

        CIV form: ``field`` then a function among COUNT, SUM, AVG, MIN, MAX (any case).

        Raises:
            ValueError: an unknown aggregate function.
            django.core.exceptions.FieldError: an unknown field.
        """
        if in_event_loop():
            return self.aaggregate(*args, **kwargs)
        civ = self._civ_aggregate(args, kwargs)
        if civ is None:
            return models.QuerySet.aggregate(self.windowed(), *args, **kwargs)
        return models.QuerySet.aggregate(self.windowed(), value=civ)["value"]

    @staticmethod
    def _civ_aggregate(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Aggregate | None:
        if kwargs or not args or not isinstance(args[0], str):
            return None
        if len(args) > 2:
            raise TypeError("aggregate() takes a field name and a function name")
        function = args[1] if len(args) == 2 else "COUNT"
        if not isinstance(function, str) or function.upper() not in AGGREGATES:
            raise ValueError(
                f"unknown aggregate function {function!r}; use one of " + ", ".join(AGGREGATES)
            )
        return AGGREGATES[function.upper()](args[0])

    # -- async terminals (thin wrappers over the sync methods) -----------------------------
    async def afirst(self) -> _M | None:
        """Async ``first()``."""
        return await run(self._terminal, "first", self.first)

    async def alast(self) -> _M | None:
        """Async ``last()``."""
        return await run(self._terminal, "last", self.last)

    async def acount(self) -> int:
        """Async ``count()``."""
        return await run(self._terminal, "count", self.count)

    async def aexists(self) -> bool:
        """Async ``exists()``."""
        return await run(self._terminal, "exists", self.exists)

    async def aget(self, *args: Any, **kwargs: Any) -> _M:
        """Async ``get()``."""
        try:
            return await run(self._terminal, "get", self.get, *args, **kwargs)
        except self.model.DoesNotExist:  # type: ignore[attr-defined]
            if civ_settings.GET_RETURNS_NONE:
                return None  # type: ignore[return-value]
            raise

    async def aaggregate(self, *args: Any, **kwargs: Any) -> Any:
        """Async ``aggregate()`` (both forms)."""
        return await run(self._terminal, "aggregate", self.aggregate, *args, **kwargs)

    async def acontains(self, obj: models.Model) -> bool:
        """Async ``contains()``."""
        return await run(self.contains, obj)

    async def ain_bulk(self, id_list: Any = None, *, field_name: str = "pk") -> dict[Any, _M]:
        """Async ``in_bulk()``."""
        return await run(self.in_bulk, id_list, field_name=field_name)

    async def aexplain(self, *, format: str | None = None, **options: Any) -> str:
        """Async ``explain()``."""
        return await run(self.explain, format=format, **options)

    # -- creation: awaitable in async code (the model's save() is) --------------------------
    def create(self, **kwargs: Any) -> Any:
        """Django's ``create()``; in async code it returns an awaitable (``acreate``).

        Without this, Django's sync ``create()`` would call the CIV ``save()`` from async code,
        which returns a coroutine instead of saving.
        """
        if in_event_loop():
            return self.acreate(**kwargs)
        return super().create(**kwargs)

    def get_or_create(self, defaults: Any = None, **kwargs: Any) -> Any:
        """Django's ``get_or_create()``; awaitable in async code."""
        if in_event_loop():
            return self.aget_or_create(defaults=defaults, **kwargs)
        return super().get_or_create(defaults=defaults, **kwargs)

    def update_or_create(
        self, defaults: Any = None, create_defaults: Any = None, **kwargs: Any
    ) -> Any:
        """Django's ``update_or_create()``; awaitable in async code."""
        if in_event_loop():
            return self.aupdate_or_create(
                defaults=defaults, create_defaults=create_defaults, **kwargs
            )
        return super().update_or_create(
            defaults=defaults, create_defaults=create_defaults, **kwargs
        )

    async def acreate(self, **kwargs: Any) -> _M:
        """Async ``create()``."""
        return await run(self.create, **kwargs)

    async def aget_or_create(self, defaults: Any = None, **kwargs: Any) -> tuple[_M, bool]:
        """Async ``get_or_create()``."""
        return await run(self.get_or_create, defaults=defaults, **kwargs)

    async def aupdate_or_create(
        self, defaults: Any = None, create_defaults: Any = None, **kwargs: Any
    ) -> tuple[_M, bool]:
        """Async ``update_or_create()``."""
        return await run(
            self.update_or_create, defaults=defaults, create_defaults=create_defaults, **kwargs
        )

    # -- writes: refuse a pending window (the execute wrapper invalidates the query cache) ---
    def update(self, **kwargs: Any) -> int:
        """Django's ``update()``; refuses a pending ``limit``/``offset``."""
        self._refuse_window("update")
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        """Django's ``delete()``; refuses a pending ``limit``/``offset``."""
        self._refuse_window("delete")
        return super().delete()


class CivRawQuerySet(RawQuerySet):
    """Django's ``RawQuerySet`` that can be awaited for its list of model instances."""

    def __await__(self) -> Generator[Any, None, list[Any]]:
        return run(lambda: list(self)).__await__()


class CivManager(models.Manager.from_queryset(QueryBuilder)):  # type: ignore[misc]
    """``Model.objects``: every ``QueryBuilder`` method, plus awaitable raw SQL."""

    def raw(
        self,
        raw_query: str,
        params: Any = (),
        translations: dict[str, str] | None = None,
        using: str | None = None,
    ) -> CivRawQuerySet:
        """Raw SQL with parameters (``%s`` placeholders), mapped to model instances.

        ``await User.objects.raw("SELECT * FROM users WHERE age >= %s", [18])``.
        """
        return CivRawQuerySet(
            raw_query,
            model=self.model,
            params=params,
            translations=translations,
            using=using or self._db,
        )
