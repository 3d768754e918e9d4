"""Settings of ``easyautoml_models``, read live from Django's settings.

Every setting is named ``EASYAUTOML_<NAME>`` in the project's settings and read through
:data:`app_settings`, so ``override_settings`` works without a cache. The two decimal-precision
settings keep the original's unprefixed names because EasyAutoML projects already define them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

__all__ = ["DEFAULTS", "AppSettings", "app_settings", "decimal_places", "max_digits"]

#: Every setting (without the ``EASYAUTOML_`` prefix) and its default.
DEFAULTS: dict[str, Any] = {
    # Price per column per line of a training run, in EAML tokens (IXIOO).
    "BILLING_IXIOO_OPERATIONS_PRICE": {"training_price": Decimal("0.0001")},
    # Seconds without a heartbeat after which a processing work item counts as stale.
    "WORK_LEASE_TIMEOUT": 300,
    # A stale item that has already been requeued this many times is failed instead.
    "WORK_MAX_ATTEMPTS": 5,
    # The super administrator and the team the post-migrate handler keeps in place.
    "SUPER_ADMIN_EMAIL": "SuperAdmin@easyautoml.com",
    "SUPER_ADMIN_TEAM_NAME": "__Team-EasyAutoML.com__",
    "SUPER_ADMIN_TEAM_MEMBERS": [],
    # Invitation link of a team; ``{token}`` is replaced by a fresh UUID.
    "TEAM_INVITE_URL": "https://easyautoml.com/team/join/{token}",
    # Database alias the logging handler writes to.
    "LOGGER_DATABASE": "default",
}


class AppSettings:
    """Attribute access to the ``EASYAUTOML_*`` settings with their defaults.

    Values are read from ``django.conf.settings`` on every access, never cached.
    """

    prefix = "EASYAUTOML_"

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"unknown easyautoml_models setting {name!r}")
        return getattr(settings, self.prefix + name, DEFAULTS[name])


#: The settings object the app reads.
app_settings = AppSettings()


def max_digits() -> int:
    """``MODEL_DECIMAL_FIELD_DEFAULT_MAX_DIGITS`` (default 20)."""
    return int(getattr(settings, "MODEL_DECIMAL_FIELD_DEFAULT_MAX_DIGITS", 20))


def decimal_places() -> int:
    """``MODEL_DECIMAL_FIELD_DEFAULT_DECIMAL_PLACES`` (default 8)."""
    return int(getattr(settings, "MODEL_DECIMAL_FIELD_DEFAULT_DECIMAL_PLACES", 8))
