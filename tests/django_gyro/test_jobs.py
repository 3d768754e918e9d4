"""ImportJob, job lists and jobs files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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
