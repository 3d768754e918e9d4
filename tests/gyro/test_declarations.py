"""Importer declarations, the registry, system checks, ImportJob and job order (no database)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import models
from django.test.utils import isolate_apps

from django_gyro import (
    DuplicateImporter,
    Importer,
    ImportJob,
    JobError,
    JobOrderError,
    limit_per,
    registry,
)
from django_gyro.checks import check_importers
from django_gyro.jobs import load_jobs, validate_jobs


@pytest.fixture
def fresh() -> Iterator[dict[str, Any]]:
    """Throw-away models (app label ``gyro``) and an empty Importer registry."""
    with isolate_apps("tests.gyro"), registry.isolated():

        class Org(models.Model):  # noqa: DJ008
            name = models.CharField(max_length=10)

            class Meta:
                app_label = "gyro"

        class Team(models.Model):  # noqa: DJ008
            org = models.ForeignKey(Org, on_delete=models.CASCADE)
            parent = models.ForeignKey("self", null=True, on_delete=models.CASCADE)
            name = models.CharField(max_length=10)

            class Meta:
                app_label = "gyro"

        class Member(models.Model):  # noqa: DJ008
            org = models.ForeignKey(Org, on_delete=models.CASCADE)
            team = models.ForeignKey(Team, on_delete=models.CASCADE)
            paid = models.BooleanField(default=False)
            org_code = models.CharField(max_length=5, db_column="OrgCode")

            class Meta:
                app_label = "gyro"

        yield {"Org": Org, "Team": Team, "Member": Member}


def gyro_checks() -> list[checks.CheckMessage]:
    return check_importers()


def test_importer_collects_columns_and_registers(fresh: dict[str, Any]) -> None:
    Org, Team = fresh["Org"], fresh["Team"]

    class OrgImporter(Importer):
        model = Org

    class TeamImporter(Importer):
        model = Team

        class Columns:
            org = Org
            parent = Team

    assert registry.get_importer(Team) is TeamImporter
    assert TeamImporter.columns == {"org": Org, "parent": Team}
    assert TeamImporter.get_file_name() == "gyro_team.csv"
    assert OrgImporter.columns == {}
    assert registry.registered() == (OrgImporter, TeamImporter)
    assert gyro_checks() == []


def test_missing_or_wrong_model_is_a_type_error(fresh: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="must set `model = "):

        class NoModel(Importer):
            pass

    with pytest.raises(TypeError, match="not a Django model class"):

        class NotAModel(Importer):
            model = dict  # type: ignore[assignment]

    assert registry.registered() == ()


def test_second_importer_for_a_model_is_an_error(fresh: dict[str, Any]) -> None:
    Org = fresh["Org"]

    class OrgImporter(Importer):
        model = Org

    with pytest.raises(DuplicateImporter, match=r"already has Importer '.*OrgImporter'"):

        class OtherOrgImporter(Importer):
            model = Org

    assert registry.get_importer(Org) is OrgImporter


def test_same_class_statement_run_twice_replaces(fresh: dict[str, Any]) -> None:
    # A notebook cell executed twice defines a new class with the same module and name.
    Org = fresh["Org"]
    first = None
    for _ in range(2):

        class OrgImporter(Importer):
            model = Org

        first = first or OrgImporter
    assert registry.get_importer(Org) is OrgImporter
    assert OrgImporter is not first


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


def _declare_all(fresh: dict[str, Any]) -> None:
    Org, Team, Member = fresh["Org"], fresh["Team"], fresh["Member"]

    class OrgImporter(Importer):
        model = Org

    class TeamImporter(Importer):
        model = Team

        class Columns:
            org = Org
            parent = Team

    class MemberImporter(Importer):
        model = Member

        class Columns:
            org = Org
            team = Team


def test_import_job_validation(fresh: dict[str, Any]) -> None:
    Org, Team, Member = fresh["Org"], fresh["Team"], fresh["Member"]
    with pytest.raises(TypeError, match="must be a Django model class"):
        ImportJob(model="Org", query=Org.objects.all())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="query must be a QuerySet"):
        ImportJob(model=Org, query=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(JobError, match=r"got a query of 'gyro.Team'"):
        ImportJob(model=Org, query=Team.objects.all())
    with pytest.raises(TypeError, match="not the string 'paid'"):
        ImportJob(model=Member, exclude="paid")
    with pytest.raises(JobError, match=r"unknown field\(s\) 'pai'"):
        ImportJob(model=Member, exclude=["pai"])
    with pytest.raises(JobError, match="cannot exclude the primary key"):
        ImportJob(model=Member, exclude=["id"])
    # exact names only: excluding "org" keeps "org_code" and "paid" (the original's substring
    # matching dropped org_id, paid ... for exclude=["id"]).
    job = ImportJob(model=Member, exclude=["org"])
    assert [f.column for f in job.fields()] == ["id", "team_id", "paid", "OrgCode"]
    assert [f.name for f in ImportJob(model=Member, exclude=["org_id"]).fields()] == [
        "id",
        "team",
        "paid",
        "org_code",
    ]
    assert ImportJob(model=Org).query.model is Org


def test_job_order_is_checked_and_names_both_jobs(fresh: dict[str, Any]) -> None:
    _declare_all(fresh)
    Org, Team, Member = fresh["Org"], fresh["Team"], fresh["Member"]
    ok = [ImportJob(model=Org), ImportJob(model=Team), ImportJob(model=Member)]
    assert validate_jobs(ok) == ok
    with pytest.raises(
        JobOrderError,
        match=r"job #2 ImportJob\(gyro.Member\) references gyro.Team through 'team', so it "
        r"must come after job #3 ImportJob\(gyro.Team\)",
    ):
        validate_jobs([ImportJob(model=Org), ImportJob(model=Member), ImportJob(model=Team)])
    # A self-referential FK (Team.parent) is not a cycle; a job whose parent has no job is fine.
    assert len(validate_jobs([ImportJob(model=Team), ImportJob(model=Member)])) == 2
    with pytest.raises(JobError, match="has two jobs"):
        validate_jobs([ImportJob(model=Org), ImportJob(model=Org)])
    with pytest.raises(JobError, match="no jobs given"):
        validate_jobs([])
    with pytest.raises(JobError, match="not an ImportJob"):
        validate_jobs([ImportJob(model=Org), Team])


def test_job_for_a_model_without_importer_is_an_error(fresh: dict[str, Any]) -> None:
    with pytest.raises(JobError, match=r"'gyro.Org' has no registered Importer"):
        validate_jobs([ImportJob(model=fresh["Org"])])


def test_limit_per_rejects_bad_arguments(fresh: dict[str, Any]) -> None:
    Member = fresh["Member"]
    with pytest.raises(ValueError, match="positive integer"):
        limit_per(Member.objects.all(), "team", 0)
    with pytest.raises(ValueError, match="has no field 'squad'"):
        limit_per(Member.objects.all(), "squad", 3)
    with pytest.raises(TypeError, match="needs a QuerySet"):
        limit_per([], "team", 3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("JOBS = [", "failed: SyntaxError"),
        ("raise RuntimeError('boom')", "failed: RuntimeError: boom"),
        ("X = 1", "defines neither JOBS nor a jobs"),
        ("JOBS = 'Tenant'", "must be a list of ImportJob, got str"),
        ("JOBS = [1]", "job #1 is 1, not an ImportJob"),
        ("def jobs():\n    raise KeyError('k')", "jobs\\(\\) failed: KeyError"),
    ],
)
def test_bad_jobs_files(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "jobs.py"
    if content is not None:
        path.write_text(content)
    with pytest.raises(JobError, match=message):
        load_jobs(str(path))


def test_jobs_module_by_dotted_name() -> None:
    jobs = load_jobs("gyro_example.jobs")
    assert [job.label for job in jobs] == [
        "gyro_example.Tenant",
        "gyro_example.Shop",
        "gyro_example.Product",
        "gyro_example.Customer",
        "gyro_example.Order",
        "gyro_example.OrderItem",
    ]
    with pytest.raises(JobError, match="cannot be imported"):
        load_jobs("gyro_example.no_such_module")


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
                "--target",
                str(tmp_path),
                skip_checks=False,
                stdout=io.StringIO(),
            )
    assert list(tmp_path.iterdir()) == []


def test_settings_are_read_live(settings: Any) -> None:
    from django_gyro.conf import settings as gyro_settings

    assert gyro_settings.CLOSURE_EXAMPLES == 5
    settings.GYRO_CLOSURE_EXAMPLES = 2
    assert gyro_settings.CLOSURE_EXAMPLES == 2
    with pytest.raises(AttributeError, match="unknown Django Gyro setting"):
        _ = gyro_settings.NOPE


def test_unsupported_endpoint_combinations(tmp_path: Path) -> None:
    from django_gyro import DataSlicer, GyroError
    from gyro_example.jobs import build_jobs

    with pytest.raises(GyroError, match="cannot go from DataSlicer.File"):
        DataSlicer.run(
            source=DataSlicer.File(tmp_path / "a"),
            target=DataSlicer.File(tmp_path / "b"),
            jobs=build_jobs(),
        )
    with pytest.raises(GyroError, match="an export needs jobs="):
        DataSlicer.run(source=DataSlicer.Postgres("default"), target=DataSlicer.File(tmp_path))
    with pytest.raises(TypeError, match="unexpected option"):
        DataSlicer.run(
            source=DataSlicer.Postgres("default"),
            target=DataSlicer.File(tmp_path),
            jobs=build_jobs(),
            on_conflict="remap",
        )
    with pytest.raises(GyroError, match="needs a database URL or a Django alias"):
        DataSlicer.Postgres("")
    assert list(tmp_path.iterdir()) == []
