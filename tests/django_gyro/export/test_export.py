"""Export of the example slice on a real PostgreSQL: files, manifest, slicing, closure, safety."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from django_gyro import ClosureError, DataSlicer, GyroError, ImportJob, TargetError
from django_gyro.api import File, Postgres
from django_gyro.backend.copy import copy_from
from django_gyro.export.export import export
from django_gyro.export.plan import plan
from django_gyro.export.results import ExportResult, JobResult
from gyro_example.jobs import DEMO_TENANT, build_jobs
from gyro_example.models import Customer, Order, OrderItem, Product, Shop, Tenant
from tests.django_gyro.helpers import TRANSACTIONAL

pytestmark = [pytest.mark.postgresql, TRANSACTIONAL, pytest.mark.usefixtures("demo")]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def ids(path: Path) -> list[int]:
    return [int(row["id"]) for row in read_csv(path)]


def run(out: Path, **kwargs: Any) -> ExportResult:
    jobs = kwargs.pop("jobs", None) or build_jobs()
    result: ExportResult = DataSlicer.run(
        source=DataSlicer.Postgres("default"),
        target=DataSlicer.File(out, overwrite=kwargs.pop("overwrite", False)),
        jobs=jobs,
        progress=False,
        **kwargs,
    )
    return result


def test_seed_slice_is_exported_consistently(out: Path) -> None:
    result = run(out)
    files = {r.model: r.path for r in result.jobs}
    tenant = Tenant.objects.get(subdomain=DEMO_TENANT)
    assert ids(files["gyro_example.Tenant"]) == [tenant.pk]
    shops = list(Shop.objects.filter(tenant=tenant).order_by("pk").values_list("pk", flat=True))
    assert ids(files["gyro_example.Shop"]) == shops[:3]
    products = Product.objects.filter(shop_id__in=shops[:3])
    assert sorted(ids(files["gyro_example.Product"])) == sorted(p.pk for p in products)
    # "at most 100 customers": the first 100 by primary key, as gyro orders the unordered slice
    expected_customers = list(
        Customer.objects.filter(shop_id__in=shops[:3]).order_by("pk").values_list("pk", flat=True)
    )[:100]
    assert ids(files["gyro_example.Customer"]) == expected_customers
    # "at most 10 orders per customer", the newest ones, and only of exported customers
    orders = read_csv(files["gyro_example.Order"])
    per_customer: dict[int, list[int]] = {}
    for row in orders:
        per_customer.setdefault(int(row["customer_id"]), []).append(int(row["id"]))
    assert set(per_customer) <= set(expected_customers)
    capped = 0
    for customer_id in expected_customers:
        newest = list(
            Order.objects.filter(customer_id=customer_id)
            .order_by("-created_at", "pk")
            .values_list("pk", flat=True)[:10]
        )
        assert sorted(per_customer.get(customer_id, [])) == sorted(newest)
        capped += Order.objects.filter(customer_id=customer_id).count() > 10
    assert capped > 0, "the demo data must contain customers with more than 10 orders"
    # "all their order items"
    order_ids = [int(row["id"]) for row in orders]
    expected_items = OrderItem.objects.filter(order_id__in=order_ids).values_list("pk", flat=True)
    assert sorted(ids(files["gyro_example.OrderItem"])) == sorted(expected_items)
    assert result.closure == []


def test_files_manifest_and_results_agree(out: Path) -> None:
    result = run(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "django-gyro-export"
    assert manifest["source"]["server_version_num"] >= 120000
    assert "0001_initial" in manifest["migrations"]["gyro_example"]
    assert [job["model"] for job in manifest["jobs"]] == [
        "gyro_example.Tenant",
        "gyro_example.Shop",
        "gyro_example.Product",
        "gyro_example.Customer",
        "gyro_example.Order",
        "gyro_example.OrderItem",
    ]
    for job, entry in zip(result.jobs, manifest["jobs"], strict=True):
        data = job.path.read_bytes()
        assert entry["file"] == job.path.name == job.file
        assert entry["bytes"] == job.bytes == len(data)
        assert entry["sha256"] == job.sha256 == hashlib.sha256(data).hexdigest()
        assert entry["rows"] == job.rows == len(read_csv(job.path))
        header = data.split(b"\n", 1)[0].decode()
        assert header.split(",") == [column["name"] for column in entry["columns"]]
    order = manifest["jobs"][4]
    types = {column["name"]: column["type"] for column in order["columns"]}
    assert types["id"] == "bigint"
    assert types["total_amount"] == "numeric(10,2)"
    assert types["created_at"] == "timestamp with time zone"
    assert types["order_number"] == "character varying(50)"
    assert order["pk"] == "id"
    assert {fk["column"]: fk["target"] for fk in order["foreign_keys"]} == {
        "tenant_id": "gyro_example.Tenant",
        "shop_id": "gyro_example.Shop",
        "customer_id": "gyro_example.Customer",
    }
    # nothing but the data files and the manifest: no temporary file is left behind
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [r.file for r in result.jobs] + ["manifest.json"]
    )


def test_existing_files_are_refused_before_the_database_is_touched(out: Path) -> None:
    run(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # An unreachable source proves the refusal comes first: connecting would fail differently.
    with pytest.raises(TargetError, match=r"overwrite=True"):
        DataSlicer.run(
            source=DataSlicer.Postgres("postgres://nobody@127.0.0.1:1/nowhere"),
            target=DataSlicer.File(out),
            jobs=build_jobs(),
        )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    again = run(out, overwrite=True)
    assert [r.rows for r in again.jobs] == [
        int(json.loads((out / "manifest.json").read_text())["jobs"][i]["rows"]) for i in range(6)
    ]


def test_failed_job_leaves_no_file_that_looks_complete(out: Path) -> None:
    jobs = build_jobs()
    # A query PostgreSQL rejects at run time (not at compile time): division by zero in job 5.
    from django.db.models import F

    jobs[4] = ImportJob(
        model=Order,
        query=Order.objects.filter(pk__in=jobs[4].query.values("pk")).filter(
            total_amount__gt=F("tax_amount") / 0
        ),
    )
    with pytest.raises(Exception, match="division by zero"):
        run(out, jobs=jobs)
    assert list(out.iterdir()) == []


def test_failure_keeps_the_previous_export_intact(out: Path) -> None:
    first = run(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ClosureError):
        run(out, overwrite=True, strict=True, jobs=[build_jobs()[i] for i in (0, 3)])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert first.manifest.exists()


def test_closure_report_lists_parents_missing_from_the_export(out: Path) -> None:
    tenant_jobs = build_jobs()
    # Customers without their shops' file, and orders of all customers of the tenant's shops
    # while only 100 customers are exported.
    tenants = Tenant.objects.filter(subdomain=DEMO_TENANT)
    customers = Customer.objects.filter(tenant__in=tenants)[:5]
    orders = Order.objects.filter(tenant__in=tenants, customer__shop__in=tenant_jobs[1].query)
    jobs = [
        ImportJob(model=Tenant, query=tenants),
        ImportJob(model=Customer, query=customers),
        ImportJob(model=Order, query=orders),
    ]
    result = run(out, jobs=jobs)
    by_column = {(issue.job, issue.column): issue for issue in result.closure}
    shop_issue = by_column[("gyro_example.Customer", "shop_id")]
    assert not shop_issue.parent_exported
    assert shop_issue.rows == 5
    customer_issue = by_column[("gyro_example.Order", "customer_id")]
    assert customer_issue.parent_exported
    exported = set(ids(out / "gyro_example_customer.csv"))
    missing = {
        int(row["customer_id"])
        for row in read_csv(out / "gyro_example_order.csv")
        if int(row["customer_id"]) not in exported
    }
    assert customer_issue.keys == len(missing) > 0
    assert {int(k) for k in customer_issue.examples} <= missing
    assert len(customer_issue.examples) == min(5, len(missing))
    assert ("gyro_example.Order", "tenant_id") not in by_column
    manifest = json.loads((out / "manifest.json").read_text())
    assert {(c["job"], c["column"]) for c in manifest["closure"]} == set(by_column)
    # strict turns the report into an error naming the column
    with pytest.raises(ClosureError, match=r"gyro_example.Order.customer_id"):
        run(out, jobs=jobs, overwrite=True, strict=True)


def test_export_is_one_snapshot_while_the_source_is_written(out: Path) -> None:
    tenant = Tenant.objects.get(subdomain=DEMO_TENANT)
    shop = Shop.objects.filter(tenant=tenant).order_by("pk").first()
    assert shop is not None
    product = Product.objects.filter(shop=shop).first()
    assert product is not None
    written: list[int] = []

    def write_from_another_connection(result: JobResult) -> None:
        # Runs after the Tenant file is written, in the middle of the export transaction; the
        # default connection is another session in autocommit, so these rows are committed.
        if result.model != "gyro_example.Tenant":
            return
        customer = Customer.objects.create(
            tenant=tenant, shop=shop, email="late@example.com", first_name="Late", last_name="X"
        )
        order = Order.objects.create(
            tenant=tenant, shop=shop, customer=customer, order_number="LATE-1", total_amount=1
        )
        OrderItem.objects.create(
            tenant=tenant,
            shop=shop,
            order=order,
            product=product,
            quantity=1,
            unit_price=1,
            total_price=1,
        )
        Customer.objects.filter(pk=customer.pk).update(first_name="Changed")
        written.extend([customer.pk, order.pk])

    jobs = build_jobs(max_customers=None, orders_per_customer=None)
    try:
        result = run(out, jobs=jobs, on_job_done=write_from_another_connection)
        assert written, "the callback must have run"
        customer_pk, order_pk = written
        assert customer_pk not in ids(out / "gyro_example_customer.csv")
        assert order_pk not in ids(out / "gyro_example_order.csv")
        assert all(
            int(row["order_id"]) != order_pk
            for row in read_csv(out / "gyro_example_orderitem.csv")
        )
        assert result.closure == []
        # Control: a new export sees the rows, so the snapshot (not the query) hid them.
        later = run(out / "later", jobs=build_jobs(max_customers=None, orders_per_customer=None))
        assert customer_pk in ids(later.jobs[3].path)
    finally:
        Customer.objects.filter(email="late@example.com").delete()


def test_plan_compiles_and_estimates_without_writing(out: Path) -> None:
    planned = plan(Postgres("default"), build_jobs())
    assert [p.model for p in planned][0] == "gyro_example.Tenant"
    assert all(p.sql.startswith("COPY (SELECT") for p in planned)
    assert "'acme'" in planned[0].sql
    assert "ROW_NUMBER() OVER (PARTITION BY" in planned[4].sql
    assert all(p.estimated_rows >= 1 for p in planned)
    assert not out.exists()


def test_source_by_url_works_like_the_alias(out: Path) -> None:
    settings = connections["default"].settings_dict
    host = settings["HOST"] or settings["OPTIONS"].get("host", "")
    # A socket directory goes into the query string (libpq's host parameter).
    url = f"postgres://{settings['USER']}@/{settings['NAME']}?host={host}"
    if settings["PASSWORD"]:
        url = url.replace("@", f":{settings['PASSWORD']}@", 1)
    if host.startswith("/") is False:
        url = (
            f"postgres://{settings['USER']}:{settings['PASSWORD']}@{host}:"
            f"{settings['PORT'] or 5432}/{settings['NAME']}"
        )
    by_url = export(Postgres(url), File(out / "url"), build_jobs(), progress=False)
    by_alias = export(Postgres("default"), File(out / "alias"), build_jobs(), progress=False)
    assert [r.sha256 for r in by_url.jobs] == [r.sha256 for r in by_alias.jobs]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("nosuchalias", "unknown database alias 'nosuchalias'"),
        ("sqlite:////tmp/gyro-not-postgres.sqlite3", "needs PostgreSQL"),
        ("postgres://someone:topsecret@127.0.0.1:1/nowhere", "cannot connect to database"),
    ],
)
def test_bad_source_is_a_clear_error(out: Path, source: str, message: str) -> None:
    with pytest.raises(GyroError, match=message) as info:
        run(out, jobs=build_jobs()) if False else export(
            Postgres(source), File(out), build_jobs(), progress=False
        )
    assert "topsecret" not in str(info.value)
    assert not any(out.iterdir()) if out.exists() else True


def test_files_load_back_with_postgres_own_csv_parser(out: Path) -> None:
    result = run(out)
    path = result.jobs[2].path  # products: quotes, commas, newlines, unicode, empty strings
    header = path.read_text(encoding="utf-8").split("\n", 1)[0]
    columns = ", ".join(f'"{name}"' for name in header.split(","))
    with connections["default"].cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE gyro_copy (LIKE gyro_example_product)")
        with open(path, "rb") as handle:
            statement = f"COPY gyro_copy ({columns}) FROM STDIN WITH (FORMAT CSV, HEADER)"
            assert copy_from(connections["default"], statement, handle) == result.jobs[2].rows
        cursor.execute(
            f"SELECT count(*) FROM (SELECT {columns} FROM gyro_copy EXCEPT SELECT {columns} "
            f"FROM gyro_example_product) AS d"
        )
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*), count(*) FILTER (WHERE description = '') FROM gyro_copy")
        count, empty = cursor.fetchone()
        assert count == result.jobs[2].rows
        assert empty > 0
        cursor.execute("SELECT count(*) FROM gyro_copy WHERE name LIKE '%%\"Pro\"%%'")
        assert cursor.fetchone()[0] > 0
        cursor.execute("DROP TABLE gyro_copy")


def test_killed_export_leaves_no_file_that_looks_complete(tmp_path: Path, out: Path) -> None:
    # A real process, killed with SIGKILL while a job is streaming: no finally block runs.
    import os
    import signal
    import subprocess
    import sys
    import time

    from settings.database import BASE_DIR

    jobs_file = tmp_path / "slow_jobs.py"
    jobs_file.write_text(
        "from django_gyro import ImportJob\n"
        "from gyro_example.models import Customer, Tenant\n"
        "JOBS = [\n"
        "    ImportJob(model=Tenant),\n"
        "    ImportJob(model=Customer, query=Customer.objects.extra(\n"
        "        where=['pg_sleep(0.01) IS NOT NULL'])),\n"
        "]\n"
    )
    settings = connections["default"].settings_dict
    host = settings["HOST"] or settings["OPTIONS"].get("host", "")
    if host.startswith("/"):
        url = f"postgres://{settings['USER']}@/{settings['NAME']}?host={host}"
    else:
        url = (
            f"postgres://{settings['USER']}:{settings['PASSWORD']}@{host}:"
            f"{settings['PORT'] or 5432}/{settings['NAME']}"
        )
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "gyro_export",
            "--jobs",
            str(jobs_file),
            "--output",
            str(out),
            "--database-url",
            url,
            "--verbosity",
            "0",
        ],
        cwd=BASE_DIR,
        env={**os.environ, "DATABASE_URL": url},
    )
    try:
        partial = out / ".gyro_example_customer.csv.gyro-partial"
        deadline = time.monotonic() + 60
        while not partial.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert partial.exists(), "the export should be streaming the customers by now"
        time.sleep(0.3)
        assert process.poll() is None, "the slow job should still be running"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    visible = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert visible == []  # no data file under its final name, no manifest


@TRANSACTIONAL
@pytest.mark.usefixtures("demo")
def test_a_full_disk_is_one_line_and_keeps_the_previous_export(out: Path) -> None:
    # A real process whose files may not grow past 20 kB (RLIMIT_FSIZE, SIGXFSZ ignored): its
    # writes fail with OSError (EFBIG) as they would on a full disk (ENOSPC).
    import resource
    import signal
    import subprocess
    import sys

    from settings.database import BASE_DIR
    from tests.django_gyro.helpers import url_of

    DataSlicer.run(DataSlicer.Postgres("default"), DataSlicer.File(out), build_jobs())
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    assert max(len(content) for content in before.values()) > 20_000

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    url = url_of("default")
    process = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "gyro_export",
            "--jobs",
            "gyro_example/jobs.py",
            "-o",
            str(out),
            "--overwrite",
            "--database-url",
            url,
        ],
        cwd=BASE_DIR,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        preexec_fn=limit_file_size,
        timeout=120,
    )
    assert process.returncode == 1
    assert process.stderr == (
        f"CommandError: export to {out} failed: File too large; no manifest was written, an "
        f"earlier export there is unchanged\n"
    )
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


@TRANSACTIONAL
@pytest.mark.usefixtures("demo")
def test_jobs_in_any_order_run_parents_first_and_verbosity_2_says_so(out: Path) -> None:
    import io

    jobs = build_jobs()
    stream = io.StringIO()
    result = DataSlicer.run(
        DataSlicer.Postgres("default"),
        DataSlicer.File(out),
        list(reversed(jobs)),
        verbosity=2,
        progress=False,
        progress_file=stream,
    )
    # Each step takes the first job (in the given, reversed, order) whose parents are done.
    labels = [
        "gyro_example.Tenant",
        "gyro_example.Shop",
        "gyro_example.Customer",
        "gyro_example.Order",
        "gyro_example.Product",
        "gyro_example.OrderItem",
    ]
    assert [job.model for job in result.jobs] == labels
    assert stream.getvalue() == (
        "jobs ordered parent-first (Importer Columns): "
        + ", ".join(f"#{n} {label}" for n, label in enumerate(labels, start=1))
        + "\n"
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert [job["model"] for job in manifest["jobs"]] == labels
