"""Query caching for ``QueryBuilder.cache(ttl)`` on Django's cache framework.

A cached result is stored under a key made of the database alias, the terminal (``list``,
``count``, ...), the compiled SQL with its parameters, and the *generation* of every model the
query reads: every model whose table the compiled SQL names (its own, the ones joined by
``select_related`` or filters, subqueries) and every model a ``prefetch_related`` lookup loads
(with the many-to-many tables it crosses). Writing a model bumps its generation, so every cached
query reading it is missed from then on and expires by its TTL.

Writes are seen where they all pass: the execute wrapper that ``CivOrmCompatConfig.ready()``
installs on every Django connection hands each INSERT/UPDATE/DELETE (and other writing
statement) to :func:`on_write_sql`, so ``save()``, ``QuerySet.update()``,
``_base_manager.update()``, bulk writes, many-to-many changes, ``db.execute`` and raw
``cursor.execute`` all invalidate, with or without signals. Writes that do not go through Django
(``psql``, another program) are not seen: call :func:`invalidate` after them. A
``prefetch_related`` lookup whose models cannot be resolved (a generic relation) is refused with
``TypeError`` rather than cached untracked.

Generations live in the cache itself, so several processes sharing a cache (Redis, Memcached)
invalidate each other's entries.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import time
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.cache import caches
from django.core.exceptions import FieldDoesNotExist
from django.db import connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Prefetch
from django.db.models.constants import LOOKUP_SEP

from civ_orm_compat.conf import civ_settings

if TYPE_CHECKING:
    from civ_orm_compat.query import QueryBuilder

__all__ = ["cached_call", "invalidate", "on_write_sql"]

_PREFIX = "civ_orm"


def _cache() -> Any:
    return caches[civ_settings.CACHE_ALIAS]


def _generation_key(model: type[models.Model]) -> str:
    return f"{_PREFIX}:gen:{model._meta.label_lower}"


def _bump(model: type[models.Model]) -> None:
    # A fresh, never-reused value: last writer wins and any change invalidates.
    _cache().set(_generation_key(model), time.time_ns(), None)


def invalidate(model: type[models.Model], using: str | None = None) -> None:
    """Invalidate the cached queries reading ``model`` (now, and again on commit).

    The second bump after commit covers a reader that cached the pre-commit rows between the
    write and the commit.
    """
    _bump(model)
    alias = using or "default"
    if alias in connections and connections[alias].in_atomic_block:
        transaction.on_commit(lambda: _bump(model), using=alias)


#: Statements that change rows (the first keyword).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "TRUNCATE", "MERGE", "WITH", "COPY")
_WORDS = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_guard = threading.local()
_tables: tuple[int, dict[str, list[type[models.Model]]]] = (-1, {})


def _table_models() -> dict[str, list[type[models.Model]]]:
    """db_table (lower case) -> the models stored in it (rebuilt when models are added)."""
    global _tables
    registered = apps.get_models(include_auto_created=True)
    if _tables[0] != len(registered):
        by_table: dict[str, list[type[models.Model]]] = {}
        for model in registered:
            by_table.setdefault(str(model._meta.db_table).lower(), []).append(model)
        _tables = (len(registered), by_table)
    return _tables[1]


def on_write_sql(connection: BaseDatabaseWrapper, sql: str) -> None:
    """Invalidate the models a writing statement may touch (called by the execute wrapper).

    Cheap for reads: only the first keyword is looked at. For a write, every model whose table
    the statement names is invalidated (the target, and tables of subqueries: harmless).
    """
    head = sql[:12].lstrip()[:8].upper()
    if not head.startswith(_WRITES) or getattr(_guard, "active", False):
        return
    by_table = _table_models()
    touched = {
        model for word in set(_WORDS.findall(sql.lower())) for model in by_table.get(word, ())
    }
    if not touched:
        return
    _guard.active = True  # a database cache backend writes through a connection too
    try:
        for model in touched:
            if not connection.in_atomic_block:
                _bump(model)
                continue
            # Inside a transaction: bump at the first write of the model, and once more at
            # commit (readers may cache pre-commit rows in between); later writes of the same
            # transaction add nothing, so a bulk load costs two cache writes per model.
            bumper = _bumper(model)
            if not any(entry[1] is bumper for entry in connection.run_on_commit):
                _bump(model)
                connection.on_commit(bumper)
    finally:
        _guard.active = False


@functools.cache
def _bumper(model: type[models.Model]) -> functools.partial[None]:
    return functools.partial(_bump, model)


def _models_read(sql: str, queryset: QueryBuilder[Any]) -> set[type[models.Model]]:
    """The models whose rows the cached result depends on."""
    by_table = _table_models()
    read = {queryset.model}
    lowered = sql.lower()
    for word in set(_WORDS.findall(lowered)):
        read.update(by_table.get(word, ()))
    for lookup in queryset._prefetch_related_lookups:  # type: ignore[attr-defined]
        read.update(_prefetched_models(queryset.model, lookup))
    return read


def _prefetched_models(model: type[models.Model], lookup: Any) -> set[type[models.Model]]:
    path = lookup.prefetch_through if isinstance(lookup, Prefetch) else str(lookup)
    found: set[type[models.Model]] = set()
    current = model
    for part in path.split(LOOKUP_SEP):
        try:
            field = current._meta.get_field(part)
        except FieldDoesNotExist:
            field = None
        related = getattr(field, "related_model", None)
        if field is None or not isinstance(related, type):
            raise TypeError(
                f"cache(): cannot tell which tables prefetch_related({path!r}) reads ({part!r} "
                f"on {current.__name__} is not a relation with a model), so its result could go "
                "stale; drop .cache() or the prefetch"
            )
        found.add(related)
        through = getattr(getattr(field, "remote_field", None), "through", None) or getattr(
            field, "through", None
        )
        if isinstance(through, type):
            found.add(through)
        current = related
    if isinstance(lookup, Prefetch) and lookup.queryset is not None:
        inner = lookup.queryset
        sql, _params = inner.query.get_compiler(using=inner.db).as_sql()
        found |= _models_read(sql, inner)
    return found


def cached_call(
    queryset: QueryBuilder[Any],
    terminal: str,
    ttl: float,
    compute: Any,
    /,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """Run ``compute(*args, **kwargs)`` through the cache (sync; called in a worker thread)."""
    alias = queryset.db
    if connections[alias].in_atomic_block:
        return compute(*args, **kwargs)
    sql, params = queryset.windowed().query.get_compiler(using=alias).as_sql()
    cache = _cache()
    read = sorted(_models_read(sql, queryset), key=lambda model: model._meta.label_lower)
    generation_keys = [_generation_key(model) for model in read]
    generations = cache.get_many(generation_keys)
    for key in generation_keys:
        if key not in generations:
            cache.add(key, 0, None)
            generations[key] = cache.get(key, 0)
    digest = hashlib.sha256(
        repr(
            (sql, tuple(params), args, sorted(kwargs.items()), sorted(generations.items()))
        ).encode()
    ).hexdigest()
    key = f"{_PREFIX}:q:{alias}:{terminal}:{digest}"
    sentinel = object()
    value = cache.get(key, sentinel)
    if value is not sentinel:
        return value
    value = compute(*args, **kwargs)
    cache.set(key, value, ttl)
    return value
