"""Slices planned from a root queryset: ``plan_slice(Tenant.objects.filter(...), caps=...)``.

The planner follows the foreign keys the registered Importers declare in ``Columns``:

* **down** from the root to every model that references an included model. Such a model's rows
  are filtered by *all* of its included parents (an Order is in the slice only if its tenant,
  its shop and its customer are), so children never point outside their parents' files;
* **up** to every parent that included rows reference but the slice lacks: models the walk down
  does not reach (a global catalogue), the ancestors of a self-reference (a recursive query),
  and the parents of rows added that way. Those rows are added to the parent's job (or to a job
  of their own), so the closure report of the export is empty by construction.

Caps limit a model reached on the way down: ``n`` keeps the first ``n`` rows by primary key,
``per("customer", 10, order_by="-created_at")`` at most 10 rows per customer (``limit_per``).
The result is an ordinary list of :class:`~django_gyro.ImportJob`, parents first, that can be
edited or printed as a jobs file (``gyro_export --root ... --print-jobs``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Expression, Q, Subquery

from django_gyro import registry
from django_gyro.exceptions import JobError
from django_gyro.jobs import ImportJob
from django_gyro.slicing import limit_per

__all__ = ["PlanError", "SliceSpec", "parse_slice", "per", "plan_slice"]


class PlanError(JobError):
    """The slice cannot be planned (root without Importer, a cycle, a cap on an unknown field)."""


@dataclass(frozen=True)
class per:  # noqa: N801 - reads as a function in the caps mapping
    """A per-parent cap: at most ``n`` rows per value of ``field``, first by ``order_by``.

    ``per("customer", 10, order_by="-created_at")`` is :func:`~django_gyro.limit_per` with the
    same arguments.
    """

    field: str
    n: int
    order_by: str | tuple[str, ...] = "pk"

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"per({self.field!r}, n): n must be a positive integer")


Cap = int | per


class _Ancestors(Expression):
    """``(WITH RECURSIVE ...)``: the keys of ``seed``'s rows and of all their ancestors.

    ``seed`` selects ``(key, parent key)`` pairs of a self-referencing table; the recursion
    follows the parent column until it reaches the root (NULL) or a row already seen.
    """

    def __init__(self, seed: Subquery, field: models.ForeignKey[Any, Any]) -> None:
        super().__init__(output_field=models.Field())
        self.seed = seed
        self.fk = field

    def get_source_expressions(self) -> list[Any]:
        return [self.seed]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.seed,) = exprs

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        quote = connection.ops.quote_name
        seed_sql, params = compiler.compile(self.seed)
        target = self.fk.target_field.column
        table = quote(self.fk.model._meta.db_table)
        sql = (
            f"WITH RECURSIVE gyro_up(k, p) AS ({seed_sql} UNION "
            f"SELECT t.{quote(target)}, t.{quote(self.fk.column)} FROM {table} AS t "
            f"JOIN gyro_up ON t.{quote(target)} = gyro_up.p) SELECT k FROM gyro_up"
        )
        return sql, list(params)


def _edges(model: type[models.Model]) -> list[tuple[models.ForeignKey[Any, Any], type[Any]]]:
    """The ``Columns`` foreign keys of ``model``'s Importer: ``(field, target model)``."""
    importer = registry.get_importer(model)
    if importer is None:
        return []
    result = []
    for name, target in importer.declared_foreign_keys().items():
        field = model._meta.get_field(name)
        assert isinstance(field, models.ForeignKey)  # gyro.E002 otherwise
        result.append((field, target))
    return result


def _key(model: type[models.Model]) -> str:
    return model._meta.label_lower


def _order(models_: Iterable[type[models.Model]]) -> list[type[models.Model]]:
    """Parents before children (self-references ignored); a cycle is a :class:`PlanError`."""
    pending = {_key(m): m for m in models_}
    done: list[type[models.Model]] = []
    placed: set[str] = set()
    while pending:
        ready = [
            m
            for k, m in pending.items()
            if all(
                _key(t) in placed or _key(t) not in pending or _key(t) == k for _, t in _edges(m)
            )
        ]
        if not ready:
            cycle = ", ".join(sorted(m._meta.label for m in pending.values()))
            raise PlanError(
                f"the Importers' Columns form a foreign-key cycle among {cycle}; plan_slice "
                f"cannot order it, write those jobs by hand"
            )
        ready.sort(key=lambda m: m._meta.label)
        for m in ready:
            done.append(m)
            placed.add(_key(m))
            del pending[_key(m)]
    return done


def _capped(queryset: models.QuerySet[Any], cap: Cap) -> models.QuerySet[Any]:
    model = queryset.model
    if isinstance(cap, per):
        try:
            return limit_per(queryset, cap.field, cap.n, order_by=cap.order_by)
        except ValueError as exc:
            raise PlanError(f"cap for {model._meta.label}: {exc}") from exc
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise PlanError(f"cap for {model._meta.label} must be a positive int or per(...)")
    return queryset.order_by("pk")[:cap]


