"""Helpers shared by the model modules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Case, Q, Value, When
from django.db.models.lookups import Exact, LessThanOrEqual

from easyautoml_models.conf import decimal_places, max_digits

__all__ = ["D", "J", "ZERO", "M", "at_most_one_true", "exactly_one_true"]

ZERO = Decimal("0")


def D(**kwargs: Any) -> models.DecimalField[Any, Any]:  # noqa: N802 - the inventory's short name
    """A ``DecimalField`` with the project's money precision (20 digits, 8 places by default)."""
    return models.DecimalField(max_digits=max_digits(), decimal_places=decimal_places(), **kwargs)


def M(**kwargs: Any) -> models.DecimalField[Any, Any]:  # noqa: N802 - like D
    """A :class:`~easyautoml_models.fields.MoneyField` (exact on SQLite too) for balances and
    ledger amounts, with the project's money precision."""
    from easyautoml_models.fields import MoneyField

    return MoneyField(max_digits=max_digits(), decimal_places=decimal_places(), **kwargs)


def _count_true(flags: tuple[str, ...]) -> Any:
    total: Any = None
    for flag in flags:
        term = Case(When(Q(**{flag: True}), then=Value(1)), default=Value(0))
        total = term if total is None else total + term
    return total


def exactly_one_true(*flags: str) -> Exact:
    """A boolean expression, for a ``CheckConstraint``, true when exactly one flag is TRUE.

    NULL and FALSE both count as "not set", so nullable flags keep working.
    """
    return Exact(_count_true(flags), Value(1))


def at_most_one_true(*flags: str) -> LessThanOrEqual:
    """A boolean expression, for a ``CheckConstraint``, true when no more than one flag is TRUE."""
    return LessThanOrEqual(_count_true(flags), Value(1))


def J(**kwargs: Any) -> models.JSONField:  # noqa: N802 - the inventory's short name
    """A ``JSONField`` that encodes with :class:`JsonEncoderExtended` (NaN, numpy, enums)."""
    from easyautoml_models.encoders import JsonEncoderExtended

    return models.JSONField(encoder=JsonEncoderExtended, **kwargs)


_MISSING = object()


class ProtectedFieldsMixin(models.Model):
    """Remembers, when loaded, the columns only dedicated methods may change.

    ``save(update_fields=...)`` naming such a column is refused, with one exception: Django's
    ``update_or_create()`` adds every field with its own ``pre_save`` (``DateTimeField``...) to
    ``update_fields``, harmless or not, so such a field still holding its loaded value is
    skipped silently.
    """

    #: The protected column names; set by the model.
    protected_fields: frozenset[str] = frozenset()

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> Any:
        instance: Any = super().from_db(db, field_names, values)
        instance._protected_loaded = {
            field.attname: instance.__dict__.get(field.attname, _MISSING)
            for field in instance._meta.concrete_fields
            if field.name in cls.protected_fields
        }
        return instance

    def _split_update_fields(self, update_fields: Any) -> tuple[list[str], list[str]]:
        """``(fields to write, protected fields whose value was changed)``."""
        loaded = getattr(self, "_protected_loaded", {})
        keep, changed = [], []
        for name in update_fields:
            field: Any = self._meta.get_field(name)
            if field.name not in self.protected_fields:
                keep.append(name)
                continue
            attname = str(field.attname)
            before = loaded.get(attname, _MISSING)
            added_by_django = type(field).pre_save is not models.Field.pre_save
            if not added_by_django or before is _MISSING or getattr(self, attname) != before:
                changed.append(field.name)
        return keep, sorted(set(changed))
