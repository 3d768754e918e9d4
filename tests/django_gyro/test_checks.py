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
            "model class.",
            hint="Set Columns.helper to the model the foreign key 'helper' points to.",
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
    assert [m for m in check_importers() if m.id and m.id.startswith("gyro.")] == []


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
