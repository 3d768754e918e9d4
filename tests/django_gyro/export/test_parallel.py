"""``workers=N``: several connections on one exported snapshot, the same files as sequentially."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.management import CommandError, call_command
from django.db import connections, transaction

from django_gyro import DataSlicer, ImportJob, JobError, SourceError
from django_gyro.backend.connection import open_connection
from django_gyro.backend.connection import transaction as gyro_transaction
from django_gyro.export.parallel import export_snapshot, import_snapshot
from django_gyro.export.results import ExportResult
from gyro_example.jobs import DEMO_TENANT, build_jobs
from gyro_example.models import Customer, Order, Product, Shop, Tenant
from tests.django_gyro.helpers import TRANSACTIONAL, url_of

pytestmark = [pytest.mark.postgresql, TRANSACTIONAL, pytest.mark.usefixtures("demo")]


def run(out: Path, jobs: list[ImportJob] | None = None, **kwargs: Any) -> ExportResult:
    result: ExportResult = DataSlicer.run(
        source=DataSlicer.Postgres("default"),
        target=DataSlicer.File(out, overwrite=True, compress=kwargs.pop("compress", None)),
        jobs=jobs or build_jobs(shops=None, max_customers=None),
        progress=kwargs.pop("progress", False),
        **kwargs,
    )
    return result


def contents(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.suffix != ".json"}


def test_files_are_identical_whatever_the_number_of_workers(tmp_path: Path) -> None:
    sequential = run(tmp_path / "w1")
    for workers in (2, 4):
        parallel = run(tmp_path / f"w{workers}", workers=workers)
        assert contents(tmp_path / f"w{workers}") == contents(tmp_path / "w1")
        assert [(j.index, j.rows, j.sha256) for j in parallel.jobs] == [
            (j.index, j.rows, j.sha256) for j in sequential.jobs
        ]
        manifest = json.loads(parallel.manifest.read_text())
        assert [job["file"] for job in manifest["jobs"]] == [j.file for j in sequential.jobs]
        assert parallel.closure == sequential.closure == []
    compressed = run(tmp_path / "gz2", workers=2, compress="gzip")
    run(tmp_path / "gz1", compress="gzip")
    assert contents(tmp_path / "gz2") == contents(tmp_path / "gz1")
    assert [j.sha256 for j in compressed.jobs] != [j.sha256 for j in sequential.jobs]


def test_a_concurrent_writer_changes_nothing_in_the_files(tmp_path: Path) -> None:
    """A real writer thread commits on its own connection during a workers=2 export.

    Which of its transactions the export may see is decided by the snapshot alone: after the
    export, PostgreSQL says for each writer transaction whether it is visible in the snapshot
    recorded in the manifest; the files must hold exactly the visible ones.
    """
    tenant = Tenant.objects.get(subdomain=DEMO_TENANT)
    shop = Shop.objects.filter(tenant=tenant).order_by("pk").first()
    product = Product.objects.filter(shop=shop).order_by("pk").first()
    assert shop is not None and product is not None
    original_name = product.name
    writes: list[tuple[int, str, float]] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            n = 0
            while not stop.is_set():
                n += 1
                with transaction.atomic():
                    customer = Customer.objects.create(
                        tenant=tenant,
                        shop=shop,
                        email=f"writer{n}@example.com",
                        first_name="W",
                        last_name=str(n),
                    )
                    Order.objects.create(
                        tenant=tenant,
                        shop=shop,
                        customer=customer,
                        order_number=f"W-{n}",
                        total_amount=1,
                    )
                    Product.objects.filter(pk=product.pk).update(name=f"written {n}")
                    with connections["default"].cursor() as cursor:
                        cursor.execute("SELECT pg_current_xact_id()::text")
                        xid = cursor.fetchone()[0]
                writes.append((n, xid, time.monotonic()))
                time.sleep(0.002)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
        finally:
            connections.close_all()

    # Slow the start of two jobs' COPY (an InitPlan evaluated once), so the writer commits
    # while the workers hold the snapshot.
    sleepy = "(SELECT pg_sleep(0.3)) IS NOT NULL"
    jobs = build_jobs(shops=None, max_customers=None, orders_per_customer=None)
    jobs[2] = ImportJob(model=Product, query=jobs[2].query.extra(where=[sleepy]))
    jobs[3] = ImportJob(model=Customer, query=jobs[3].query.extra(where=[sleepy]))
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(writes) < 3:
            time.sleep(0.01)
        result = run(tmp_path / "out", jobs=jobs, workers=2)
        finished = time.monotonic()
    finally:
        stop.set()
        thread.join()
    try:
        assert not errors, errors
        snapshot = json.loads(result.manifest.read_text())["source"]["snapshot"]
        with connections["default"].cursor() as cursor:
            visible = {}
            for n, xid, _ in writes:
                cursor.execute(
                    "SELECT pg_visible_in_snapshot(%s::xid8, %s::pg_snapshot)", [xid, snapshot]
                )
                visible[n] = cursor.fetchone()[0]
        hidden_during_export = [n for n, _, at in writes if not visible[n] and at < finished]
        assert hidden_during_export, "the writer must have committed while the export ran"
        assert any(visible.values())
        files = {job.model: job.path.read_text(encoding="utf-8") for job in result.jobs}
        for n in visible:
            assert (f"writer{n}@example.com" in files["gyro_example.Customer"]) == visible[n]
            assert (f",W-{n}," in files["gyro_example.Order"]) == visible[n]
        last = max((n for n in visible if visible[n]), default=None)
        name = f"written {last}" if last is not None else original_name
        assert f",{name}," in files["gyro_example.Product"]
        assert result.closure == []
    finally:
        Customer.objects.filter(email__startswith="writer").delete()


def test_one_bar_per_running_job_and_silence_at_verbosity_0(tmp_path: Path) -> None:
    stream = io.StringIO()
    run(tmp_path / "bars", workers=2, progress=True, progress_file=stream)
    shown = stream.getvalue()
    for label in ("Tenant", "Shop", "Product", "Customer", "Order", "OrderItem"):
        assert f"gyro_example.{label}" in shown
    stdout, stderr = io.StringIO(), io.StringIO()
    jobs = tmp_path / "jobs.py"
    jobs.write_text("from gyro_example.jobs import jobs\n")
    call_command(
        "gyro_export",
        jobs=str(jobs),
        output=str(tmp_path / "quiet"),
        workers=2,
        verbosity=0,
        stdout=stdout,
        stderr=stderr,
    )
    assert stdout.getvalue() == stderr.getvalue() == ""
    assert (tmp_path / "quiet" / "manifest.json").exists()


def test_bad_worker_counts_are_clear_errors(tmp_path: Path) -> None:
    for workers in (0, -1, True, "2"):
        with pytest.raises(JobError, match="workers must be a positive integer"):
            run(tmp_path / "bad", workers=workers)
    assert not (tmp_path / "bad").exists()
    jobs = tmp_path / "jobs.py"
    jobs.write_text("from gyro_example.jobs import jobs\n")
    with pytest.raises(CommandError, match="workers must be a positive integer, got 0"):
        call_command("gyro_export", jobs=str(jobs), output=str(tmp_path / "c"), workers=0)


def test_a_snapshot_that_cannot_be_shared_says_to_use_one_worker() -> None:
    exporter = open_connection("default")
    parts = urlsplit(url_of("default"))
    other = open_connection(urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, "")))
    try:
        with gyro_transaction(exporter) as connection:
            snapshot = export_snapshot(exporter)
            # A connection that reaches another database (as a pooler may hand out) cannot
            # import it: PostgreSQL's own refusal, reported with the advice.
            with gyro_transaction(other):
                with pytest.raises(SourceError, match=r"different database.*workers=1"):
                    import_snapshot(other, snapshot)
            # Inside a subtransaction the snapshot cannot even be exported.
            with connection.cursor() as cursor:
                cursor.execute("SAVEPOINT gyro_test")
            with pytest.raises(SourceError, match=r"subtransaction.*workers=1"):
                export_snapshot(exporter)
    finally:
        exporter.close()
        other.close()
