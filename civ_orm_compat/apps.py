from __future__ import annotations

from django.apps import AppConfig


class CivOrmCompatConfig(AppConfig):
    """The CIV-ARCOS ORM API on top of Django's ORM."""

    name = "civ_orm_compat"
    verbose_name = "CIV-ARCOS ORM compatibility"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from civ_orm_compat import checks  # noqa: F401  (registers the system checks)
        from civ_orm_compat.caching import on_model_write
        from civ_orm_compat.instrumentation import install

        connection_created.connect(install, dispatch_uid="civ_orm_compat.instrument")
        for signal in (post_save, post_delete, m2m_changed):
            signal.connect(on_model_write, dispatch_uid=f"civ_orm_compat.cache.{id(signal)}")
