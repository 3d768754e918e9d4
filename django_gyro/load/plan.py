"""What the loader will do with each file of an export: its model, strategy, natural key, FKs.

:func:`make_plans` reads the manifest's jobs against the installed models and the caller's
``on_conflict`` / ``natural_keys`` options (an Importer's attributes as defaults) and returns one
:class:`ModelPlan` per file, in export order. Nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models

from django_gyro.exceptions import UNCHANGED, LoadError, SchemaMismatchError
from django_gyro.load.results import ModelLoadReport
from django_gyro.manifest import ExportFile, Manifest

__all__ = [
    "STRATEGIES",
    "ForeignKeyPlan",
    "ModelPlan",
    "column_of",
    "make_plans",
    "related_model",
]

#: The key strategies of a load into a table that already has rows.
STRATEGIES = ("error", "remap", "merge", "skip", "update")


@dataclass
class ForeignKeyPlan:
    column: str
    name: str
    parent: str  # label of a model in the export; the FK points to its primary key


@dataclass
class ModelPlan:
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


def make_plans(
    manifest: Manifest,
    on_conflict: str | Mapping[Any, str],
    natural_keys: Mapping[Any, tuple[str, ...] | list[str]] | None,
) -> list[ModelPlan]:
    per_model: dict[Any, str] = {}
    if isinstance(on_conflict, str):
        default = on_conflict
    else:
        per_model = dict(on_conflict)
        default = per_model.get("*") or per_model.get(None) or "error"
    models_in_export: dict[str, type[models.Model]] = {}
    for entry in manifest.files:
        try:
            model = apps.get_model(entry.label)
        except (LookupError, ValueError):
            raise SchemaMismatchError(
                f"{entry.file}: model {entry.label!r} is not installed in this project; "
                f"{UNCHANGED}"
            ) from None
        models_in_export[model._meta.label] = model
    plans = []
    for index, entry in enumerate(manifest.files):
        model = apps.get_model(entry.label)
        strategy = (
            _lookup(per_model, model) or _importer_attribute(model, "on_conflict") or default
        )
        if strategy not in STRATEGIES:
            raise LoadError(
                f"unknown on_conflict strategy {strategy!r} for {model._meta.label}; choose one "
                f"of {', '.join(STRATEGIES)}"
            )
        names = (
            _lookup(natural_keys or {}, model)
            or _importer_attribute(model, "natural_key")
            or _default_natural_key(model)
        )
        columns = []
        for name in names:
            try:
                columns.append(column_of(model, name))
            except Exception:
                raise LoadError(
                    f"natural key of {model._meta.label} names {name!r}, which is not a field"
                ) from None
        fks = []
        for f in model._meta.concrete_fields:
            related = related_model(f)
            if (
                related is not None
                and related._meta.label in models_in_export
                and getattr(f, "target_field", None) is related._meta.pk
            ):
                fks.append(ForeignKeyPlan(f.column, f.name, related._meta.label))
        plans.append(
            ModelPlan(
                index=index,
                entry=entry,
                model=model,
                strategy=strategy,
                natural_key=tuple(columns),
                fks=fks,
                report=ModelLoadReport(label=model._meta.label, file=entry.file, rows=entry.rows),
            )
        )
    return plans
