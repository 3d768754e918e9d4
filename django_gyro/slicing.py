"""Querysets that slice consistently: deterministic order for sliced querysets, per-parent caps.

Jobs reuse each other's querysets (``Order.objects.filter(customer__in=customers)``). For that to
be consistent, a sliced queryset (``customers[:100]``) must select the same rows in every
statement that uses it, so a slice without an ordering is ordered by primary key, wherever it
appears: as a job's query or nested inside another job's filter.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.db.models.lookups import Lookup
from django.db.models.sql import Query
from django.db.models.sql.where import WhereNode

__all__ = ["limit_per", "make_deterministic"]


def _orders_by_pk(query: Query, ordering: tuple[Any, ...]) -> bool:
    model = query.model
    assert model is not None and model._meta.pk is not None
    pk_names = {"pk", model._meta.pk.name, model._meta.pk.attname}
    return any(isinstance(item, str) and item.lstrip("-") in pk_names for item in ordering)


def _fix_slice(query: Query) -> None:
    if not query.is_sliced or query.model is None or query.combinator:
        return
    if query.order_by:
        if not _orders_by_pk(query, tuple(query.order_by)):
            query.add_ordering("pk")  # a tie-breaker keeps a non-unique ordering deterministic
        return
    if query.default_ordering and query.model._meta.ordering:
        ordering = tuple(query.model._meta.ordering)
        query.add_ordering(*ordering)
        if not _orders_by_pk(query, ordering):
            query.add_ordering("pk")
        return
    query.add_ordering("pk")


def _walk(node: Any, seen: set[int], nested: bool) -> None:
    if node is None or id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, Query):
        _fix_slice(node)
        if nested:
            # A nested queryset remembers the alias it was built for (``.using()``); the whole
            # job runs on the export's source, which may be a URL with no alias at all.
            node._db = None  # type: ignore[attr-defined]
        _walk(node.where, seen, True)
        for annotation in node.annotations.values():
            _walk(annotation, seen, True)
        for combined in node.combined_queries:
            _walk(combined, seen, True)
        return
    if isinstance(node, WhereNode):
        for child in node.children:
            _walk(child, seen, True)
        return
    if isinstance(node, Lookup):
        _walk(node.lhs, seen, True)
        _walk(node.rhs, seen, True)
        return
    inner = getattr(node, "query", None)  # Subquery, Exists
    if isinstance(inner, Query):
        _walk(inner, seen, True)
    get_sources = getattr(node, "get_source_expressions", None)
    if callable(get_sources):
        for expression in get_sources():
            _walk(expression, seen, True)


def make_deterministic(query: Query) -> None:
    """Give every sliced, unordered (sub)query in ``query`` an ORDER BY ending in the primary key.

    Modifies ``query`` and the subqueries it contains in place. Adding the primary key as the last
    ordering term only removes ambiguity: a sliced query selects the same rows in every statement.
    """
    _walk(query, set(), False)


def limit_per(
    queryset: models.QuerySet[Any],
    field: str,
    limit: int,
    order_by: str | tuple[str, ...] | list[str] = "pk",
) -> models.QuerySet[Any]:
    """At most ``limit`` rows of ``queryset`` per value of ``field`` (e.g. 10 orders per customer).

    The result is an ordinary queryset of the same model, filtered by primary key against a
    ``ROW_NUMBER() OVER (PARTITION BY <field> ORDER BY <order_by>, pk)`` subquery, so later jobs
    can use it with ``__in`` like any other queryset::

        orders = limit_per(Order.objects.filter(customer__in=customers), "customer", 10,
                           order_by="-created_at")

    Args:
        queryset: the rows to choose from.
        field: the field to partition by, usually a foreign key name.
        limit: the maximum number of rows kept per value of ``field`` (>= 1).
        order_by: which rows come first in each partition; the primary key is appended as a
            tie-breaker so the choice is deterministic.

    Raises:
        ValueError: ``limit`` is not a positive integer or ``field`` is not a field of the model.
        TypeError: ``queryset`` is not a QuerySet.
    """
    if not isinstance(queryset, models.QuerySet):
        raise TypeError(f"limit_per() needs a QuerySet, got {type(queryset).__name__}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit_per() limit must be a positive integer, got {limit!r}")
    model = queryset.model
    try:
        partition_field = model._meta.get_field(field)
    except Exception as exc:
        raise ValueError(
            f"limit_per(): model '{model._meta.label}' has no field {field!r}"
        ) from exc
    ordering = [order_by] if isinstance(order_by, str) else list(order_by)
    if not _orders_by_pk(queryset.query, tuple(ordering)):
        ordering.append("pk")
    expressions = [
        F(item[1:]).desc() if item.startswith("-") else F(item).asc() for item in ordering
    ]
    numbered = queryset.annotate(
        _gyro_row_number=Window(
            RowNumber(), partition_by=[F(partition_field.name)], order_by=expressions
        )
    ).filter(_gyro_row_number__lte=limit)
    result = model._default_manager.filter(pk__in=numbered.values("pk"))
    explicit_alias = getattr(queryset, "_db", None)  # an alias the caller chose with .using()
    return result.using(explicit_alias) if explicit_alias else result
