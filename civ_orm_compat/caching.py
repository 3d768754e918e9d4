"""Query caching for ``QueryBuilder.cache(ttl)`` on Django's cache framework.

A cached result is stored under a key made of the database alias, the terminal (``list``,
``count``, ...), the compiled SQL with its parameters, and the *generation* of every model the
query reads (its own model and the ones joined by ``select_related`` or filters). Writing a
model bumps its generation, so every cached query reading it is missed from then on and expires
by its TTL. Writes are seen through the ORM's signals (save, delete, many-to-many changes) and
the compat ``QuerySet`` writes (``update``, ``bulk_create``, ``bulk_update``); raw SQL writes
are not seen: call :func:`invalidate` after them.

Generations live in the cache itself, so several processes sharing a cache (Redis, Memcached)
invalidate each other's entries.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.cache import caches
from django.db import connections, models, transaction

from civ_orm_compat.conf import civ_settings

if TYPE_CHECKING:
    from civ_orm_compat.query import QueryBuilder

__all__ = ["cached_call", "invalidate", "on_model_write"]

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


def on_model_write(sender: Any, **kwargs: Any) -> None:
    """Signal receiver (post_save, post_delete, m2m_changed) for CIV models."""
    if getattr(sender, "_civ_model", False) or getattr(
        getattr(sender, "_meta", None), "auto_created", None
    ):
        invalidate(sender, kwargs.get("using"))
        model = kwargs.get("model")
        if model is not None:  # m2m_changed: the other side changed too
            invalidate(model, kwargs.get("using"))


def _models_read(queryset: QueryBuilder[Any]) -> list[type[models.Model]]:
    tables = {join.table_name for join in queryset.query.alias_map.values()}
    read = [queryset.model]
    for model in apps.get_models(include_auto_created=True):
        if model._meta.db_table in tables and model is not queryset.model:
            read.append(model)
    return read


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
    generation_keys = [_generation_key(model) for model in _models_read(queryset)]
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