def plan_slice(
    root: models.QuerySet[Any],
    caps: Mapping[type[models.Model], Cap] | None = None,
    *,
    skip: Collection[type[models.Model]] = (),
) -> list[ImportJob]:
    """The jobs of the slice below (and the parents above) the rows of ``root``.

    Args:
        root: the queryset the slice starts from (``Tenant.objects.filter(subdomain="acme")``).
        caps: per model reached on the way down, ``n`` (the first ``n`` rows by primary key)
            or ``per(parent_field, n, order_by=...)``.
        skip: models not to walk down into (they are still added when a parent is needed).

    Returns:
        One :class:`ImportJob` per model, parents first.

    Raises:
        PlanError: ``root`` is not a QuerySet of a model with an Importer, a cap names a model
            the walk down does not reach, or the declared foreign keys form a cycle.
    """
    if not isinstance(root, models.QuerySet):
        raise PlanError(f"plan_slice() needs a QuerySet as the root, got {type(root).__name__}")
    root_model = root.model
    if registry.get_importer(root_model) is None:
        raise PlanError(f"the root model {root_model._meta.label} has no registered Importer")
    caps = dict(caps or {})
    skipped = {_key(m) for m in skip}
    importers = registry.registered()

    # Down: every registered model with a declared foreign key into the slice.
    below: dict[str, type[models.Model]] = {_key(root_model): root_model}
    changed = True
    while changed:
        changed = False
        for importer in importers:
            model = importer.model
            key = _key(model)
            if key in below or key in skipped:
                continue
            if any(_key(t) in below for _, t in _edges(model)):
                below[key] = model
                changed = True
    unknown = [m._meta.label for m in caps if _key(m) not in below]
    if unknown:
        raise PlanError(
            f"caps name {', '.join(sorted(unknown))}, which the walk down from "
            f"{root_model._meta.label} does not reach"
        )
    base: dict[str, models.QuerySet[Any]] = {}
    for model in _order(below.values()):
        key = _key(model)
        if model is root_model:
            queryset = root
        else:
            parents = [(f, t) for f, t in _edges(model) if _key(t) in below and _key(t) != key]
            condition = Q()
            linked = Q()
            for f, target in parents:
                inside = Q(**{f"{f.name}__in": base[_key(target)]})
                condition &= (Q(**{f"{f.name}__isnull": True}) | inside) if f.null else inside
                linked |= Q(**{f"{f.name}__isnull": False})
            queryset = model._default_manager.filter(condition & linked)
        if model in caps:
            queryset = _capped(queryset, caps[model])
        base[key] = queryset

    # Up: parents referenced from rows of the slice, children before parents.
    every = dict(below)
    frontier = list(below.values())
    while frontier:
        model = frontier.pop()
        for _, target in _edges(model):
            if _key(target) not in every:
                every[_key(target)] = target
                frontier.append(target)
    ordered = _order(every.values())
    final: dict[str, models.QuerySet[Any]] = {}
    widened: set[str] = set()
    for model in reversed(ordered):
        key = _key(model)
        terms: list[Q] = []
        if key in base:
            terms.append(Q(pk__in=base[key].values("pk")))
        for child in ordered:
            child_key = _key(child)
            if child_key not in final or child_key == key:
                continue
            for f, target in _edges(child):
                if _key(target) != key:
                    continue
                filtered = (
                    child is not root_model
                    and child_key in base
                    and key in base
                    and child_key not in widened
                )
                if filtered:
                    continue  # the child was filtered by this parent: nothing new to add
                # values() works on a sliced (capped) queryset too; NULLs never match.
                terms.append(Q(pk__in=final[child_key].values(f.name)))
        self_fks = [f for f, t in _edges(model) if _key(t) == key]
        if key in base and not self_fks and len(terms) == 1:
            final[key] = base[key]
            continue
        widened.add(key)
        condition = Q()
        for term in terms:
            condition |= term
        queryset = (
            model._default_manager.filter(condition) if terms else model._default_manager.none()
        )
        for f in self_fks:
            seed = Subquery(queryset.values_list("pk", f.attname), output_field=models.Field())
            queryset = model._default_manager.filter(pk__in=_Ancestors(seed, f))
        final[key] = queryset
    return [ImportJob(model=model, query=final[_key(model)]) for model in ordered]


