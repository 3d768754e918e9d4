"""CIV ``database.orm``: ``Model`` and the ten field types, as real Django models and fields.

A CIV model is a Django model: it migrates, appears in the admin and works with every app that
takes a Django model. What the compat layer adds:

* ``class Meta`` accepts ``table_name`` (mapped to ``db_table``) and ``indexes`` given as field
  names (``"email"``), tuples of names (a composite index) or ``models.Index`` objects;
* ``await obj.save()`` / ``await obj.delete()`` in async code (in sync code, such as the admin,
  they are Django's ``save()``/``delete()``), ``await Model.get(**lookups)``,
  ``await Model.get_or_none(**lookups)``, ``await Model.create(**values)`` and
  ``await obj.fetch("relation")``;
* touching a foreign key that was not loaded, in async code, raises ``RelationNotLoaded``
  naming the ``select_related`` to add;
* the original's class-level API: ``await Model.all()``, ``await Model.filter(**kw)`` (both
  awaitable querysets, so Django lookups work too) and ``Model.query()`` (the table-level
  ``QueryBuilder``);
* legacy attributes of the original: ``_table_name`` and ``_fields``, on the class and on
  instances, and ``_get_primary_key_field()``;
* subclasses that define ``__init__(self, **kwargs)`` (the original's ``auth.User`` does) load
  from the database: rows are passed to them as keywords, never positionally.

The field classes keep Django's signatures, with the original's defaults: ``CharField`` has
``max_length=255`` (and takes it positionally, ``CharField(50)``), ``SlugField`` too,
``ForeignKey`` has ``on_delete=CASCADE`` (a string such as ``"SET_NULL"`` is accepted). They
deconstruct to Django's own classes, so migrations do not import this package. ``Field(type)``
is the original's raw column (``Field("NUMERIC(10, 2)")``); ``isinstance(x, Field)`` is true for
every Django field, as every original field subclassed ``Field``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import models
from django.db.models.base import ModelBase as DjangoModelBase

from civ_orm_compat._async import in_event_loop, run
from civ_orm_compat._fields import (
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    Field,
    FloatField,
    ForeignKey,
    IntegerField,
    JSONField,
    ManyToManyField,
    SlugField,
    TextField,
)
from civ_orm_compat.conf import civ_settings
from civ_orm_compat.query import CivManager, QueryBuilder, TableQueryBuilder

__all__ = [
    "BooleanField",
    "CharField",
    "DateField",
    "DateTimeField",
    "Field",
    "FloatField",
    "ForeignKey",
    "IntegerField",
    "JSONField",
    "ManyToManyField",
    "Model",
    "ModelBase",
    "SlugField",
    "TextField",
]

_T = TypeVar("_T", bound="Model")
_V = TypeVar("_V")


#: ``on_delete`` given by name, as the original's ``on_delete="CASCADE"``.
def _index(model_name: str, entry: Any) -> models.Index:
    if isinstance(entry, models.Index):
        return entry
    if isinstance(entry, str) and entry:
        return models.Index(fields=[entry])
    if (
        isinstance(entry, list | tuple)
        and entry
        and all(isinstance(name, str) and name for name in entry)
    ):
        return models.Index(fields=list(entry))
    raise TypeError(
        f"{model_name}.Meta.indexes: {entry!r} is not a field name, a tuple of field names or a "
        "models.Index"
    )


class ModelBase(DjangoModelBase):
    """Django's model metaclass, reading the CIV ``Meta`` options first.

    ``Meta.table_name`` becomes ``db_table`` and string ``Meta.indexes`` become
    ``models.Index(fields=[...])`` (Django names them). Django would reject ``table_name``.
    The original's ``_table_name = "..."`` class attribute sets the table too, and makes the
    model unmanaged (its table comes from the original's raw migrations), unless ``Meta`` says
    ``managed = True``.
    """

    def __new__(mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any], **kwargs: Any):
        table_name = attrs.get("_table_name")
        if isinstance(table_name, str):
            # The original's form: `_table_name = "users"` in the body. Such a model's table is
            # created by raw migrations (the original's models never made DDL): unmanaged.
            del attrs["_table_name"]
            meta = attrs.get("Meta") or type("Meta", (), {})
            if getattr(meta, "table_name", table_name) != table_name:
                raise TypeError(f"{name} sets both _table_name and Meta.table_name; keep one")
            options = {k: v for k, v in vars(meta).items() if not k.startswith("__")}
            options["table_name"] = table_name
            options.setdefault("managed", False)
            attrs["Meta"] = type("Meta", meta.__bases__, options)
        meta = attrs.get("Meta")
        if meta is not None:
            attrs["Meta"] = mcs._translate_meta(name, meta)
        cls = super().__new__(mcs, name, bases, attrs, **kwargs)
        cls._civ_model = True  # type: ignore[attr-defined]
        return cls

    @staticmethod
    def _translate_meta(model_name: str, meta: type) -> type:
        options = {k: v for k, v in vars(meta).items() if not k.startswith("__")}
        if "table_name" in options:
            table_name = options.pop("table_name")
            if not isinstance(table_name, str) or not table_name.strip():
                raise TypeError(
                    f"{model_name}.Meta.table_name must be a non-empty string, got {table_name!r}"
                )
            if "db_table" in options and options["db_table"] != table_name:
                raise TypeError(f"{model_name}.Meta sets both table_name and db_table; keep one")
            options["db_table"] = table_name
        if "indexes" in options:
            indexes = options["indexes"]
            if not isinstance(indexes, list | tuple):
                raise TypeError(
                    f"{model_name}.Meta.indexes must be a list, got {type(indexes).__name__}"
                )
            options["indexes"] = [_index(model_name, entry) for entry in indexes]
        return type("Meta", meta.__bases__, options)


class _ClassAttribute(Generic[_V]):
    """An attribute computed from the class, read the same on the class and on instances.

    The original's ``_fields``/``_table_name`` were plain class attributes, so code reads them
    as ``Model._fields`` and as ``self._fields``.
    """

    def __init__(self, compute: Callable[[Any], _V]) -> None:
        self._compute = compute
        self.__doc__ = compute.__doc__

    def __get__(self, instance: Any, owner: type) -> _V:
        return self._compute(owner)


def _table_name(cls: Any) -> str:
    """The original's name for ``_meta.db_table``."""
    return str(cls._meta.db_table)


def _fields(cls: Any) -> dict[str, models.Field[Any, Any]]:
    """The original's field map: name -> field, forward fields only (with the pk)."""
    meta = cls._meta
    return {f.name: f for f in (*meta.fields, *meta.many_to_many)}


class Model(models.Model, metaclass=ModelBase):
    """Base class of CIV models: a Django model with the CIV async API."""

    objects = CivManager()

    class Meta:
        abstract = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs and civ_settings.INIT_IGNORES_UNKNOWN:
            # The original's Model(**row): keys that are not fields are dropped.
            known = self._known_keywords()
            kwargs = {k: v for k, v in kwargs.items() if k in known}
        super().__init__(*args, **kwargs)

    # -- CRUD ------------------------------------------------------------------------------
    def save(self, *args: Any, **kwargs: Any) -> Any:
        """Insert or update the row.

        In async code this returns an awaitable (``await user.save()`` gives the instance);
        in sync code it is Django's ``save()``.
        """
        if in_event_loop():
            return self.asave(*args, **kwargs)
        return super().save(*args, **kwargs)

    async def asave(self: _T, *args: Any, **kwargs: Any) -> _T:  # type: ignore[override]
        """Async ``save()``; returns the instance, as the original did."""
        await run(self.save, *args, **kwargs)
        return self

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        """Delete the row (awaitable in async code, Django's ``delete()`` in sync code)."""
        if in_event_loop():
            return self.adelete(*args, **kwargs)
        return super().delete(*args, **kwargs)

    async def adelete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        """Async ``delete()``; returns Django's ``(count, per-model counts)``."""
        return await run(self.delete, *args, **kwargs)

    @classmethod
    def _known_keywords(cls) -> set[str]:
        meta = cls._meta
        names = {f.name for f in meta.get_fields()} | {f.attname for f in meta.concrete_fields}
        names |= set(meta._property_names) | {"pk"}  # type: ignore[attr-defined]
        return names

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> Any:
        """Build an instance from a row; keyword arguments when the class has its own ``__init__``.

        Django calls ``cls(*values)``, which a subclass ``__init__(self, **kwargs)`` (the
        original's style) cannot take. Such a class gets ``cls(**{attname: value})``; fields
        the query deferred stay deferred.
        """
        if cls.__init__ is Model.__init__:
            return super().from_db(db, field_names, values)
        concrete = cls._meta.concrete_fields
        if len(values) == len(concrete):
            pairs = [(f.attname, v) for f, v in zip(concrete, values, strict=True)]
        else:
            pairs = list(zip(field_names, values, strict=True))
        new = cls(**dict(pairs))
        loaded = {name for name, _value in pairs}
        for f in concrete:  # defaults filled in for deferred fields: defer them again
            if f.attname not in loaded:
                new.__dict__.pop(f.attname, None)
        new._state.adding = False
        new._state.db = db
        return new

    # -- the original's class-level API ----------------------------------------------------
    @classmethod
    def all(cls: type[_T]) -> QueryBuilder[_T]:
        """Every row: ``await Model.all()`` gives a list (the original's classmethod)."""
        return cls._default_manager.all()  # type: ignore[return-value]

    @classmethod
    def filter(cls: type[_T], *args: Any, **lookups: Any) -> QueryBuilder[_T]:
        """``await Model.filter(active=True)``: a list; Django lookups (``age__gte``) work."""
        return cls._default_manager.filter(*args, **lookups)  # type: ignore[return-value]

    @classmethod
    def query(cls) -> TableQueryBuilder:
        """The original's table-level builder on this model's table (a new one per call)."""
        return TableQueryBuilder(cls._table_name)

    _fields = _ClassAttribute(_fields)
    _table_name = _ClassAttribute(_table_name)

    def _get_primary_key_field(self) -> str | None:
        """The name of the primary key field (the original's helper)."""
        pk = self._meta.pk
        return None if pk is None else pk.name

    async def fetch(self, name: str) -> Any:
        """Load the relation ``name`` from async code.

        A foreign key returns the related object and caches it on the instance (so
        ``obj.<name>`` works afterwards); a reverse or many-to-many relation returns the list of
        related objects.

        Raises:
            AttributeError: ``name`` is not a relation of this model.
        """
        relations = {
            f.name if not f.auto_created or f.concrete else f.get_accessor_name(): f  # type: ignore[union-attr]
            for f in self._meta.get_fields()
            if f.is_relation
        }
        field = relations.get(name)
        if field is None:
            raise AttributeError(
                f"{type(self).__name__} has no relation {name!r}; relations: "
                + ", ".join(sorted(k for k in relations if k))
            )
        if field.many_to_one or field.one_to_one:
            return await run(getattr, self, name)
        manager = getattr(self, name)
        rows = await manager.all()
        return rows

    @classmethod
    async def get(cls: type[_T], *args: Any, using: str | None = None, **lookups: Any) -> _T:
        """The single row matching ``lookups`` (``await User.get(id=1)``).

        Raises:
            DoesNotExist: no row matches (unless ``CIV_ORM_GET_RETURNS_NONE``).
            MultipleObjectsReturned: several rows match.
        """
        manager = cls._default_manager if using is None else cls._default_manager.db_manager(using)
        return await manager.get_queryset().aget(*args, **lookups)

    @classmethod
    async def get_or_none(
        cls: type[_T], *args: Any, using: str | None = None, **lookups: Any
    ) -> _T | None:
        """Like :meth:`get`, but None when no row matches."""
        try:
            return await cls.get(*args, using=using, **lookups)
        except cls.DoesNotExist:
            return None

    @classmethod
    async def create(cls: type[_T], *, using: str | None = None, **values: Any) -> _T:
        """Insert a row and return the instance (``await User.create(username="ann")``)."""
        obj = cls(**values)
        await obj.asave(using=using)
        return obj
