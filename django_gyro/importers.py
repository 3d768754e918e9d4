"""Declarative Importer classes.

An Importer names a model and, in its inner ``Columns`` class, the foreign keys that matter for
slicing and reloading, each mapped to the model it points to::

    class OrderImporter(Importer):
        model = Order

        class Columns:
            tenant = Tenant
            shop = Shop
            customer = Customer

The metaclass only collects these declarations (and rejects a missing or non-model ``model``, a
mistake local to the class). Whether the names are real foreign keys to the declared models and
whether those models have Importers is checked by Django's system checks (``django_gyro.checks``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models

from django_gyro import registry

__all__ = ["Importer", "ImporterMeta"]


class ImporterMeta(type):
    """Collects ``model`` and ``Columns`` of an Importer class and registers it."""

    def __new__(mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any]) -> ImporterMeta:
        cls = super().__new__(mcs, name, bases, attrs)
        if not any(isinstance(base, ImporterMeta) for base in bases):
            return cls  # the Importer base class itself
        model = attrs.get("model")
        if model is None:
            raise TypeError(
                f"Importer '{name}' must set `model = <a Django model class>`, e.g. "
                f"`model = Customer`"
            )
        if not (isinstance(model, type) and issubclass(model, models.Model)):
            raise TypeError(
                f"Importer '{name}' sets model = {model!r}, which is not a Django model class"
            )
        if model._meta.abstract:
            raise TypeError(
                f"Importer '{name}' sets model = {model.__name__}, an abstract model; "
                f"Importers need a concrete model with a table"
            )
        columns_class = attrs.get("Columns")
        declared: dict[str, Any] = {}
        if columns_class is not None:
            declared = {
                key: value for key, value in vars(columns_class).items() if not key.startswith("_")
            }
        cls.columns = declared  # type: ignore[attr-defined]
        registry.register(cls)  # type: ignore[arg-type]
        return cls


class Importer(metaclass=ImporterMeta):
    """Base class of the per-model Importer declarations.

    Attributes:
        model: the Django model this Importer exports and loads.
        columns: ``{foreign key name: target model}`` collected from the inner ``Columns`` class,
            in declaration order.
    """

    model: ClassVar[type[models.Model]]
    columns: ClassVar[dict[str, Any]] = {}
    #: Foreign keys (field names) whose parent rows are shared: already in every target under
    #: the same keys, so a load keeps their values when the parent row is not in the export.
    shared: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def get_file_name(cls) -> str:
        """The CSV file name of this model in an export: ``<db_table>.csv``."""
        return f"{cls.model._meta.db_table}.csv"

    @classmethod
    def declared_foreign_keys(cls) -> dict[str, type[models.Model]]:
        """The ``Columns`` entries that are model classes: ``{field name: target model}``."""
        return {
            key: value
            for key, value in cls.columns.items()
            if isinstance(value, type) and issubclass(value, models.Model)
        }
