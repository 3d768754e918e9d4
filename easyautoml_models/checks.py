"""System checks of ``easyautoml_models`` settings.

=========================  ==================================================================
id                         problem
=========================  ==================================================================
``easyautoml_models.E001``  ``EASYAUTOML_BILLING_IXIOO_OPERATIONS_PRICE`` has no valid
                            non-negative ``training_price``
``easyautoml_models.E002``  ``EASYAUTOML_WORK_LEASE_TIMEOUT`` is not a positive number
``easyautoml_models.E003``  ``EASYAUTOML_WORK_MAX_ATTEMPTS`` is not an integer >= 1
``easyautoml_models.E004``  a ``SizedBinaryField`` has a ``size_class`` other than 1-4
``easyautoml_models.E005``  ``EASYAUTOML_COLUMN_TYPE_ENUM`` cannot be imported or is not an
                            ``Enum`` class
``easyautoml_models.E006``  the class ``EASYAUTOML_COLUMN_TYPE_ENUM`` names does not have
                            ``DatasetColumnDataType``'s member names, in its order
``easyautoml_models.W001``  ``EASYAUTOML_SUPER_ADMIN_TEAM_MEMBERS`` is not a list of e-mails
=========================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from easyautoml_models.conf import app_settings

__all__ = ["check_column_type_enum", "check_settings"]


@register(Tags.compatibility)
def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Sequence[CheckMessage]:
    """Check the ``EASYAUTOML_*`` settings (skipped when ``app_configs`` excludes this app)."""
    if app_configs is not None and not any(c.label == "easyautoml_models" for c in app_configs):
        return []
    messages: list[CheckMessage] = []
    prices = app_settings.BILLING_IXIOO_OPERATIONS_PRICE
    price: Any = prices.get("training_price") if isinstance(prices, dict) else None
    try:
        valid = price is not None and not isinstance(price, bool) and Decimal(str(price)) >= 0
    except (InvalidOperation, ValueError):
        valid = False
    if not valid:
        messages.append(
            Error(
                "EASYAUTOML_BILLING_IXIOO_OPERATIONS_PRICE needs a non-negative "
                f"'training_price', got {prices!r}.",
                hint="Set it to e.g. {'training_price': Decimal('0.0001')}: tokens per column "
                "per line; 0 records training without charging.",
                id="easyautoml_models.E001",
            )
        )
    timeout = app_settings.WORK_LEASE_TIMEOUT
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        messages.append(
            Error(
                f"EASYAUTOML_WORK_LEASE_TIMEOUT must be a positive number of seconds, got "
                f"{timeout!r}.",
                hint="Use a value well above the interval at which servers call heartbeat().",
                id="easyautoml_models.E002",
            )
        )
    attempts = app_settings.WORK_MAX_ATTEMPTS
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        messages.append(
            Error(
                f"EASYAUTOML_WORK_MAX_ATTEMPTS must be an integer >= 1, got {attempts!r}.",
                hint="1 means a stale item is failed at once instead of being requeued.",
                id="easyautoml_models.E003",
            )
        )
    members = app_settings.SUPER_ADMIN_TEAM_MEMBERS
    if not isinstance(members, list | tuple) or not all(isinstance(m, str) for m in members):
        messages.append(
            Warning(
                f"EASYAUTOML_SUPER_ADMIN_TEAM_MEMBERS should be a list of e-mail addresses, got "
                f"{members!r}.",
                hint="Members that are not strings are ignored.",
                id="easyautoml_models.W001",
            )
        )
    return messages


@register(Tags.compatibility)
def check_column_type_enum(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> Sequence[CheckMessage]:
    """Check that ``EASYAUTOML_COLUMN_TYPE_ENUM`` names an Enum with the expected members."""
    if app_configs is not None and not any(c.label == "easyautoml_models" for c in app_configs):
        return []
    from easyautoml_models.enums import DatasetColumnDataType, column_type_enum

    path = app_settings.COLUMN_TYPE_ENUM
    if not path:
        return []
    try:
        cls = column_type_enum()
    except (ImportError, TypeError) as exc:
        return [
            Error(
                f"EASYAUTOML_COLUMN_TYPE_ENUM {path!r} is not an importable Enum class: {exc}",
                hint="Give the dotted path of the class, e.g. "
                "'SharedConstants.DatasetColumnDataType', or remove the setting.",
                id="easyautoml_models.E005",
            )
        ]
    expected = list(DatasetColumnDataType.__members__)
    got = list(cls.__members__)
    if got != expected:
        return [
            Error(
                f"EASYAUTOML_COLUMN_TYPE_ENUM {path!r} has members {got}, expected {expected}.",
                hint="Stored column types are read by member name and iterated in member order: "
                "the class needs exactly these names, in this order.",
                obj=cls,
                id="easyautoml_models.E006",
            )
        ]
    return []
