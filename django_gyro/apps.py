from __future__ import annotations

from django.apps import AppConfig


class GyroConfig(AppConfig):
    """Django Gyro: declarative Importers and sliced PostgreSQL export/reload."""

    name = "django_gyro"
    verbose_name = "Django Gyro"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from django_gyro import checks  # noqa: F401  (registers the system checks)
        from django_gyro.conf import settings

        if settings.AUTODISCOVER:
            autodiscover_modules("importers")
