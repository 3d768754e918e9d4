"""Users (e-mail login, case-insensitive), teams and their permissions, the super admin."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction
from django.test import override_settings

from easyautoml_models.apps import ensure_super_admin_team
from easyautoml_models.factories import MachineFactory, TeamFactory, UserFactory
from easyautoml_models.models import Machine, Team, User

pytestmark = pytest.mark.django_db


def test_create_user_defaults_and_password() -> None:
    user = User.objects.create_user(
        email="John.Doe@Example.COM", password="pw-for-test", first_name="John", last_name="Doe"
    )
    assert user.email == "John.Doe@example.com"  # the domain is normalized
    assert not user.is_staff and not user.is_superuser and not user.is_super_admin
    assert user.check_password("pw-for-test")
    assert user.get_full_name() == "John Doe" == user.full_name
    assert authenticate(username="john.doe@EXAMPLE.com", password="pw-for-test") == user


def test_create_superuser_sets_every_flag_and_refuses_contradictions() -> None:
    admin = User.objects.create_superuser(
        email="admin@example.com", password="pw", first_name="Admin", last_name="User"
    )
    assert admin.is_staff and admin.is_superuser and admin.is_super_admin
    with pytest.raises(ValueError, match="is_staff=True"):
        User.objects.create_superuser(email="a2@example.com", password="pw", is_staff=False)
    with pytest.raises(ValueError, match="is_superuser=True"):
        User.objects.create_superuser(email="a3@example.com", password="pw", is_superuser=False)
    assert User.objects.count() == 1


def test_emails_collide_whatever_their_case() -> None:
    User.objects.create_user(email="A@x.com")
    with pytest.raises(ValueError, match="already exists"):
        User.objects.create_user(email="a@X.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        User(email="a@x.com").save()  # the database enforces it too
    with pytest.raises(ValueError, match="e-mail address is required"):
        User.objects.create_user(email="")
    assert User.objects.count() == 1


def test_full_name_is_empty_without_names() -> None:
    """EasyAutoML-Core's get_full_name() returns "" when there are no names (callers test it)."""
    user = User(email="x@example.com")
    assert user.get_full_name() == "" == user.full_name
    assert User(email="x@example.com", last_name="Doe").get_full_name() == "Doe"


def test_get_super_admin_finds_but_never_creates() -> None:
    assert User.get_super_admin() is None
    assert User.objects.count() == 0
    flagged = UserFactory.create(is_super_admin=True)
    assert User.get_super_admin() == flagged
    named = UserFactory.create(email="superadmin@EASYAUTOML.com")
    assert User.get_super_admin() == named  # the configured e-mail wins, any case


def test_no_hard_coded_password_in_the_app() -> None:
    root = Path(__file__).resolve().parents[2] / "easyautoml_models"
    found = subprocess.run(
        ["grep", "-rniE", "easyautoml999|password *= *['\"]easyautoml", str(root)],
        capture_output=True,
        text=True,
    )
    assert found.stdout == ""


def test_create_team_makes_permission_and_membership(user: User) -> None:
    team = user.create_team("Data Science Team")
    assert team.admin_user == user
    assert list(user.get_user_teams()) == [team]
    assert team.permission is not None
    assert team.permission.codename == f"can_use_team_{team.pk}"
    assert user.has_perm(f"easyautoml_models.can_use_team_{team.pk}")
    with pytest.raises(ValueError, match="already administers"):
        user.create_team("Data Science Team")
    with pytest.raises(ValueError, match="non-empty"):
        user.create_team("  ")
    assert Team.objects.filter(admin_user=user).count() == 1


def test_add_and_remove_members_grant_and_revoke(user: User) -> None:
    team = TeamFactory.create(admin_user=user)
    member = UserFactory.create()
    team.add_user_to_team(member)
    member = User.objects.get(pk=member.pk)  # fresh permission cache
    assert member.has_perm(f"easyautoml_models.{team.permission_codename}")
    team.remove_user_from_team(member)
    member = User.objects.get(pk=member.pk)
    assert not member.has_perm(f"easyautoml_models.{team.permission_codename}")
    assert list(member.get_user_teams()) == []
    with pytest.raises(ValueError, match="not a member"):
        team.remove_user_from_team(member)
    with pytest.raises(ValueError, match="cannot leave"):
        team.user_leave_team(user)


def test_generate_link_gives_a_unique_url(user: User) -> None:
    first, second = TeamFactory.create(admin_user=user), TeamFactory.create(admin_user=user)
    url = first.generate_link()
    assert url.startswith("https://") and Team.objects.get(pk=first.pk).url == url
    assert second.generate_link() != url


def test_deleting_the_admin_cascades_to_the_team_and_its_permission(user: User) -> None:
    team = user.create_team("Doomed")
    permission_id = team.permission_id
    assert permission_id is not None
    user.delete()
    assert not Team.objects.filter(pk=team.pk).exists()
    assert not Permission.objects.filter(pk=permission_id).exists()


def test_deleting_a_team_removes_its_permission_and_keeps_machines(user: User) -> None:
    team = TeamFactory.create(admin_user=user)
    machine = MachineFactory.create(machine_owner_user=user, machine_owner_team=team)
    permission_id = team.permission_id
    assert permission_id is not None
    team.delete()
    assert not Permission.objects.filter(pk=permission_id).exists()
    assert Machine.objects.get(pk=machine.pk).machine_owner_team is None


@override_settings(EASYAUTOML_SUPER_ADMIN_TEAM_MEMBERS=["member@example.com", "nobody@x.com"])
def test_post_migrate_handler_is_idempotent_and_creates_no_user() -> None:
    from django.apps import apps

    admin = UserFactory.create(email="SuperAdmin@easyautoml.com")
    member = UserFactory.create(email="member@example.com")
    users_before = User.objects.count()
    config = apps.get_app_config("easyautoml_models")
    Team.objects.filter(name="__Team-EasyAutoML.com__").delete()
    ensure_super_admin_team(config)
    ensure_super_admin_team(config)
    teams = Team.objects.filter(name="__Team-EasyAutoML.com__")
    assert teams.count() == 1
    team = teams.get()
    assert team.admin_user == admin
    assert set(team.users.all()) == {admin, member}
    assert Permission.objects.filter(codename=team.permission_codename).count() == 1
    assert User.objects.count() == users_before
