"""The CIV field classes: Django's fields with the original's defaults and signatures.

``CharField``/``SlugField`` default to ``max_length=255`` and take it positionally
(``CharField(50)``); ``IntegerField(primary_key=True)`` is an ``AutoField``; ``ForeignKey``
defaults ``on_delete`` to CASCADE and takes its name as a string; ``Field(type)`` is the
original's raw column. They deconstruct to Django's own classes (``Field`` excepted), so
migrations do not import this package. A forward foreign key touched from async code without
being loaded raises ``RelationNotLoaded`` naming the ``select_related`` to add.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import NOT_PROVIDED
from django.db.models.fields.related_descriptors import ForwardManyToOneDescriptor

from civ_orm_compat._async import in_event_loop
from civ_orm_compat.exceptions import RelationNotLoaded

__all__ = [
    "ON_DELETE",
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
    "SlugField",
    "TextField",
]

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
