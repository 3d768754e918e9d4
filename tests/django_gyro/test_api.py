"""``DataSlicer.run`` dispatches File -> Postgres and Postgres -> Postgres to the loader."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from django_gyro import DataSlicer
from django_gyro.exceptions import KeyConflictError
from django_gyro.load.results import LoadResult
from gyro_example.demo_data import create_demo_data, delete_demo_data, tenant_subdomains
from gyro_example.jobs import build_jobs
from gyro_example.models import OrderItem, Tenant
from tests.django_gyro.helpers import DB, populate, url_of

pytestmark = [pytest.mark.postgresql, DB(transaction=True)]


def test_file_to_postgres(export_dir: Path, target: str) -> None:
    result = DataSlicer.run(
        source=DataSlicer.File(export_dir),
        target=DataSlicer.Postgres(url_of(target)),
        on_conflict="remap",
        dry_run=True,
    )
    assert isinstance(result, LoadResult) and result.dry_run
    assert OrderItem.objects.using(target).count() == 0  # rolled back


def test_postgres_to_postgres_goes_through_files(target: str, tmp_path: Path) -> None:
    create_demo_data("default", scale=1, tenants=2)
    try:
        result = DataSlicer.run(
            source=DataSlicer.Postgres("default"),
            target=DataSlicer.Postgres(url_of(target)),
            jobs=build_jobs(),
            directory=tmp_path / "through",
        )
    finally:
        delete_demo_data("default", tenant_subdomains(2))
    assert (tmp_path / "through" / "manifest.json").exists()
    assert result.rows == sum(model.rows for model in result.models) > 0
    assert Tenant.objects.using(target).get().subdomain == "acme"


def test_demo_loads_into_a_second_database_and_verifies(target: str, tmp_path: Path) -> None:
    stdout = io.StringIO()
    call_command("gyro_demo", output=tmp_path / "demo", target=url_of(target), stdout=stdout)
    text = stdout.getvalue()
    assert "gyro_example.OrderItem:" in text and "remapped" in text
    assert "gyro_example.Tenant: 1 rows: 1 merged" in text
    assert "\nOK: " in text
    assert Tenant.objects.using(target).count() == 1  # the target's own acme, merged into


def test_populate_helper_collides_with_the_export(export_dir: Path, target: str) -> None:
    # Guards the premise of the conflict tests: the target's rows really share the export's keys.
    populate(target, "other", export_dir)
    with pytest.raises(KeyConflictError, match="already has rows under these keys"):
        DataSlicer.run(
            source=DataSlicer.File(export_dir), target=DataSlicer.Postgres(url_of(target))
        )


def test_unsupported_endpoint_combinations(tmp_path: Path) -> None:
    from django_gyro import DataSlicer, GyroError
    from gyro_example.jobs import build_jobs

    # Each call below is also a type error: DataSlicer.run's overloads reject it statically.
    with pytest.raises(GyroError, match="cannot go from DataSlicer.File"):
        DataSlicer.run(  # type: ignore[call-overload]
            source=DataSlicer.File(tmp_path / "a"),
            target=DataSlicer.File(tmp_path / "b"),
            jobs=build_jobs(),
        )
    with pytest.raises(GyroError, match="an export needs jobs="):
        DataSlicer.run(  # type: ignore[call-overload]
            source=DataSlicer.Postgres("default"), target=DataSlicer.File(tmp_path)
        )
    with pytest.raises(TypeError, match="unexpected option"):
        DataSlicer.run(  # type: ignore[call-overload]
            source=DataSlicer.Postgres("default"),
            target=DataSlicer.File(tmp_path),
            jobs=build_jobs(),
            on_conflict="remap",
        )
    with pytest.raises(GyroError, match="needs a database URL or a Django alias"):
        DataSlicer.Postgres("")
    assert list(tmp_path.iterdir()) == []
