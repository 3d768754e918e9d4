from __future__ import annotations

from django.apps import AppConfig


class EasyAutoMLModelsConfig(AppConfig):
    """The EasyAutoML platform's shared models."""

    name = "easyautoml_models"
    verbose_name = "EasyAutoML"
    default_auto_field = "django.db.models.BigAutoField"
