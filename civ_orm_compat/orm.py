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
from django.db.models import NOT_PROVIDED
from django.db.models.base import ModelBase as DjangoModelBase
from django.db.models.fields.related_descriptors import ForwardManyToOneDescriptor

from civ_orm_compat._async import in_event_loop, run
from civ_orm_compat.conf import civ_settings
from civ_orm_compat.exceptions import RelationNotLoaded
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
ON_DELETE = {
    "CASCADE": models.CASCADE,
    "PROTECT": models.PROTECT,
    "RESTRICT": models.RESTRICT,
    "SET_NULL": models.SET_NULL,
    "SET_DEFAULT": models.SET_DEFAULT,
    "DO_NOTHING": models.DO_NOTHING,
}


def _django_path(name: str) -> str:
    return f"django.db.models.{name}"


class _AnyField(type):
    """``isinstance(x, Field)`` holds for every Django field, as for every original field."""

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, models.Field)


class Field(models.Field, metaclass=_AnyField):
    """The original's raw column: ``Field("NUMERIC(10, 2)", null=True)``.

    Args:
        field_type: the column type, as the original's ``field_type``; the DDL uses it as is.
        null: the column accepts NULL.
        default: the default value; None means *no default*, as in the original.
        primary_key: the column is the primary key.
        unique: the column is unique.
    """

    def __init__(
        self,
        field_type: str | None = None,
        null: bool = False,
        default: Any = None,
        primary_key: bool = False,
        unique: bool = False,
        **kwargs: Any,
    ) -> None:
        if field_type is not None and not isinstance(field_type, str):
            raise TypeError(f"Field() takes the column type as a string, got {field_type!r}")
        self.field_type = field_type
        super().__init__(
            null=null,
            default=NOT_PROVIDED if default is None else default,
            primary_key=primary_key,
            unique=unique,
            **kwargs,
        )

    def db_type(self, connection: Any) -> str | None:
        return self.field_type or "TEXT"

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.field_type is not None:
            kwargs["field_type"] = self.field_type
        return name, path, args, kwargs


def _max_length(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    # The original's CharField(50): a positional int is the length (Django: verbose_name).
    if args and isinstance(args[0], int) and not isinstance(args[0], bool):
        kwargs.setdefault("max_length", args[0])
        args = args[1:]
    kwargs.setdefault("max_length", 255)
    return args


class CharField(models.CharField):
    """A string with a maximum length (default 255, as the original; ``CharField(50)`` works)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*_max_length(args, kwargs), **kwargs)

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        return name, _django_path("CharField"), args, kwargs


class SlugField(models.SlugField):
    """A slug (letters, digits, ``-``, ``_``); 255 characters at most by default (the original)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*_max_length(args, kwargs), **kwargs)

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        return name, _django_path("SlugField"), args, kwargs


class IntegerField(models.IntegerField):
    """An integer. ``IntegerField(primary_key=True)``, the original's id declaration over a
    ``SERIAL`` column, is an ``AutoField`` (the database numbers new rows)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("primary_key") and cls is IntegerField:
            return models.AutoField(*args, **kwargs)
        return super().__new__(cls)

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        return name, _django_path("IntegerField"), args, kwargs


# These need no change: Django's classes are the CIV ones.
TextField = models.TextField
FloatField = models.FloatField
BooleanField = models.BooleanField
DateTimeField = models.DateTimeField
DateField = models.DateField
JSONField = models.JSONField


class _AsyncSafeForwardDescriptor(ForwardManyToOneDescriptor):
    """Forward FK access that explains itself when async code touches an unloaded relation."""

    def get_object(self, instance: Any) -> Any:
        if in_event_loop():
            model = type(instance).__name__
            name = self.field.name
            raise RelationNotLoaded(
                f"{model}.{name} is not loaded, and async code cannot load it lazily: add "
                f'.select_related("{name}") to the query that fetched the {model} rows, or '
                f'load it explicitly with `await obj.fetch("{name}")`'
            )
        return super().get_object(instance)


class ForeignKey(models.ForeignKey):
    """One-to-many relation; ``related_name`` names the reverse accessor.

    Args:
        to: the related model (class, ``"app_label.Model"`` or ``"Model"``).
        on_delete: Django's ``on_delete`` or its name (default ``CASCADE``).
        related_name: the reverse accessor on the related model.
    """

    forward_related_accessor_class = _AsyncSafeForwardDescriptor

    def __init__(
        self,
        to: Any,
        on_delete: Any = models.CASCADE,
        related_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(on_delete, str):
            try:
                on_delete = ON_DELETE[on_delete.upper()]
            except KeyError:
                raise ValueError(
                    f"unknown on_delete {on_delete!r}; use one of " + ", ".join(ON_DELETE)
                ) from None
        super().__init__(to, on_delete=on_delete, related_name=related_name, **kwargs)

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        return name, _django_path("ForeignKey"), args, kwargs


class ManyToManyField(models.ManyToManyField):
    """Many-to-many relation; ``related_name`` names the reverse accessor."""

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        return name, _django_path("ManyToManyField"), args, kwargs


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
