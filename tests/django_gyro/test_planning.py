"""plan_slice on a real PostgreSQL: the example's slice from a root, a diamond, self-references."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections

from django_gyro import DataSlicer, Importer, ImportJob, registry
from django_gyro.export.results import ExportResult
from django_gyro.planning import PlanError, per, plan_slice
from gyro_example.jobs import DEMO_TENANT, build_jobs, planned_jobs
from gyro_example.models import Customer, Order, OrderItem, Product, Shop, Tenant
from tests.django_gyro.helpers import TRANSACTIONAL
from tests.gyro_planning_app.models import Label, Org, Project, Task, Team

pytestmark = [pytest.mark.postgresql]

PLANNING = pytest.mark.django_db(
    transaction=True, available_apps=["django_gyro", "gyro_example", "tests.gyro_planning_app"]
)


def export(out: Path, jobs: list[ImportJob]) -> ExportResult:
    result: ExportResult = DataSlicer.run(
        source=DataSlicer.Postgres("default"),
        target=DataSlicer.File(out),
        jobs=jobs,
        progress=False,
    )
    return result


def file_ids(result: ExportResult) -> dict[str, set[str]]:
    found = {}
    for job in result.jobs:
        with open(job.path, newline="", encoding="utf-8") as handle:
            found[job.model] = {row["id"] for row in csv.DictReader(handle)}
    return found


def sql_ids(sql: str, params: list[int] | None = None) -> set[str]:
    with connections["default"].cursor() as cursor:
        cursor.execute(sql, params or [])
        return {str(row[0]) for row in cursor.fetchall()}


@TRANSACTIONAL
@pytest.mark.usefixtures("demo")
def test_plan_slice_reproduces_the_seed_slice_from_a_root(tmp_path: Path) -> None:
    jobs = planned_jobs(DEMO_TENANT)
    assert [job.model for job in jobs] == [Tenant, Shop, Customer, Product, Order, OrderItem]
    planned = export(tmp_path / "planned", jobs)
    seed = export(tmp_path / "seed", build_jobs())
    assert planned.closure == []
    assert file_ids(planned) == file_ids(seed)
    assert all(len(ids) > 0 for ids in file_ids(planned).values())


@TRANSACTIONAL
@pytest.mark.usefixtures("demo")
def test_children_are_filtered_by_all_their_included_parents(tmp_path: Path) -> None:
    # Point one order of the demo tenant at a customer of another tenant: the order's tenant
    # and shop are in the slice, its customer is not, so the order must stay out.
    acme = Tenant.objects.get(subdomain=DEMO_TENANT)
    stranger = Customer.objects.exclude(tenant=acme).first()
    assert stranger is not None
    moved = Order.objects.filter(tenant=acme).first()
    assert moved is not None
    Order.objects.filter(pk=moved.pk).update(customer=stranger)
    result = export(tmp_path / "x", plan_slice(Tenant.objects.filter(pk=acme.pk)))
    ids = file_ids(result)
    assert str(moved.pk) not in ids["gyro_example.Order"]
    assert result.closure == []
    expected = sql_ids(
        "SELECT o.id FROM gyro_example_order o JOIN gyro_example_customer c "
        "ON c.id = o.customer_id JOIN gyro_example_shop s ON s.id = o.shop_id "
        "WHERE o.tenant_id = %s AND c.tenant_id = %s AND s.tenant_id = %s",
        [acme.pk, acme.pk, acme.pk],
    )
    assert ids["gyro_example.Order"] == expected


@pytest.fixture
def graph_importers() -> Iterator[None]:
    with registry.isolated():

        class OrgImporter(Importer):
            model = Org

        class TeamImporter(Importer):
            model = Team

            class Columns:
                org = Org

        class ProjectImporter(Importer):
            model = Project

            class Columns:
                org = Org

        class LabelImporter(Importer):
            model = Label

            class Columns:
                parent = Label

        class TaskImporter(Importer):
            model = Task

            class Columns:
                team = Team
                project = Project
                parent = Task
                label = Label

        yield


def make_graph() -> dict[str, int]:
    a, b = Org.objects.create(name="a"), Org.objects.create(name="b")
    Org.objects.create(name="c")  # unrelated
    t1, t2 = Team.objects.create(org=a, name="t1"), Team.objects.create(org=a, name="t2")
    t3 = Team.objects.create(org=b, name="t3")
    p1, p2 = Project.objects.create(org=a, name="p1"), Project.objects.create(org=b, name="p2")
    l2 = Label.objects.create(name="l2")
    l1 = Label.objects.create(name="l1", parent=l2)
    Label.objects.create(name="l3")  # unused
    x4 = Task.objects.create(team=t3, project=p2, title="x4")
    x3 = Task.objects.create(team=t3, project=p2, parent=x4, title="x3")
    x2 = Task.objects.create(team=t2, project=p1, parent=x3, title="x2")
    x1 = Task.objects.create(team=t1, project=p1, label=l1, title="x1")
    x5 = Task.objects.create(team=t1, project=p2, title="x5")  # the diamond disagrees
    x7 = Task.objects.create(team=t1, project=p2, title="x7")  # ditto, nobody's parent
    x6 = Task.objects.create(team=t1, project=p1, parent=x5, title="x6")
    return {name: obj.pk for name, obj in locals().items() if hasattr(obj, "pk")}


@PLANNING
def test_diamond_and_self_references_close_by_construction(
    tmp_path: Path, graph_importers: None
) -> None:
    pk = make_graph()
    jobs = plan_slice(Org.objects.filter(name="a"))
    assert [job.model for job in jobs] == [Label, Org, Project, Team, Task]
    result = export(tmp_path / "g", jobs)
    assert result.closure == []
    ids = file_ids(result)
    # Independent SQL: tasks whose team and project are both of org a, plus their ancestors;
    # then every parent those rows reference.
    tasks = sql_ids(
        "WITH RECURSIVE up(id, parent_id) AS ("
        " SELECT t.id, t.parent_id FROM gyro_planning_app_task t"
        " JOIN gyro_planning_app_team tm ON tm.id = t.team_id"
        " JOIN gyro_planning_app_project p ON p.id = t.project_id"
        " JOIN gyro_planning_app_org o ON o.id = tm.org_id AND o.id = p.org_id"
        " WHERE o.name = 'a'"
        " UNION SELECT t.id, t.parent_id FROM gyro_planning_app_task t JOIN up"
        " ON t.id = up.parent_id) SELECT id FROM up"
    )
    assert ids["gyro_planning_app.Task"] == tasks
    assert str(pk["x7"]) not in tasks and str(pk["x5"]) in tasks  # x5 only as x6's parent
    listed = ", ".join(tasks)
    teams = sql_ids(
        f"SELECT id FROM gyro_planning_app_team WHERE org_id = {pk['a']} "
        f"UNION SELECT team_id FROM gyro_planning_app_task WHERE id IN ({listed})"
    )
    projects = sql_ids(
        f"SELECT id FROM gyro_planning_app_project WHERE org_id = {pk['a']} "
        f"UNION SELECT project_id FROM gyro_planning_app_task WHERE id IN ({listed})"
    )
    assert ids["gyro_planning_app.Team"] == teams
    assert ids["gyro_planning_app.Project"] == projects
    assert ids["gyro_planning_app.Org"] == {str(pk["a"]), str(pk["b"])}
    assert ids["gyro_planning_app.Label"] == {str(pk["l1"]), str(pk["l2"])}


@PLANNING
def test_caps_apply_on_the_way_down(tmp_path: Path, graph_importers: None) -> None:
    make_graph()
    jobs = plan_slice(Org.objects.filter(name="a"), caps={Task: per("team", 1)})
    result = export(tmp_path / "g", jobs)
    assert result.closure == []
    tasks = Task.objects.filter(
        pk__in=[int(i) for i in file_ids(result)["gyro_planning_app.Task"]]
    )
    titles = sorted(t.title for t in tasks)
    # one task per team of org a (x1 for t1 by pk, x2 for t2), plus x2's ancestors x3 and x4
    assert titles == ["x1", "x2", "x3", "x4"]
    # a plain cap slices the queryset; its parents (here the labels) are still added
    result = export(tmp_path / "h", plan_slice(Org.objects.filter(name="a"), caps={Task: 2}))
    assert result.closure == []
    assert len(file_ids(result)["gyro_planning_app.Task"]) >= 2


def test_bad_plans_are_clear_errors() -> None:
    with pytest.raises(PlanError, match="needs a QuerySet"):
        plan_slice(Tenant)  # type: ignore[arg-type]
    with pytest.raises(PlanError, match="does not reach"):
        plan_slice(Shop.objects.all(), caps={Tenant: 3})
    with pytest.raises(PlanError, match="positive int"):
        plan_slice(Tenant.objects.all(), caps={Shop: 0})
    with pytest.raises(PlanError, match="no field"):
        plan_slice(Tenant.objects.all(), caps={Order: per("nope", 3)})
    with pytest.raises(ValueError, match="positive"):
        per("customer", 0)
