"""Custom model fields."""

from __future__ import annotations

from typing import Any

from django.core import checks
from django.db import models

__all__ = ["SizedBinaryField"]

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
