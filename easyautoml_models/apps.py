"""App configuration of ``easyautoml_models``."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate

__all__ = ["EasyAutoMLModelsConfig", "ensure_super_admin_team"]

#: EasyAutoML-Core's ``models/apps.py`` names, resolved lazily (see ``__getattr__``).
_ORIGINAL_NAMES = {
    "ModelsConfig": "EasyAutoMLModelsConfig",
    "create_easyautoml_admin_team": "ensure_super_admin_team",
}


def __getattr__(name: str) -> Any:
    """EasyAutoML-Core's names. Lazy, so Django still finds exactly one AppConfig here."""
    if name in _ORIGINAL_NAMES:
        return globals()[_ORIGINAL_NAMES[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def ensure_super_admin_team(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """Keep the super-admin team (``EASYAUTOML_SUPER_ADMIN_TEAM_NAME``) and its permission.

    Connected to ``post_migrate``. Idempotent: running it again leaves one team and one
    permission. It never creates a user: the team's administrator is the existing super admin
    (or nobody), and only existing users listed in ``EASYAUTOML_SUPER_ADMIN_TEAM_MEMBERS`` are
    added.
    """
    from django.db import connections, transaction

    from easyautoml_models.conf import app_settings
    from easyautoml_models.models import Team, User

    name = app_settings.SUPER_ADMIN_TEAM_NAME
    if not name:
        return
    # After `migrate easyautoml_models zero` the signal still fires, without our tables.
    if Team._meta.db_table not in connections[using].introspection.table_names():
        return
    with transaction.atomic(using=using):
        team = Team.objects.using(using).filter(name=name).order_by("pk").first()
        if team is None:
            email = app_settings.SUPER_ADMIN_EMAIL
            admin = (
                User.objects.using(using).filter(email__iexact=email).order_by("pk").first()
                if email
                else None
            )
            team = Team.objects.using(using).create(name=name, admin_user=admin)
        team.create_permission()
        members = list(app_settings.SUPER_ADMIN_TEAM_MEMBERS or [])
        if team.admin_user_id is not None:
            team.add_user_to_team(team.admin_user)
        for email in members:
            user = User.objects.using(using).filter(email__iexact=email).first()
            if user is not None:
                team.add_user_to_team(user)


class EasyAutoMLModelsConfig(AppConfig):
    """The EasyAutoML platform's shared models."""

    name = "easyautoml_models"
    label = "easyautoml_models"
    verbose_name = "EasyAutoML"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from easyautoml_models import checks  # noqa: F401 - registers the system checks

        post_migrate.connect(
            ensure_super_admin_team, sender=self, dispatch_uid="easyautoml_models_admin_team"
        )
        post_delete.connect(
            _forget_data_models,
            sender="easyautoml_models.Machine",
            dispatch_uid="easyautoml_models_forget_data_models",
        )


def _forget_data_models(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A deleted machine's data-table classes leave the cache (its tables stay)."""
    from easyautoml_models.data_lines import forget_models

    forget_models(instance.pk)
