from __future__ import annotations

from django.apps import AppConfig


class CivOrmCompatConfig(AppConfig):
    """The CIV-ARCOS ORM API on top of Django's ORM."""

    name = "civ_orm_compat"
    verbose_name = "CIV-ARCOS ORM compatibility"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from civ_orm_compat import checks  # noqa: F401  (registers the system checks)
        from civ_orm_compat._wrapper import install

        # One execute wrapper per connection: transaction guard, metrics, N+1 detection and
        # query-cache invalidation on every write (see civ_orm_compat.caching).
        connection_created.connect(install, dispatch_uid="civ_orm_compat.instrument")
