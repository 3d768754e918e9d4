"""Settings of ``easyautoml_models``, read live from Django's settings.

Every setting is named ``EASYAUTOML_<NAME>`` in the project's settings and read through
:data:`app_settings`, so ``override_settings`` works without a cache. The two decimal-precision
settings keep the original's unprefixed names because EasyAutoML projects already define them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

__all__ = [
    "DEFAULTS",
    "LEGACY_NAMES",
    "AppSettings",
    "app_settings",
    "decimal_places",
    "max_digits",
]

#: Settings the original read without a prefix: used when the prefixed name is not set.
LEGACY_NAMES = {"BILLING_IXIOO_OPERATIONS_PRICE": "BILLING_IXIOO_OPERATIONS_PRICE"}

#: Every setting (without the ``EASYAUTOML_`` prefix) and its default.
DEFAULTS: dict[str, Any] = {
    # Price per column per line of a training run, in EAML tokens (IXIOO). 0 (the original's
    # default) records training operations without charging; the original's unprefixed
    # BILLING_IXIOO_OPERATIONS_PRICE is honoured when the prefixed setting is absent.
    "BILLING_IXIOO_OPERATIONS_PRICE": {"training_price": Decimal("0")},
    # Seconds without a heartbeat after which a processing work item counts as stale.
    "WORK_LEASE_TIMEOUT": 300,
    # Claims per work item: a stale item on its last attempt is failed instead of requeued.
    "WORK_MAX_ATTEMPTS": 5,
    # The super administrator and the team the post-migrate handler keeps in place.
    "SUPER_ADMIN_EMAIL": "SuperAdmin@easyautoml.com",
    "SUPER_ADMIN_TEAM_NAME": "__Team-EasyAutoML.com__",
    "SUPER_ADMIN_TEAM_MEMBERS": [],
    # Invitation link of a team; ``{token}`` is replaced by a fresh UUID.
    "TEAM_INVITE_URL": "https://easyautoml.com/team/join/{token}",
    # Database alias the logging handler writes to.
    "LOGGER_DATABASE": "default",
    # Lowest level EasyAutoMLLogger().debug/info/... calls store in the log table.
    "LOGGER_DATABASE_LEVEL": "WARNING",
    # Dotted path of the Enum class column types load into (None: easyautoml_models.enums').
    "COLUMN_TYPE_ENUM": None,
}


class AppSettings:
    """Attribute access to the ``EASYAUTOML_*`` settings with their defaults.

    Values are read from ``django.conf.settings`` on every access, never cached.
    """

    prefix = "EASYAUTOML_"

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"unknown easyautoml_models setting {name!r}")
        if hasattr(settings, self.prefix + name):
            return getattr(settings, self.prefix + name)
        if name in LEGACY_NAMES and hasattr(settings, LEGACY_NAMES[name]):
            return getattr(settings, LEGACY_NAMES[name])
        return DEFAULTS[name]


#: The settings object the app reads.
app_settings = AppSettings()


def max_digits() -> int:
    """``MODEL_DECIMAL_FIELD_DEFAULT_MAX_DIGITS`` (default 20)."""
    return int(getattr(settings, "MODEL_DECIMAL_FIELD_DEFAULT_MAX_DIGITS", 20))


def decimal_places() -> int:
    """``MODEL_DECIMAL_FIELD_DEFAULT_DECIMAL_PLACES`` (default 8)."""
    return int(getattr(settings, "MODEL_DECIMAL_FIELD_DEFAULT_DECIMAL_PLACES", 8))
