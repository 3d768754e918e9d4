"""Masked exports on a real PostgreSQL: nothing leaks, determinism, reload, checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import override_settings

from django_gyro import DataSlicer, Importer, ImportJob, mask, registry
from django_gyro.export.plan import plan
from django_gyro.export.results import ExportResult
from django_gyro.load.loader import load_export
from django_gyro.load.verify import verify_export
from django_gyro.mask import MaskError, mask_key
from gyro_example.jobs import build_jobs
from gyro_example.masking import masked_importers
from gyro_example.models import Customer
from tests.django_gyro.helpers import TRANSACTIONAL, populate, url_of

pytestmark = [pytest.mark.postgresql, TRANSACTIONAL, pytest.mark.usefixtures("demo")]

SALT = "a long secret for the tests"
MASKED = ("email", "first_name", "last_name", "phone")


def run(out: Path, jobs: list[ImportJob] | None = None, **kwargs: Any) -> ExportResult:
    result: ExportResult = DataSlicer.run(
        source=DataSlicer.Postgres("default"),
        target=DataSlicer.File(out, overwrite=kwargs.pop("overwrite", False)),
        jobs=jobs or build_jobs(),
        progress=False,
        **kwargs,
    )
    return result


def distinctive_customers() -> list[str]:
    """Give every customer values found nowhere else (demo names are common words)."""
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "UPDATE gyro_example_customer SET "
            "email = 'src' || md5('e' || id) || '@mail.example', "
            "first_name = 'Fn' || left(md5('f' || id), 12), "
            "last_name = 'Ln' || left(md5('l' || id), 12), "
            "phone = CASE WHEN id % 3 = 0 THEN '' ELSE '+9' || (700000000 + id) END"
        )
    values = Customer.objects.values_list(*MASKED)
    return sorted({value for row in values for value in row if value})


def everything(directory: Path) -> bytes:
    return b"\n".join(path.read_bytes() for path in sorted(directory.iterdir()))


def test_no_source_value_of_a_masked_column_reaches_the_files(out: Path) -> None:
    sources = distinctive_customers()
    with masked_importers():
        result = run(out, mask_salt=SALT)
    content = everything(out)
    assert len(sources) > 100
    customers = next(r for r in result.jobs if r.model == "gyro_example.Customer")
    assert customers.rows > 0
    leaked = [value for value in sources if value.encode() in content]
    assert leaked == []
    assert SALT.encode() not in content and mask_key(SALT).encode() not in content
    document = json.loads((out / "manifest.json").read_text())
    job = next(j for j in document["jobs"] if j["model"] == "gyro_example.Customer")
    assert {c["name"]: c.get("mask") for c in job["columns"]} == {
        "id": None,
        "tenant_id": None,
        "shop_id": None,
        "email": "email()",
        "first_name": "first_name()",
        "last_name": "last_name()",
        "phone": "phone()",
        "created_at": None,
    }
    assert "<GYRO_MASK_SALT>" in job["sql"]
    assert result.closure == []


def test_same_salt_same_files_another_salt_other_customers(tmp_path: Path) -> None:
    with masked_importers():
        first = run(tmp_path / "a", mask_salt=SALT)
        again = run(tmp_path / "b", mask_salt=SALT)
        other = run(tmp_path / "c", mask_salt="another secret")
    digests = [{r.model: r.sha256 for r in result.jobs} for result in (first, again, other)]
    assert digests[0] == digests[1]
    changed = {model for model in digests[0] if digests[0][model] != digests[2][model]}
    assert changed == {"gyro_example.Customer"}


@override_settings(GYRO_MASK_SALT=SALT)
def test_the_salt_setting_is_used_and_masking_without_one_is_refused(tmp_path: Path) -> None:
    with masked_importers():
        from_setting = run(tmp_path / "a")
        explicit = run(tmp_path / "b", mask_salt=SALT)
        assert [r.sha256 for r in from_setting.jobs] == [r.sha256 for r in explicit.jobs]
        with override_settings(GYRO_MASK_SALT=None):
            with pytest.raises(MaskError, match="needs a secret salt: set GYRO_MASK_SALT"):
                run(tmp_path / "c")
    assert not (tmp_path / "c").exists() or list((tmp_path / "c").iterdir()) == []


def test_masked_export_reloads_into_empty_and_non_empty_targets_and_verifies(
    out: Path, make_target: Callable[[], str]
) -> None:
    with masked_importers():
        run(out, mask_salt=SALT)
    empty = make_target()
    load_export(out, url_of(empty))
    assert verify_export(out, url_of(empty)).ok
    assert not Customer.objects.using(empty).filter(email__endswith=".example").exists()
    busy = make_target()
    populate(busy, "other", out)
    load_export(out, url_of(busy), on_conflict="remap")
    assert verify_export(out, url_of(busy)).ok


def test_require_masks_stops_the_export_unless_reviewed(tmp_path: Path) -> None:
    with override_settings(GYRO_REQUIRE_MASKS=True):
        with pytest.raises(MaskError) as raised:
            run(tmp_path / "a")  # the example's Importers are unmasked
        message = str(raised.value)
        assert "ImportJob(gyro_example.Customer)" in message
        for name in MASKED:
            assert f"{name} (" in message
        assert not (tmp_path / "a").exists() or list((tmp_path / "a").iterdir()) == []
        jobs = build_jobs()
        jobs[3] = ImportJob(Customer, jobs[3].query, unmasked=MASKED)
        assert run(tmp_path / "b", jobs=jobs).jobs[3].rows > 0
        with masked_importers():
            assert run(tmp_path / "c", mask_salt=SALT).jobs[3].rows > 0


def test_plan_shows_the_masked_sql_without_the_key() -> None:
    with masked_importers():
        planned = plan(DataSlicer.Postgres("default"), build_jobs(), mask_salt=SALT)
    customer = planned[3]
    assert customer.model == "gyro_example.Customer"
    assert "sha256" in customer.sql and "'<GYRO_MASK_SALT>'" in customer.sql
    assert mask_key(SALT) not in customer.sql


def test_faker_columns_are_deterministic(tmp_path: Path) -> None:
    faker = pytest.importorskip("faker")
    fake = faker.Faker()
    sources = distinctive_customers()
    with masked_importers(first_name=fake.first_name, email=mask.email()):
        first = run(tmp_path / "a", mask_salt=SALT)
        fake.seed_instance(99)
        again = run(tmp_path / "b", mask_salt=SALT)
    assert [r.sha256 for r in first.jobs] == [r.sha256 for r in again.jobs]
    content = everything(tmp_path / "a")
    names = {v for v in sources if v.startswith("Fn")}
    assert names and not [v for v in names if v.encode() in content]
    document = json.loads((tmp_path / "a" / "manifest.json").read_text())
    job = next(j for j in document["jobs"] if j["model"] == "gyro_example.Customer")
    assert {c["name"]: c.get("mask") for c in job["columns"]}["first_name"] == "faker(first_name)"
    fakes = {row.split(",")[4] for row in (tmp_path / "a" / job["file"]).read_text().splitlines()}
    assert len(fakes) > 5  # real Faker names, not one constant


@pytest.mark.django_db(
    transaction=True,
    available_apps=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django_gyro",
        "gyro_example",
        "easyautoml_models",
    ],
)
def test_a_masked_user_importer_exports_no_personal_value(tmp_path: Path) -> None:
    User = get_user_model()
    User.objects.create_user(email="real.person@corp.example", password="s3cret-pass")
    with registry.isolated():

        class UserImporter(Importer):
            model = User

            class Columns:
                email = mask.email()
                first_name = mask.first_name()
                last_name = mask.last_name()
                password = mask.constant("!")  # an unusable password

        run(tmp_path / "u", jobs=[ImportJob(User)], mask_salt=SALT)
    content = everything(tmp_path / "u")
    stored = User.objects.get().password
    assert b"real.person" not in content and stored.encode() not in content
