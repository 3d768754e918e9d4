from __future__ import annotations

from django.apps import AppConfig


class GyroConfig(AppConfig):
    """Django Gyro: declarative Importers and sliced PostgreSQL export/reload."""

    name = "django_gyro"
    verbose_name = "Django Gyro"
    default_auto_field = "django.db.models.BigAutoField"
