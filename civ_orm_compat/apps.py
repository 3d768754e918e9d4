from __future__ import annotations

from django.apps import AppConfig


class CivOrmCompatConfig(AppConfig):
    """The CIV-ARCOS ORM API on top of Django's ORM."""

    name = "civ_orm_compat"
    verbose_name = "CIV-ARCOS ORM compatibility"
    default_auto_field = "django.db.models.BigAutoField"