@dataclass
class SliceSpec:
    """A slice given as text (``gyro_export --root ... --cap ... --cap-per ...``).

    Attributes:
        model: the root model.
        filters: ``{lookup: value}`` of the root queryset (values as text; Django converts).
        caps: ``{model: n or per(...)}``.
    """

    model: type[models.Model]
    filters: dict[str, str]
    caps: dict[type[models.Model], Cap]

    def root(self) -> models.QuerySet[Any]:
        """The root queryset."""
        try:
            return self.model._default_manager.filter(**self.filters)
        except Exception as exc:  # FieldError, ValidationError...
            raise PlanError(f"--root {self.model._meta.label}: {exc}") from exc

    def plan(self) -> list[ImportJob]:
        """:func:`plan_slice` of this spec."""
        return plan_slice(self.root(), caps=self.caps)

    def jobs_file(self, jobs: Sequence[ImportJob]) -> str:
        """A jobs file (``gyro_export --jobs``) that plans this slice and lists its jobs."""
        used = sorted({self.model, *self.caps, *(job.model for job in jobs)}, key=_label)
        imports: dict[str, list[str]] = {}
        for model in used:
            imports.setdefault(model.__module__, []).append(model.__name__)
        filters = ", ".join(f"{key}={_py(value)}" for key, value in self.filters.items())
        caps = []
        for model, cap in self.caps.items():
            if isinstance(cap, per):
                order = (
                    _py(cap.order_by)
                    if isinstance(cap.order_by, str)
                    else "(" + ", ".join(_py(o) for o in cap.order_by) + ",)"
                )
                caps.append(f"{model.__name__}: per({_py(cap.field)}, {cap.n}, order_by={order})")
            else:
                caps.append(f"{model.__name__}: {cap}")
        lines = [
            f'"""The slice of {self.model._meta.label} rows ({filters or "all"}) planned by '
            f"plan_slice.",
            "",
            "Written by `manage.py gyro_export --root ... --print-jobs`. Each job's query is",
            "the planner's; replace one with your own queryset, add exclude=... or",
            "unmasked=..., or drop a job (the closure report then shows what is missing).",
            '"""',
            "",
            "from __future__ import annotations",
            "",
            "from django_gyro import ImportJob, per, plan_slice",
        ]
        lines += [f"from {module} import {', '.join(names)}" for module, names in imports.items()]
        lines += [
            "",
            "",
            "def jobs() -> list[ImportJob]:",
            "    planned = {",
            "        job.model: job.query",
            "        for job in plan_slice(",
            f"            {self.model.__name__}.objects.filter({filters}),",
            "            caps={" + ", ".join(caps) + "},",
            "        )",
            "    }",
            "    return [  # parents first",
        ]
        lines += [
            f"        ImportJob({job.model.__name__}, planned[{job.model.__name__}]),"
            for job in jobs
        ]
        lines += ["    ]", ""]
        return "\n".join(lines)


def _py(text: str) -> str:
    """A Python string literal in double quotes (JSON's escapes are valid Python)."""
    return json.dumps(text, ensure_ascii=False)


def _label(model: type[models.Model]) -> str:
    return model._meta.label


def _model(label: str, option: str) -> type[models.Model]:
    from django.apps import apps

    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        raise PlanError(
            f"{option} {label!r}: not an installed model (write app_label.ModelName)"
        ) from None


def parse_slice(root: str, caps: Iterable[str] = (), caps_per: Iterable[str] = ()) -> SliceSpec:
    """A :class:`SliceSpec` from ``gyro_export``'s options.

    Args:
        root: ``"app.Model"`` or ``"app.Model:field=value,other=value"``.
        caps: ``"app.Model=N"`` each.
        caps_per: ``"app.Model=field:N"`` or ``"app.Model=field:N:-created_at,pk"`` each.

    Raises:
        PlanError: a malformed option, an unknown model.
    """
    label, _, filter_text = root.partition(":")
    filters: dict[str, str] = {}
    for item in filter(None, filter_text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise PlanError(f"--root {root!r}: write filters as field=value, got {item!r}")
        filters[key.strip()] = value
    spec = SliceSpec(_model(label.strip(), "--root"), filters, {})
    for text in caps:
        label, sep, number = text.partition("=")
        if not sep or not number.strip().isdigit() or int(number) < 1:
            raise PlanError(f"--cap {text!r}: write app.Model=N with N >= 1")
        spec.caps[_model(label.strip(), "--cap")] = int(number)
    for text in caps_per:
        label, sep, rest = text.partition("=")
        parts = rest.split(":")
        if not sep or len(parts) not in (2, 3) or not parts[1].isdigit() or int(parts[1]) < 1:
            raise PlanError(
                f"--cap-per {text!r}: write app.Model=field:N or app.Model=field:N:order_by"
            )
        order = tuple(parts[2].split(",")) if len(parts) == 3 and parts[2] else ("pk",)
        spec.caps[_model(label.strip(), "--cap-per")] = per(
            parts[0], int(parts[1]), order_by=order[0] if len(order) == 1 else order
        )
    return spec
