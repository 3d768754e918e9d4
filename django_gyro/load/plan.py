"""What the loader will do with each file of an export: its model, strategy, natural key, FKs.

:func:`make_plans` reads the manifest's jobs against the installed models and the caller's
``on_conflict`` / ``natural_keys`` options (an Importer's attributes as defaults) and returns one
:class:`ModelPlan` per file, in export order. Nothing here touches a database.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from django_gyro.exceptions import UNCHANGED, LoadError, SchemaMismatchError
from django_gyro.load.results import ModelLoadReport
from django_gyro.manifest import ExportFile, Manifest

__all__ = [
    "STRATEGIES",
    "ForeignKeyPlan",
    "ModelPlan",
    "column_of",
    "load_order",
    "make_plans",
    "related_model",
]

#: The key strategies of a load into a table that already has rows.
STRATEGIES = ("error", "remap", "merge", "skip", "update")


@dataclass
class ForeignKeyPlan:
    """One foreign key of a loaded file and how its values are resolved.

    Attributes:
        column: the foreign key's column in the file.
        name: the field name.
        parent: label of the referenced model.
        parent_table: its table.
        parent_pk: the referenced column (the parent's primary key).
        in_export: the parent model has a file in the export: values resolve through its
            decision for the referenced row.
        managed: Gyro manages the parent (it has an Importer or is in the export): a value
            whose row is not in the export is a dangling reference, an error unless ``shared``.
        shared: the user declared the parent rows shared (already in the target under the
            same keys): values not in the export are kept and must exist in the target.
    """

    column: str
    name: str
    parent: str
    parent_table: str
    parent_pk: str
    in_export: bool
    managed: bool
    shared: bool = False


@dataclass
class ModelPlan:
    """What the loader does with one file of the export.

    Attributes:
        index: the file's position in the manifest (names its temporary tables).
        entry: the manifest's entry.
        model: the model.
        strategy: the key strategy for a table that already has rows.
        natural_key: the columns that identify a row for ``merge`` / ``skip`` / ``update``.
        fks: every foreign key of the file that points to a primary key.
        report: what the load did, filled as it goes.
    """

    index: int
    entry: ExportFile
    model: type[models.Model]
    strategy: str
    natural_key: tuple[str, ...]
    fks: list[ForeignKeyPlan]
    report: ModelLoadReport
    table_was_empty: bool = False
    #: "" (no map: keys kept), "rewrite" (remap/merge: children follow the map) or
    #: "identity" (skip/update: the map only marks rows, keys do not change).
    map_kind: str = ""
    #: Whether the key decisions of this model were made (children may then use its map).
    decided: bool = False

    @property
    def label(self) -> str:
        return self.model._meta.label

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def pk(self) -> str:
        pk = self.model._meta.pk
        assert pk is not None
        return pk.column

    @property
    def stage(self) -> str:
        return f"gyro_stage_{self.index}"

    @property
    def map(self) -> str:
        return f"gyro_map_{self.index}"


def _model_key(model: type[models.Model]) -> set[Any]:
    return {model, model._meta.label, model._meta.label_lower}


def _lookup(mapping: Mapping[Any, Any], model: type[models.Model]) -> Any:
    for key in _model_key(model):
        if key in mapping:
            return mapping[key]
    return None


def _importer_attribute(model: type[models.Model], name: str) -> Any:
    from django_gyro import registry

    importer = registry.get_importer(model)
    return getattr(importer, name, None) if importer is not None else None


def column_of(model: type[models.Model], name: str) -> str:
    """The database column of ``model``'s concrete field ``name``."""
    field = model._meta.get_field(name)
    column = getattr(field, "column", None)
    if not isinstance(column, str):
        raise LookupError(f"{model._meta.label}.{name} has no column")
    return column


def related_model(field: Any) -> type[models.Model] | None:
    """The model a concrete foreign key or one-to-one field points to, else ``None``."""
    related = field.related_model if field.is_relation else None
    if isinstance(related, type) and issubclass(related, models.Model):
        return related
    return None


def _default_natural_key(model: type[models.Model]) -> tuple[str, ...]:
    opts = model._meta
    for f in opts.concrete_fields:
        if f.unique and not f.primary_key:
            return (f.name,)
    for together in opts.unique_together:
        return tuple(together)
    for constraint in opts.total_unique_constraints:
        return tuple(constraint.fields)
    return ()


def _closest(label: Any, choices: list[str]) -> str:
    match = difflib.get_close_matches(str(label), choices, n=1, cutoff=0.5)
    if not match:  # compare case-insensitively, then by model name alone
        lowered = {choice.lower(): choice for choice in choices}
        match = difflib.get_close_matches(str(label).lower(), list(lowered), n=1, cutoff=0.5)
        match = [lowered[m] for m in match]
    return f"; did you mean {match[0]!r}?" if match else ""


def _check_labels(
    option: str, mapping: Mapping[Any, Any], by_label: dict[str, type[models.Model]]
) -> None:
    """Every key of ``mapping`` names a model of the export (or is the default ``*``)."""
    known = {}
    for label, model in by_label.items():
        known.update(dict.fromkeys(_model_key(model), label))
    for key in mapping:
        if key in ("*", None) or key in known:
            continue
        if isinstance(key, type) and issubclass(key, models.Model):
            raise LoadError(
                f"{option} names model {key._meta.label}, which is not in the export (it has "
                f"{', '.join(sorted(by_label))}); {UNCHANGED}"
            )
        raise LoadError(
            f"{option} names {key!r}, which is not a model of the export"
            f"{_closest(key, sorted(by_label))} (labels are app_label.ModelName); {UNCHANGED}"
        )


def _shared_fields(
    shared: Iterable[str], by_label: dict[str, type[models.Model]]
) -> set[tuple[str, str]]:
    """``{(model label, field name)}`` from ``["app_label.Model.field", ...]``."""
    result: set[tuple[str, str]] = set()
    for item in shared:
        label, _, name = str(item).rpartition(".")
        model = next(
            (m for m in by_label.values() if label in (m._meta.label, m._meta.label_lower)), None
        )
        if model is None:
            raise LoadError(
                f"shared foreign key {item!r}: {label!r} is not a model of the export"
                f"{_closest(label, sorted(by_label))} (write app_label.Model.field); {UNCHANGED}"
            )
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            field = None
        if field is None or not (field.many_to_one or field.one_to_one) or not field.concrete:
            fks = [f.name for f in model._meta.concrete_fields if f.is_relation]
            raise LoadError(
                f"shared foreign key {item!r}: {model._meta.label} has no foreign key {name!r}"
                f"{_closest(name, fks)}; {UNCHANGED}"
            )
        result.add((model._meta.label, field.name))
    return result


def load_order(plans: list[ModelPlan]) -> list[ModelPlan]:
    """``plans`` parent-first: a stable topological sort over the foreign keys between them.

    The manifest's order is kept wherever it already puts parents first. A cycle (which one
    transaction with deferred constraints still loads) is entered at its earliest file.
    """
    by_label = {plan.label: plan for plan in plans}
    parents = {
        plan.label: {fk.parent for fk in plan.fks if fk.in_export and fk.parent != plan.label}
        for plan in plans
    }
    done: set[str] = set()
    ordered: list[ModelPlan] = []
    pending = list(plans)
    while pending:
        ready = next((p for p in pending if parents[p.label] <= done), None)
        if ready is None:
            ready = pending[0]  # a cycle: start it at its first file in the manifest
        pending.remove(ready)
        done.add(ready.label)
        ordered.append(by_label[ready.label])
    return ordered


def make_plans(
    manifest: Manifest,
    on_conflict: str | Mapping[Any, str],
    natural_keys: Mapping[Any, Sequence[str]] | None,
    shared: Iterable[str] = (),
) -> list[ModelPlan]:
    """One plan per file of ``manifest``, in load order (parents first, see :func:`load_order`).

    Raises:
        LoadError: a model that is not installed, an unknown strategy, a label in
            ``on_conflict`` / ``natural_keys`` / ``shared`` that is not a model of the export
            (the message names the closest one), a natural key naming no field.
    """
    from django_gyro import registry

    per_model: dict[Any, str] = {}
    if isinstance(on_conflict, str):
        default = on_conflict
    else:
        per_model = dict(on_conflict)
        default = per_model.get("*") or per_model.get(None) or "error"
    by_label: dict[str, type[models.Model]] = {}
    for entry in manifest.files:
        try:
            model = apps.get_model(entry.label)
        except (LookupError, ValueError):
            installed = [m._meta.label for m in apps.get_models()]
            raise SchemaMismatchError(
                f"{entry.file}: model {entry.label!r} is not installed in this project"
                f"{_closest(entry.label, installed)}; {UNCHANGED}"
            ) from None
        by_label[model._meta.label] = model
    _check_labels("on_conflict", per_model, by_label)
    _check_labels("natural_keys", natural_keys or {}, by_label)
    shared_fields = _shared_fields(shared, by_label)
    plans = []
    for index, entry in enumerate(manifest.files):
        model = by_label[apps.get_model(entry.label)._meta.label]
        strategy = (
            _lookup(per_model, model) or _importer_attribute(model, "on_conflict") or default
        )
        if strategy not in STRATEGIES:
            raise LoadError(
                f"unknown on_conflict strategy {strategy!r} for {model._meta.label}; choose one "
                f"of {', '.join(STRATEGIES)}; {UNCHANGED}"
            )
        names = (
            _lookup(natural_keys or {}, model)
            or _importer_attribute(model, "natural_key")
            or _default_natural_key(model)
        )
        if isinstance(names, str):
            names = (names,)
        columns = []
        for name in names:
            try:
                columns.append(column_of(model, name))
            except Exception:
                fields = [f.name for f in model._meta.concrete_fields]
                raise LoadError(
                    f"natural key of {model._meta.label} names {name!r}, which is not a field"
                    f"{_closest(name, fields)}; {UNCHANGED}"
                ) from None
        importer_shared = _importer_attribute(model, "shared") or ()
        fks = []
        for f in model._meta.concrete_fields:
            related = related_model(f)
            if related is None or f.column not in entry.column_names:
                continue
            target_field = getattr(f, "target_field", None)
            if target_field is not related._meta.pk or target_field is None:
                continue  # a to_field foreign key: its values are not keys Gyro rewrites
            parent = related._meta.label
            fks.append(
                ForeignKeyPlan(
                    column=f.column,
                    name=f.name,
                    parent=parent,
                    parent_table=related._meta.db_table,
                    parent_pk=target_field.column,
                    in_export=parent in by_label,
                    managed=parent in by_label or registry.get_importer(related) is not None,
                    shared=(model._meta.label, f.name) in shared_fields
                    or f.name in importer_shared,
                )
            )
        report = ModelLoadReport(label=model._meta.label, file=entry.file, rows=entry.rows)
        report.natural_key = list(columns)
        report.shared = [fk.column for fk in fks if fk.shared]
        plans.append(
            ModelPlan(
                index=index,
                entry=entry,
                model=model,
                strategy=strategy,
                natural_key=tuple(columns),
                fks=fks,
                report=report,
            )
        )
    return load_order(plans)
