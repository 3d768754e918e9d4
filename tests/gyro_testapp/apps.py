from __future__ import annotations

from django.apps import AppConfig


class GyroTestAppConfig(AppConfig):
    """Models that only the test suite installs (see tests/settings.py)."""

    name = "tests.gyro_testapp"
    label = "gyro_testapp"
    default_auto_field = "django.db.models.BigAutoField"
