"""The closure report at (nearly) no cost: proofs by construction, keys collected from the stream.

Every report is compared with an independent count of dangling keys, computed by PostgreSQL from
the same querysets with the ORM (``exclude(fk__in=parent)``), never from Gyro's own code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db.models import Q, QuerySet
from django.test import override_settings

from django_gyro import DataSlicer, ImportJob
from django_gyro.backend.connection import open_connection
from django_gyro.export import export as export_module
from django_gyro.export.closure import closure_plan
from django_gyro.export.plan import compile_all
from django_gyro.export.results import ClosureIssue, ExportResult
from gyro_example.jobs import DEMO_TENANT, build_jobs
from gyro_example.models import Customer, Order, OrderItem, Product, Shop, Tenant
from tests.django_gyro.helpers import TRANSACTIONAL


def run(out: Path, jobs: list[ImportJob], **kwargs: Any) -> ExportResult:
    result: ExportResult = DataSlicer.run(
        source=DataSlicer.Postgres("default"),
        target=DataSlicer.File(out, overwrite=True),
        jobs=jobs,
        progress=False,
        **kwargs,
    )
    return result


def dangling_jobs() -> list[ImportJob]:
    """A slice with dangling keys of every kind the report distinguishes."""
    tenants = Tenant.objects.filter(subdomain=DEMO_TENANT)
    shops = Shop.objects.filter(tenant__in=tenants).order_by("pk")[:2]
    # tenant closed by construction; shop dangling (all shops' products, 2 shops exported);
    # only the cheap products, so order items reference products that are not exported.
    products = Product.objects.filter(tenant__in=tenants, price__lt=30)
    customers = Customer.objects.filter(shop__in=shops).order_by("pk")[:50]
    # Orders of 80 customers while 50 are exported: customer_id dangles although the filter is
    # a customer__in; the proof must notice that the subquery is not the customers job's.
    orders = Order.objects.filter(
        customer__in=Customer.objects.filter(shop__in=shops).order_by("pk")[:80]
    )
    items = OrderItem.objects.filter(order__in=orders)
    return [
        ImportJob(model=Tenant, query=tenants),
        ImportJob(model=Shop, query=shops),
        ImportJob(model=Product, query=products),
        ImportJob(model=Customer, query=customers),
        ImportJob(model=Order, query=orders),
        ImportJob(model=OrderItem, query=items),
    ]


def independent_report(jobs: list[ImportJob]) -> list[ClosureIssue]:
    """The dangling keys of every foreign key of every job, counted by PostgreSQL."""
    by_model = {job.model: job for job in jobs}
    issues = []
    for job in jobs:
        rows: QuerySet[Any] = job.model._default_manager.filter(pk__in=job.query.values("pk"))
        for f in job.fields():
            if not f.many_to_one:
                continue
            parent = by_model.get(f.related_model)  # type: ignore[arg-type]
            declared = f.name in job.get_importer().declared_foreign_keys()
            if parent is None and not declared:
                continue
            holding = rows.filter(**{f"{f.name}__isnull": False})
            if parent is not None:
                holding = holding.exclude(**{f"{f.name}__in": parent.query.values("pk")})
            count = holding.count()
            if not count:
                continue
            keys = sorted(set(holding.values_list(f.attname, flat=True)))
            issues.append(
                ClosureIssue(
                    job=job.label,
                    column=f.column,
                    parent=f.related_model._meta.label,  # type: ignore[union-attr]
                    parent_exported=parent is not None,
                    rows=count,
                    keys=len(keys),
                    examples=[str(k) for k in keys[:5]],
                )
            )
    return issues


@pytest.mark.postgresql
@TRANSACTIONAL
@pytest.mark.usefixtures("demo")
@pytest.mark.parametrize("limit", [250_000, 0], ids=["from-the-stream", "all-in-sql"])
def test_report_is_exact_against_an_independent_count(out: Path, limit: int) -> None:
    jobs = dangling_jobs()
    expected = independent_report(jobs)
    assert {(i.job, i.column) for i in expected} == {
        ("gyro_example.Product", "shop_id"),
        ("gyro_example.Order", "customer_id"),
        ("gyro_example.OrderItem", "product_id"),
    }, "the slice must dangle in the three ways this test is about"
    # limit 0: every collected column overflows, so every check falls back to the SQL anti-join.
    with override_settings(GYRO_CLOSURE_KEYS=limit):
        result = run(out, jobs)
    assert result.closure == expected


@pytest.mark.postgresql
@TRANSACTIONAL
@pytest.mark.usefixtures("demo")
def test_seed_slice_needs_no_closure_query(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_sql(*args: Any, **kwargs: Any) -> list[ClosureIssue]:
        raise AssertionError("the SQL anti-join ran although every key was proven or collected")

    monkeypatch.setattr(export_module, "closure_issues", no_sql)
    jobs = build_jobs(shops=None, max_customers=40)
    result = run(out, jobs)
    assert result.closure == independent_report(jobs) == []


@pytest.mark.postgresql
@TRANSACTIONAL
@pytest.mark.usefixtures("demo")
def test_dangling_keys_are_still_found_without_sql(
    out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_sql(*args: Any, **kwargs: Any) -> list[ClosureIssue]:
        raise AssertionError("every check of this slice can be done from the stream")

    monkeypatch.setattr(export_module, "closure_issues", no_sql)
    jobs = dangling_jobs()
    assert run(out, jobs).closure == independent_report(jobs) != []


def plan_of(jobs: list[ImportJob]) -> dict[tuple[str, str], str]:
    wrapper = open_connection("default")
    try:
        compiled = compile_all(jobs, wrapper)
        plan = closure_plan(compiled, wrapper)
    finally:
        wrapper.close()
    return {(c.job.job.label, c.fk["column"]): c.how for c in plan.checks}


@pytest.mark.postgresql
@pytest.mark.django_db
def test_proof_by_construction_only_where_it_holds() -> None:
    seed = plan_of(build_jobs())
    assert {key for key, how in seed.items() if how == "construction"} == {
        ("gyro_example.Shop", "tenant_id"),
        ("gyro_example.Product", "shop_id"),
        ("gyro_example.Customer", "shop_id"),
        ("gyro_example.Order", "customer_id"),  # through limit_per's pk__in subquery
        ("gyro_example.OrderItem", "order_id"),
    }
    assert set(seed.values()) == {"construction", "scan"}

    tenants = Tenant.objects.filter(subdomain=DEMO_TENANT)
    shops = Shop.objects.filter(tenant__in=tenants)
    customers = Customer.objects.filter(shop__in=shops)[:10]
    random_customers = Customer.objects.filter(shop__in=shops).order_by("?")[:10]
    cases = {
        "negated": Order.objects.exclude(customer__in=customers),
        "or": Order.objects.filter(Q(customer__in=customers) | Q(total_amount__gt=0)),
        "other slice": Order.objects.filter(customer__in=Customer.objects.all()[:10]),
        "same": Order.objects.filter(customer__in=customers),
    }
    for name, orders in cases.items():
        jobs = [
            ImportJob(model=Tenant, query=tenants),
            ImportJob(model=Shop, query=shops),
            ImportJob(model=Customer, query=customers),
            ImportJob(model=Order, query=orders),
        ]
        how = plan_of(jobs)[("gyro_example.Order", "customer_id")]
        assert how == ("construction" if name == "same" else "scan"), name
    # A random sample selects other rows in every statement: no proof, even from the same queryset.
    jobs = [
        ImportJob(model=Tenant, query=tenants),
        ImportJob(model=Shop, query=shops),
        ImportJob(model=Customer, query=random_customers),
        ImportJob(model=Order, query=Order.objects.filter(customer__in=random_customers)),
    ]
    assert plan_of(jobs)[("gyro_example.Order", "customer_id")] == "scan"
