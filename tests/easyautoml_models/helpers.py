"""Helpers of the easyautoml_models tests."""

from __future__ import annotations

import logging
from typing import Any

from django.db import connection

from easyautoml_models.models import User
from easyautoml_models.models.logger import ROOT_LOGGER_NAME


def raw_update(user: User, field: str, value: Any) -> None:
    """Change a column behind the ORM's back, as another client could."""
    qn = connection.ops.quote_name
    if connection.vendor == "sqlite" and field != "last_billing_time":
        value = str(value)  # money is TEXT there
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {qn(User._meta.db_table)} SET {qn(field)} = %s WHERE id = %s",
            [value, user.pk],
        )


def flush_easyautoml_logger() -> None:
    """Wait until ``EasyAutoMLLogger``'s queued records are stored (its handler is queued)."""
    for handler in logging.getLogger(ROOT_LOGGER_NAME).handlers:
        handler.flush()
