"""Teams: users who share machines, with one permission per team."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from easyautoml_models.conf import app_settings

__all__ = ["Team", "delete_team_permission"]


class Team(models.Model):
    """A group of users administered by one of them.

    Membership grants the team's permission (codename ``can_use_team_<id>``); deleting the team
    (also through a cascade, e.g. when its admin is deleted) deletes that permission, and leaves
    its machines without a team.
    """

    name = models.CharField(max_length=200)
    admin_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True
    )
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="Teams", blank=True)
    url = models.URLField(unique=True, default=None, null=True, blank=True)
    permission = models.OneToOneField(Permission, on_delete=models.CASCADE, null=True)

    class Meta:
        db_table = "Team"
        indexes = [models.Index(fields=["name"], name="team_name_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def permission_codename(self) -> str:
        """The codename of this team's permission."""
        return f"can_use_team_{self.pk}"

    @classmethod
    def get_super_admin_team(cls) -> Team | None:
        """The team named ``EASYAUTOML_SUPER_ADMIN_TEAM_NAME``, or None."""
        return cls.objects.filter(name=app_settings.SUPER_ADMIN_TEAM_NAME).order_by("pk").first()

    def create_permission(self) -> Permission:
        """Create (or return) this team's permission and link it to the team.

        Raises:
            ValueError: the team is not saved yet.
        """
        if self.pk is None:
            raise ValueError("save the team before creating its permission")
        if self.permission_id is not None and self.permission is not None:
            return self.permission
        db = self._state.db or "default"
        content_type = ContentType.objects.db_manager(db).get_for_model(type(self))
        permission, _ = Permission.objects.using(db).get_or_create(
            codename=self.permission_codename,
            content_type=content_type,
            defaults={"name": f"Can use team {self.name}"[:255]},
        )
        self.permission = permission
        self.save(update_fields=["permission"])
        return permission

    def add_user_to_team(self, user: Any) -> None:
        """Add ``user`` to the team and grant the team's permission."""
        db = self._state.db or "default"
        with transaction.atomic(using=db):
            permission = self.create_permission()
            self.users.add(user)
            user.user_permissions.add(permission)

    def remove_user_from_team(self, user: Any) -> None:
        """Remove ``user`` from the team and revoke the team's permission.

        Raises:
            ValueError: ``user`` is not a member.
        """
        db = self._state.db or "default"
        with transaction.atomic(using=db):
            if not self.users.filter(pk=user.pk).exists():
                raise ValueError(f"user {user} is not a member of team {self.name!r}")
            self.users.remove(user)
            if self.permission_id is not None:
                user.user_permissions.remove(self.permission_id)

    def user_leave_team(self, user: Any) -> None:
        """Let a member leave; the administrator cannot leave their own team.

        Raises:
            ValueError: ``user`` administers the team, or is not a member.
        """
        if user.pk == self.admin_user_id:
            raise ValueError(f"user {user} administers team {self.name!r} and cannot leave it")
        self.remove_user_from_team(user)

    def generate_link(self) -> str:
        """Give the team a fresh invitation URL (``EASYAUTOML_TEAM_INVITE_URL``) and return it."""
        self.url = app_settings.TEAM_INVITE_URL.format(token=uuid.uuid4())
        if self.pk is not None:
            self.save(update_fields=["url"])
        return self.url


@receiver(post_delete, sender=Team, dispatch_uid="easyautoml_models_team_permission")
def delete_team_permission(sender: type[Team], instance: Team, using: str, **kwargs: Any) -> None:
    """Delete the permission of a deleted team (the original left it orphaned)."""
    if instance.permission_id is not None:
        Permission.objects.using(using).filter(pk=instance.permission_id).delete()
