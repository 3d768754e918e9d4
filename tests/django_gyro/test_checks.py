"""Gyro's system checks (gyro.E001...)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from django_gyro import (
    GyroError,
    Importer,
    registry,
)
from django_gyro.checks import check_importers


def gyro_checks() -> list[checks.CheckMessage]:
    return check_importers()


def test_checks_have_stable_ids_and_hints(fresh: dict[str, Any]) -> None:
    Org, Team, Member = fresh["Org"], fresh["Team"], fresh["Member"]

    class TeamImporter(Importer):
        model = Team

        class Columns:
            org = Org
            parent = Team

    class MemberImporter(Importer):
        model = Member

        class Columns:
            organisation = Org  # not a field
            paid = Org  # not a foreign key
            team = Org  # points to Team, not Org
            helper = "faker"  # not a model

    assert gyro_checks() == [
        checks.Error(
            "Importer 'TeamImporter' declares FK 'org' → 'gyro.Org', which has no registered "
            "Importer.",
            hint="Declare an Importer with model = Org.",
            obj=TeamImporter,
            id="gyro.E004",
        ),
        checks.Error(
            "Importer 'MemberImporter' declares Columns.organisation, but model 'gyro.Member' "
            "has no field 'organisation'.",
            hint="Use the name of a foreign key of gyro.Member (without '_id'), or remove it.",
            obj=MemberImporter,
            id="gyro.E001",
        ),
        checks.Error(
            "Importer 'MemberImporter' declares Columns.paid, but 'gyro.Member.paid' is not a "
            "foreign key.",
            hint="Columns only lists foreign keys (ForeignKey or OneToOneField); remove it.",
            obj=MemberImporter,
            id="gyro.E002",
        ),
        checks.Error(
            "Importer 'MemberImporter' declares FK 'team' → 'gyro.Org', but 'gyro.Member.team' "
            "points to 'gyro.Team'.",
            hint="Set Columns.team = Team.",
            obj=MemberImporter,
            id="gyro.E003",
        ),
        checks.Error(
            "Importer 'MemberImporter' declares Columns.helper = 'faker', which is not a Django "
            "model class, a mask rule or a Faker method.",
            hint=(
                "Set Columns.helper to the model the foreign key 'helper' points to, or to a "
                "rule of django_gyro.mask (mask.email(), ...) for a plain field."
            ),
            obj=MemberImporter,
            id="gyro.E005",
        ),
        checks.Warning(
            "Importer 'MemberImporter' leaves out the foreign key 'org' → 'gyro.Org' of "
            "'gyro.Member' from Columns.",
            hint=(
                "Add `org = Org` to MemberImporter.Columns so job order and the closure report "
                "cover it, or silence gyro.W001."
            ),
            obj=MemberImporter,
            id="gyro.W001",
        ),
    ]


def test_checks_respect_app_configs(fresh: dict[str, Any]) -> None:
    class MemberImporter(Importer):
        model = fresh["Member"]

    assert {m.id for m in check_importers()} == {"gyro.W001"}
    from django.apps import apps

    other = [apps.get_app_config("gyro_example")]
    assert check_importers(app_configs=other) == []


def test_project_importers_pass_the_checks() -> None:
    # The real registry: gyro_example's Importers are autodiscovered at startup.
    from gyro_example.models import OrderItem

    assert registry.get_importer(OrderItem) is not None
    found = [m for m in check_importers() if m.id and m.id.startswith("gyro.")]
    # The example's Importers are the seed's, unmasked: only the personal columns are reported.
    assert {(m.id, m.msg.split("'")[3]) for m in found} == {
        ("gyro.W002", "gyro_example.Customer.email"),
        ("gyro.W002", "gyro_example.Customer.first_name"),
        ("gyro.W002", "gyro_example.Customer.last_name"),
        ("gyro.W002", "gyro_example.Customer.phone"),
    }


def test_system_checks_stop_the_export_before_any_sql(tmp_path: Path) -> None:
    from gyro_example.models import OrderItem as OrderItem_

    with registry.isolated():

        class BrokenImporter(Importer):
            model = OrderItem_

            class Columns:
                tenant = OrderItem_  # wrong target: gyro.E003

        with pytest.raises(SystemCheckError, match=r"gyro\.E003"):
            call_command(
                "gyro_export",
                "--jobs",
                "gyro_example/jobs.py",
                "--output",
                str(tmp_path),
                skip_checks=False,
                stdout=io.StringIO(),
            )
    assert list(tmp_path.iterdir()) == []


def test_mask_rules_are_checked_against_their_fields(fresh: dict[str, Any]) -> None:
    from django_gyro import mask

    Org, Team, Member = fresh["Org"], fresh["Team"], fresh["Member"]

    class OrgImporter(Importer):
        model = Org

        class Columns:
            name = mask.text()  # fits

    class TeamImporter(Importer):
        model = Team

        class Columns:
            org = Org
            parent = Team
            name = mask.email()  # varchar(10): too short

    class MemberImporter(Importer):
        model = Member

        class Columns:
            org = mask.hash()  # a foreign key
            team = Team
            nickname = mask.name()  # not a field

    assert gyro_checks() == [
        checks.Error(
            "Importer 'TeamImporter' masks 'gyro.Team.name' with mask.email(): mask.email() "
            "needs a column of at least 41 chars.",
            hint="Choose a rule that fits the field (see docs/gyro.md, Masking).",
            obj=TeamImporter,
            id="gyro.E008",
        ),
        checks.Error(
            "Importer 'MemberImporter' masks 'gyro.Member.org' with mask.hash(), but it is a "
            "primary key, a relation or not a column.",
            hint=(
                "Keys cannot be masked (the reload and the closure report need them); mask the "
                "plain fields that hold the personal data instead."
            ),
            obj=MemberImporter,
            id="gyro.E007",
        ),
        checks.Error(
            "Importer 'MemberImporter' masks Columns.nickname with mask.name(), but model "
            "'gyro.Member' has no field 'nickname'.",
            hint="Use the name of a concrete field of gyro.Member, or remove it.",
            obj=MemberImporter,
            id="gyro.E001",
        ),
    ]


def test_personal_columns_of_a_user_model_are_warned_about() -> None:
    from django.contrib.auth import get_user_model

    from django_gyro import mask

    User = get_user_model()
    with registry.isolated():

        class UserImporter(Importer):
            model = User

        assert sorted(
            (m.id, m.msg.split("'")[3].split(".")[-1])
            for m in gyro_checks()
            if m.id == "gyro.W002"
        ) == [
            ("gyro.W002", "email"),
            ("gyro.W002", "first_name"),
            ("gyro.W002", "last_name"),
            ("gyro.W002", "password"),
        ]
        password = next(m for m in gyro_checks() if "password" in m.msg)
        assert password == checks.Warning(
            f"Importer 'UserImporter' exports '{User._meta.label}.password' unmasked, and it "
            f"looks personal (the password hash of a user model).",
            hint=(
                "Add `password = mask.<rule>()` to UserImporter.Columns (see django_gyro.mask), "
                "exclude it from the job, or list it in ImportJob(..., unmasked=('password',)) "
                "after review. With GYRO_REQUIRE_MASKS = True the export refuses it."
            ),
            obj=UserImporter,
            id="gyro.W002",
        )

    with registry.isolated():

        class MaskedUserImporter(Importer):
            model = User

            class Columns:
                email = mask.email()
                first_name = mask.first_name()
                last_name = mask.last_name()
                password = mask.constant("!")

        assert [m for m in gyro_checks() if m.id == "gyro.W002"] == []


def test_dataslicer_run_runs_the_checks_before_touching_anything(tmp_path: Path) -> None:
    # A notebook never runs `manage.py check`: DataSlicer.run does, for the models involved.
    from django_gyro import DataSlicer, DeclarationError, ImportJob
    from gyro_example.models import OrderItem as OrderItem_
    from gyro_example.models import Tenant

    export_dir = tmp_path / "never"
    with registry.isolated():

        class TenantImporter(Importer):
            model = Tenant

        class BrokenImporter(Importer):
            model = OrderItem_

            class Columns:
                tenant = OrderItem_  # wrong target: gyro.E003

        with pytest.raises(DeclarationError) as info:
            DataSlicer.run(
                DataSlicer.Postgres("postgres://127.0.0.1:1/unreachable"),
                DataSlicer.File(export_dir),
                [ImportJob(Tenant), ImportJob(OrderItem_)],
            )
        assert str(info.value) == (
            "the Importers fail Gyro's system checks (see docs/checks.md): gyro.E003 Importer "
            "'BrokenImporter' declares FK 'tenant' → 'gyro_example.OrderItem', but "
            "'gyro_example.OrderItem.tenant' points to 'gyro_example.Tenant'. Hint: Set "
            "Columns.tenant = Tenant."
        )
        assert not export_dir.exists()
        # Only the models involved: an export of the tenants alone is not stopped by it.
        with pytest.raises(GyroError, match="cannot connect to database"):
            DataSlicer.run(
                DataSlicer.Postgres("postgres://127.0.0.1:1/unreachable"),
                DataSlicer.File(export_dir),
                [ImportJob(Tenant)],
            )


def test_shared_must_name_foreign_keys(fresh: dict[str, Any]) -> None:
    Org, Member = fresh["Org"], fresh["Member"]

    class OrgImporter(Importer):
        model = Org

    class MemberImporter(Importer):
        model = Member
        shared = ("org", "paid")

        class Columns:
            org = Org

    assert [m for m in check_importers() if m.id == "gyro.E006"] == [
        checks.Error(
            "Importer 'MemberImporter' declares shared = ('org', 'paid'), but 'gyro.Member.paid' "
            "is not a foreign key.",
            hint="List the foreign keys (field names, without '_id') whose parent rows are "
            "shared lookup rows already in every target.",
            obj=MemberImporter,
            id="gyro.E006",
        )
    ]
