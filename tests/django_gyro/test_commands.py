"""gyro_export, gyro_example_data and gyro_demo as an operator runs them."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from django_gyro import DataSlicer
from gyro_example.jobs import build_jobs
from gyro_example.models import OrderItem, Tenant
from tests.django_gyro.helpers import TRANSACTIONAL

pytestmark = [pytest.mark.postgresql, TRANSACTIONAL]

JOBS = "gyro_example/jobs.py"


def gyro_export(*args: str, **options: Any) -> tuple[str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    call_command("gyro_export", *args, stdout=stdout, stderr=stderr, **options)
    return stdout.getvalue(), stderr.getvalue()


@pytest.mark.usefixtures("demo")
def test_plan_prints_statements_and_writes_nothing(out: Path) -> None:
    stdout, _ = gyro_export("--jobs", JOBS, "--plan", "-o", str(out))
    assert stdout.count("COPY (SELECT") == 6
    assert "-- job 5: gyro_example.Order -> gyro_example_order.csv (estimated" in stdout
    assert "WHERE U0.\"subdomain\" = 'acme'" in stdout
    assert not out.exists()


@pytest.mark.usefixtures("demo")
def test_export_command_writes_files_and_honours_verbosity(out: Path) -> None:
    stdout, stderr = gyro_export("--jobs", JOBS, "-o", str(out), verbosity=0)
    assert stdout == stderr == ""
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["jobs"]) == 6
    stdout, _ = gyro_export("--jobs", JOBS, "-o", str(out), "--overwrite", verbosity=1)
    assert stdout.startswith("exported 6 job(s), ")
    assert "gyro_example.OrderItem" not in stdout
    stdout, _ = gyro_export("--jobs", JOBS, "-o", str(out), "--overwrite", verbosity=2)
    assert "gyro_example.OrderItem" in stdout
    assert "closure: every exported foreign key points to an exported row" in stdout


@pytest.mark.usefixtures("demo")
def test_export_command_errors_are_one_line(out: Path, tmp_path: Path) -> None:
    gyro_export("--jobs", JOBS, "-o", str(out), verbosity=0)
    with pytest.raises(CommandError, match=r"already has .*pass overwrite=True \(--overwrite\)"):
        gyro_export("--jobs", JOBS, "-o", str(out))
    with pytest.raises(CommandError, match="-o/--output DIR is required"):
        gyro_export("--jobs", JOBS)
    with pytest.raises(CommandError, match="does not exist"):
        gyro_export("--jobs", str(tmp_path / "missing.py"), "--plan")
    wrong_order = tmp_path / "wrong_order.py"
    wrong_order.write_text(
        "from django_gyro import ImportJob\n"
        "from gyro_example.models import Shop, Tenant\n"
        "JOBS = [ImportJob(model=Shop), ImportJob(model=Tenant)]\n"
    )
    # Jobs in any order: the command orders them parents first and says so at verbosity 2.
    stdout, _ = gyro_export("--jobs", str(wrong_order), "--plan", verbosity=2)
    assert stdout.startswith(
        "jobs ordered parent-first (Importer Columns): #1 gyro_example.Tenant, "
        "#2 gyro_example.Shop\n"
    )
    assert "-- job 1: gyro_example.Tenant" in stdout
    with pytest.raises(CommandError, match="unknown database alias 'nope'"):
        gyro_export("--jobs", JOBS, "--plan", "--database", "nope")
    strict_jobs = tmp_path / "strict.py"
    strict_jobs.write_text(
        "from django_gyro import ImportJob\n"
        "from gyro_example.models import OrderItem\n"
        "JOBS = [ImportJob(model=OrderItem)]\n"
    )
    with pytest.raises(CommandError, match="strict export refused"):
        gyro_export("--jobs", str(strict_jobs), "--output", str(tmp_path / "s"), "--strict")
    assert not (tmp_path / "s" / "manifest.json").exists()


def test_example_data_command(transactional_db: None) -> None:
    with pytest.raises(CommandError, match="--scale must be at least 1"):
        call_command("gyro_example_data", scale=0)
    stdout = io.StringIO()
    call_command("gyro_example_data", scale=1, tenants=1, stdout=stdout)
    assert "created 1 tenants, 4 shops, 200 products, 400 customers" in stdout.getvalue()
    with pytest.raises(CommandError, match="already exist; pass --reset"):
        call_command("gyro_example_data", scale=1, tenants=1)
    call_command("gyro_example_data", scale=1, tenants=2, reset=True, verbosity=0)
    assert Tenant.objects.count() == 2
    assert OrderItem.objects.count() > 10_000


def test_demo_command_exports_the_seed_slice(tmp_path: Path, transactional_db: None) -> None:
    stdout = io.StringIO()
    try:
        call_command("gyro_demo", output=tmp_path / "demo", stdout=stdout)
        text = stdout.getvalue()
        assert "exported the demo slice to" in text
        for model in ("Tenant", "Shop", "Product", "Customer", "Order", "OrderItem"):
            assert f"gyro_example.{model} " in text
        assert (tmp_path / "demo" / "manifest.json").exists()
        # and again: the demo replaces its previous export and data
        call_command("gyro_demo", output=tmp_path / "demo", verbosity=0)
    finally:
        # The demo also loads the slice into <test database>_gyro_target (reload, issue 6).
        connection = connections["default"]
        name = connection.ops.quote_name(f"{connection.settings_dict['NAME']}_gyro_target")
        with connection._nodb_cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.usefixtures("demo")
def test_progress_bars_are_per_job_with_row_totals(out: Path) -> None:
    stream = io.StringIO()
    result = DataSlicer.run(
        source=DataSlicer.Postgres("default"),
        target=DataSlicer.File(out),
        jobs=build_jobs(),
        progress=True,
        progress_file=stream,
    )
    text = stream.getvalue()
    positions = [text.find(f"{i}/6 gyro_example.") for i in range(1, 7)]
    assert all(p >= 0 for p in positions) and positions == sorted(positions)
    items = result.jobs[5].rows
    assert f"OrderItem: 100%|##########| {items / 1000:.2f}k/{items / 1000:.2f}k" in text
    silent = io.StringIO()
    DataSlicer.run(
        source=DataSlicer.Postgres("default"),
        target=DataSlicer.File(out, overwrite=True),
        jobs=build_jobs(),
        progress=False,
        progress_file=silent,
    )
    assert silent.getvalue() == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["gyro_import", "{export}", "--database-url", "postgres://gyro:s3cret@127.0.0.1:1/x"],
            "CommandError: cannot connect to database postgres://gyro:***@127.0.0.1:1/x: "
            "Connection refused; the target database was not changed",
        ),
        (
            ["gyro_verify", "{export}/manifest.json"],
            "CommandError: {export}/manifest.json is a file, not an export directory (give the "
            "directory that holds manifest.json); the target database was not changed",
        ),
        (
            ["gyro_import", "{export}", "--on-conflict", "gyro_example.Tenantt=merge"],
            "CommandError: on_conflict names 'gyro_example.Tenantt', which is not a model of the "
            "export; did you mean 'gyro_example.Tenant'? (labels are app_label.ModelName); the "
            "target database was not changed",
        ),
        (
            ["gyro_export", "--jobs", "gyro_example/jobs.py", "-o", "{export}/manifest.json"],
            "CommandError: export target {export}/manifest.json exists and is not a directory",
        ),
        (
            [
                "gyro_export",
                "--jobs",
                "gyro_example/jobs.py",
                "--plan",
                "--database-url",
                "mysql://gyro:s3cret@127.0.0.1/x",
            ],
            "CommandError: Django Gyro needs PostgreSQL, but database "
            "mysql://gyro:***@127.0.0.1/x is mysql",
        ),
    ],
)
def test_bad_inputs_are_one_line_from_a_real_process(
    export_dir: Path, argv: list[str], message: str
) -> None:
    import os
    import subprocess
    import sys

    from settings.database import BASE_DIR

    export = export_dir
    process = subprocess.run(
        [sys.executable, "manage.py", *(a.format(export=export) for a in argv)],
        cwd=BASE_DIR,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 1
    assert process.stderr == message.format(export=export) + "\n"
