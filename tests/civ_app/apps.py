from __future__ import annotations

from django.apps import AppConfig


class CivAppConfig(AppConfig):
    """The seed's ``User``/``Post`` example models (tables ``users`` and ``posts``)."""

    name = "tests.civ_app"
    label = "civ_app"
    default_auto_field = "django.db.models.BigAutoField"
