"""Settings of Django Gyro, read live from Django settings with the ``GYRO_`` prefix.

* ``GYRO_AUTODISCOVER`` (default ``True``): import ``<app>.importers`` of every installed app at
  startup, so Importers are registered before system checks and exports run.
* ``GYRO_CLOSURE_EXAMPLES`` (default ``5``): how many example keys the closure report lists per
  foreign key column.
* ``GYRO_CLOSURE_KEYS`` (default ``250000``): the most distinct key values per column the export
  keeps in memory while collecting keys for the closure report; a column with more is checked
  with an SQL anti-join after the export instead.
* ``GYRO_CLOSURE_WORK_MEM`` (default ``"64MB"``): PostgreSQL ``work_mem`` for the closure
  queries, set for the export transaction only (``None``: the server's setting).
* ``GYRO_WRITE_BUFFER`` (default 1 MiB): buffer size, in bytes, of each CSV file being written.
* ``GYRO_MASK_SALT`` (default ``None``): the secret the mask rules hash with; masking refuses to
  run without it (or ``DataSlicer.run(..., mask_salt=...)``). Keep it out of the repository.
* ``GYRO_REQUIRE_MASKS`` (default ``False``): an export refuses columns that look personal
  (``gyro.W002``) unless they are masked, excluded or listed in ``ImportJob(unmasked=...)``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings

__all__ = ["DEFAULTS", "settings"]

DEFAULTS: dict[str, Any] = {
    "AUTODISCOVER": True,
    "CLOSURE_EXAMPLES": 5,
    "CLOSURE_KEYS": 250_000,
    "CLOSURE_WORK_MEM": "64MB",
    "WRITE_BUFFER": 1024 * 1024,
    "MASK_SALT": None,
    "REQUIRE_MASKS": False,
}


class GyroSettings:
    """Attribute access to the ``GYRO_*`` settings with their defaults.

    Values are read from ``django.conf.settings`` on every access, so ``override_settings``
    works without a cache to reset.
    """

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"unknown Django Gyro setting {name!r}")
        return getattr(django_settings, f"GYRO_{name}", DEFAULTS[name])


settings = GyroSettings()
