from __future__ import annotations

from django.apps import AppConfig


class CivPortConfig(AppConfig):
    """Models of the port-style tests of civ_orm_compat (code written for the original API)."""

    name = "tests.civ_port"
    label = "civ_port"
    default_auto_field = "django.db.models.BigAutoField"
