from __future__ import annotations

from django.apps import AppConfig


class GyroExampleConfig(AppConfig):
    """The e-commerce example of Django Gyro: tenants, shops, customers, products and orders."""

    name = "gyro_example"
    verbose_name = "Gyro example shop"
    default_auto_field = "django.db.models.BigAutoField"
