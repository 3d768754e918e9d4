"""Custom model fields."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core import checks
from django.db import models

__all__ = ["MoneyField", "SizedBinaryField"]

_MYSQL_BLOB_TYPES = {1: "tinyblob", 2: "blob", 3: "mediumblob", 4: "longblob"}


class SizedBinaryField(models.BinaryField):
    """A ``BinaryField`` with a MySQL size class (1 tiny, 2 blob, 3 medium, 4 long).

    On MySQL/MariaDB the column is ``tinyblob`` … ``longblob``; on every other backend it is that
    backend's own binary type (``bytea`` on PostgreSQL, ``BLOB`` on SQLite), so migrations run
    everywhere. The original emitted ``mediumblob`` on every backend, which PostgreSQL rejects.
    """

    def __init__(self, *args: Any, size_class: int = 4, **kwargs: Any) -> None:
        self.size_class = size_class
        super().__init__(*args, **kwargs)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        if self.size_class not in _MYSQL_BLOB_TYPES:
            errors.append(
                checks.Error(
                    f"size_class must be 1, 2, 3 or 4, not {self.size_class!r}.",
                    hint="Use 1 (tinyblob), 2 (blob), 3 (mediumblob) or 4 (longblob).",
                    obj=self,
                    id="easyautoml_models.E004",
                )
            )
        return errors

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.size_class != 4:
            kwargs["size_class"] = self.size_class
        return name, path, args, kwargs

    def db_type(self, connection: Any) -> str | None:
        if connection.vendor == "mysql":
            return _MYSQL_BLOB_TYPES.get(self.size_class, "longblob")
        return super().db_type(connection)


class MoneyField(models.DecimalField):
    """A ``DecimalField`` that is exact on every backend, SQLite included.

    PostgreSQL (and MySQL) keep ``numeric(max_digits, decimal_places)``. SQLite has no exact
    decimal type: Django's ``decimal`` column has NUMERIC affinity, so ``0.1`` is stored as the
    float ``0.1000000000000000055...`` and ``0.3 - 0.1 - 0.1 - 0.1`` is not zero. Here SQLite
    stores the value as TEXT in a fixed format (``"0.30000000"``) and reads it back as a Decimal;
    the ledger does the arithmetic in Python under SQLite's write lock, never in SQL.
    """

    def get_internal_type(self) -> str:
        # Not "DecimalField": the SQLite backend would convert the TEXT through a float.
        return "MoneyField"

    def db_type(self, connection: Any) -> str | None:
        if connection.vendor == "sqlite":
            return "text"
        return connection.data_types["DecimalField"] % self.db_type_parameters(connection)

    def cast_db_type(self, connection: Any) -> str | None:
        return self.db_type(connection)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if connection.vendor != "sqlite":
            return super().get_db_prep_value(value, connection, prepared)
        if not prepared:
            value = self.get_prep_value(value)
        return None if value is None else self.to_text(value)

    def to_text(self, value: Any) -> str:
        """The fixed-format text SQLite stores: ``Decimal("0.3")`` -> ``"0.30000000"``."""
        quantum = Decimal(1).scaleb(-self.decimal_places)
        return f"{self.to_python(value).quantize(quantum):f}"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        # TEXT on SQLite; a float only from SQL arithmetic (e.g. SUM), read by its repr.
        return self.to_python(repr(value) if isinstance(value, float) else value)
