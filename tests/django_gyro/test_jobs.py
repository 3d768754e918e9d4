"""ImportJob, job lists and jobs files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import models
from django.test.utils import isolate_apps

from django_gyro import (
    Importer,
    ImportJob,
    JobError,
    JobOrderError,
)
from django_gyro.jobs import load_jobs, validate_jobs


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


def test_job_for_a_model_without_importer_is_an_error(fresh: dict[str, Any]) -> None:
    with pytest.raises(JobError, match=r"'gyro.Org' has no registered Importer"):
        validate_jobs([ImportJob(model=fresh["Org"])])


def test_jobs_are_ordered_parents_first_keeping_the_given_order(fresh: dict[str, Any]) -> None:
    _declare_all(fresh)
    Org, Team, Member = fresh["Org"], fresh["Team"], fresh["Member"]
    ok = [ImportJob(model=Org), ImportJob(model=Team), ImportJob(model=Member)]
    lines: list[str] = []
    assert validate_jobs(ok, lines.append) == ok
    assert lines == ["jobs already parent-first: #1 gyro.Org, #2 gyro.Team, #3 gyro.Member"]
    shuffled = [ImportJob(model=Member), ImportJob(model=Org), ImportJob(model=Team)]
    lines.clear()
    ordered = validate_jobs(shuffled, lines.append)
    assert [job.label for job in ordered] == ["gyro.Org", "gyro.Team", "gyro.Member"]
    assert lines == [
        "jobs ordered parent-first (Importer Columns): #1 gyro.Org, #2 gyro.Team, #3 gyro.Member"
    ]
    # A self-referential FK (Team.parent) is not a cycle; a job whose parent has no job is fine.
    assert len(validate_jobs([ImportJob(model=Team), ImportJob(model=Member)])) == 2
    with pytest.raises(JobError, match="has two jobs"):
        validate_jobs([ImportJob(model=Org), ImportJob(model=Org)])
    with pytest.raises(JobError, match="no jobs given"):
        validate_jobs([])
    with pytest.raises(JobError, match="not an ImportJob"):
        validate_jobs([ImportJob(model=Org), Team])


def test_a_cycle_among_columns_names_the_cycle_and_the_fix(fresh: dict[str, Any]) -> None:
    Org, Team = fresh["Org"], fresh["Team"]
    with isolate_apps("tests.django_gyro"):

        class Author(models.Model):  # noqa: DJ008
            favourite = models.ForeignKey("Book", null=True, on_delete=models.SET_NULL)

            class Meta:
                app_label = "gyro"

        class Book(models.Model):  # noqa: DJ008
            author = models.ForeignKey(Author, on_delete=models.CASCADE)

            class Meta:
                app_label = "gyro"

        class AuthorImporter(Importer):
            model = Author

            class Columns:
                favourite = Book

        class BookImporter(Importer):
            model = Book

            class Columns:
                author = Author

        class OrgImporter(Importer):
            model = Org

        with pytest.raises(JobOrderError) as info:
            validate_jobs([ImportJob(model=Org), ImportJob(model=Book), ImportJob(model=Author)])
    assert str(info.value) == (
        "the jobs' Importer Columns form a cycle, so no job order puts parents first: "
        "gyro.Book.author -> gyro.Author; gyro.Author.favourite -> gyro.Book; leave a nullable "
        "foreign key out of its Importer's Columns, e.g. AuthorImporter.Columns.favourite"
    )
    del Team


def test_two_jobs_writing_one_file_are_refused(fresh: dict[str, Any]) -> None:
    Org = fresh["Org"]
    with isolate_apps("tests.django_gyro"):

        class OrgProxy(Org):  # type: ignore[misc,valid-type]
            class Meta:
                proxy = True
                app_label = "gyro"

        class OrgImporter(Importer):
            model = Org

        class OrgProxyImporter(Importer):
            model = OrgProxy

        with pytest.raises(JobError) as info:
            validate_jobs([ImportJob(model=Org), ImportJob(model=OrgProxy)])
    assert str(info.value) == (
        "job #1 ImportJob(gyro.Org) and job #2 ImportJob(gyro.OrgProxy) would both write "
        "gyro_org.csv (a proxy model and its concrete model, or two models on one table); keep "
        "one of them"
    )


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
