from __future__ import annotations

from django.apps import AppConfig


class GyroPlanningAppConfig(AppConfig):
    """Models for the slice planner's tests (see tests/settings.py)."""

    name = "tests.gyro_planning_app"
    label = "gyro_planning_app"
    default_auto_field = "django.db.models.BigAutoField"
