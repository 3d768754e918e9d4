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
