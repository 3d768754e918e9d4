"""A reload never attaches a row to the wrong parent, and ``gyro_verify`` notices when one is.

Each test loads a small, hand-made export into a target that already holds unrelated rows under
the same keys, compares the target with a digest taken before the load, and runs
``verify_export``. The four ways django-gyro's loader used to misattach rows silently:

1. a parent that is not in the export (the target's own row under that key was used);
2. natural keys compared before the parent's key was translated (``skip`` / ``update``);
3. a ``merge`` whose parent's job comes later in the manifest;
4. a target column type that loses data (``numeric(10,0)``, ``timestamptz(0)``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from pytest_django import DjangoDbBlocker

from django_gyro import DataSlicer, ImportJob
from django_gyro.exceptions import IntegrityViolation, KeyConflictError, SchemaMismatchError
from django_gyro.load.loader import load_export
from django_gyro.load.verify import verify_export
from gyro_example.models import Customer, Order, Shop, Tenant
from tests.django_gyro.helpers import DB, snapshot, url_of

pytestmark = [pytest.mark.postgresql, DB]

#: Primary keys of the source rows: high enough not to meet other tests' rows.
T, S, C1, C2, O1, O2 = 7001, 7001, 7001, 7002, 7001, 7002
CREATED = datetime(2024, 5, 1, 10, 30, 15, 123456, tzinfo=UTC)


@dataclass
class Exports:
    partial: Path  # customer C2 left out; its order O2 is exported (closure: Order.customer_id)
    full: Path  # every row


def _create() -> None:
    tenant = Tenant.objects.create(pk=T, name="Source", subdomain="source")
    shop = Shop.objects.create(pk=S, tenant=tenant, name="Source shop", url="https://s.example")
    c1 = Customer.objects.create(
        pk=C1, tenant=tenant, shop=shop, email="ann@example.com", first_name="Ann", last_name="A"
    )
    c2 = Customer.objects.create(
        pk=C2, tenant=tenant, shop=shop, email="bob@example.com", first_name="Bob", last_name="B"
    )
    for pk, customer in ((O1, c1), (O2, c2)):
        Order.objects.create(
            pk=pk,
            tenant=tenant,
            shop=shop,
            customer=customer,
            order_number=f"N-{pk}",
            total_amount=Decimal("9.99"),
        )
    Order.objects.filter(pk__in=[O1, O2]).update(created_at=CREATED)


def _delete() -> None:
    Order.objects.filter(pk__in=[O1, O2]).delete()
    Customer.objects.filter(pk__in=[C1, C2]).delete()
    Shop.objects.filter(pk=S).delete()
    Tenant.objects.filter(pk=T).delete()


def _export(directory: Path, customers: Any) -> None:
    DataSlicer.run(
        source=DataSlicer.Postgres("default"),
        target=DataSlicer.File(directory),
        jobs=[
            ImportJob(Tenant, Tenant.objects.filter(pk=T)),
            ImportJob(Shop, Shop.objects.filter(pk=S)),
            ImportJob(Customer, customers),
            ImportJob(Order, Order.objects.filter(shop_id=S)),
        ],
        progress=False,
    )


@pytest.fixture(scope="module")
def exports(
    django_db_setup: Any,
    django_db_blocker: DjangoDbBlocker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Exports]:
    root = tmp_path_factory.mktemp("misattachment")
    with django_db_blocker.unblock():
        if connections["default"].vendor != "postgresql":
            pytest.skip("needs PostgreSQL")
        _delete()
        _create()
        try:
            _export(root / "partial", Customer.objects.filter(pk=C1))
            _export(root / "full", Customer.objects.filter(pk__in=[C1, C2]))
        finally:
            _delete()
    yield Exports(partial=root / "partial", full=root / "full")


def _qa(alias: str) -> tuple[Tenant, Shop]:
    """The target's own tenant and shop, under keys the export does not use."""
    tenant = Tenant.objects.using(alias).create(pk=100, name="QA", subdomain="qa")
    shop = Shop.objects.using(alias).create(
        pk=100, tenant=tenant, name="QA shop", url="https://qa.example"
    )
    return tenant, shop


def _customer(alias: str, pk: int, shop: Shop, email: str) -> Customer:
    return Customer.objects.using(alias).create(
        pk=pk, tenant_id=shop.tenant_id, shop=shop, email=email, first_name="QA", last_name="Q"
    )


def _orders(alias: str) -> list[tuple[str, str, str]]:
    """Each order with the email and tenant of its customer: what attachment means."""
    return sorted(
        Order.objects.using(alias).values_list(
            "order_number", "customer__email", "customer__tenant__subdomain"
        )
    )


def _reorder(directory: Path, labels: list[str]) -> None:
    manifest = directory / "manifest.json"
    data = json.loads(manifest.read_text())
    data["jobs"].sort(key=lambda job: labels.index(job["model"]))
    manifest.write_text(json.dumps(data))


# -- 1. a parent that is not in the export -----------------------------------------------------


@pytest.mark.parametrize("strategy", ["error", "skip"])
def test_parent_missing_from_the_export_is_refused(
    exports: Exports, target: str, strategy: str
) -> None:
    _tenant, shop = _qa(target)
    _customer(target, C2, shop, "someone@qa.example")  # unrelated, under the missing key
    before = snapshot(target)
    with pytest.raises(IntegrityViolation) as info:
        load_export(exports.partial, url_of(target), on_conflict=strategy)
    message = str(info.value)
    assert f"gyro_example.Order.customer_id: 1 row(s) reference gyro_example.Customer {C2}" in (
        message
    )
    assert "not in the export" in message and "shared" in message
    assert snapshot(target) == before


def test_a_shared_parent_is_an_explicit_opt_in_checked_to_exist(
    exports: Exports, target: str
) -> None:
    _tenant, shop = _qa(target)
    before = snapshot(target)
    with pytest.raises(IntegrityViolation, match=rf"Customer {C2}.*not in the target"):
        load_export(exports.partial, url_of(target), shared=["gyro_example.Order.customer"])
    assert snapshot(target) == before
    _customer(target, C2, shop, "shared@qa.example")
    load_export(exports.partial, url_of(target), shared=["gyro_example.Order.customer"])
    assert (f"N-{O2}", "shared@qa.example", "qa") in _orders(target)
    verification = verify_export(exports.partial, url_of(target))
    assert verification.ok, "\n".join(verification.lines())


def test_verify_reports_a_child_attached_to_a_row_outside_the_export(
    exports: Exports, target: str
) -> None:
    # The target's own customer sits under the key the export's customer C2 had.
    _tenant, shop = _qa(target)
    own = _customer(target, C2, shop, "someone@qa.example")
    load_export(exports.full, url_of(target), on_conflict="remap")
    assert verify_export(exports.full, url_of(target)).ok
    moved = Order.objects.using(target).get(order_number=f"N-{O2}")
    moved.customer = own  # what the loader used to do with an unexported parent
    moved.save(using=target)
    verification = verify_export(exports.full, url_of(target))
    assert not verification.ok
    order = next(m for m in verification.models if m.label == "gyro_example.Order")
    assert order.file_hash != order.target_hash


# -- 2. natural keys compared with untranslated foreign keys ------------------------------------


@pytest.mark.parametrize("strategy", ["skip", "update"])
def test_natural_key_uses_the_parents_resolved_key(
    exports: Exports, target: str, strategy: str
) -> None:
    tenant = Tenant.objects.using(target).create(pk=100, name="QA", subdomain="qa")
    # The target's own shop under the exported shop's key, and its own customer under the
    # exported customer's key with the same (shop_id, email): another shop's customer.
    shop = Shop.objects.using(target).create(pk=S, tenant=tenant, name="QA", url="https://q.x")
    _customer(target, C1, shop, "ann@example.com")
    before = snapshot(target)
    with pytest.raises(KeyConflictError, match=rf"gyro_example.Customer id {C1}"):
        load_export(
            exports.full,
            url_of(target),
            on_conflict={"gyro_example.Shop": "remap", "*": strategy},
        )
    assert snapshot(target) == before


def test_verify_reports_a_skipped_row_that_is_another_entity(
    exports: Exports, target: str
) -> None:
    tenant = Tenant.objects.using(target).create(pk=T, name="Source", subdomain="source")
    shop = Shop.objects.using(target).create(pk=S, tenant=tenant, name="QA", url="https://q.x")
    _customer(target, C1, shop, "ann@example.com")  # the same customer, already there
    load_export(exports.full, url_of(target), on_conflict="skip")
    assert verify_export(exports.full, url_of(target)).ok
    other = Shop.objects.using(target).create(
        pk=S + 50, tenant=tenant, name="B", url="https://b.x"
    )
    Customer.objects.using(target).filter(pk=C1).update(shop=other)
    verification = verify_export(exports.full, url_of(target))
    assert not verification.ok
    customer = next(m for m in verification.models if m.label == "gyro_example.Customer")
    assert any("another" in problem for problem in customer.problems), customer.problems


# -- 3. a merge whose parent job comes later -----------------------------------------------------


def test_merge_resolves_parents_first_whatever_the_manifest_order(
    exports: Exports, target: str, tmp_path: Path
) -> None:
    import shutil

    directory = tmp_path / "reordered"
    shutil.copytree(exports.full, directory)
    _reorder(
        directory,
        [
            "gyro_example.Tenant",
            "gyro_example.Customer",
            "gyro_example.Order",
            "gyro_example.Shop",
        ],
    )
    _tenant, _shop = _qa(target)
    # The target's own shop under the exported shop's key, with a customer whose email is the
    # exported customer's: merging on (shop_id, email) before the shop is remapped matched it.
    tenant = Tenant.objects.using(target).get(pk=100)
    shop = Shop.objects.using(target).create(pk=S, tenant=tenant, name="QA", url="https://q.x")
    _customer(target, 50, shop, "ann@example.com")
    before = _orders(target)
    own = snapshot(target)
    load_export(
        directory,
        url_of(target),
        on_conflict={"gyro_example.Shop": "remap", "gyro_example.Customer": "merge", "*": "remap"},
    )
    assert Customer.objects.using(target).get(pk=50).shop_id == S  # left alone
    assert Customer.objects.using(target).filter(email="ann@example.com").count() == 2
    assert sorted(set(_orders(target)) - set(before)) == [
        (f"N-{O1}", "ann@example.com", "source"),
        (f"N-{O2}", "bob@example.com", "source"),
    ]
    # The target's own rows are as they were.
    for table in ("gyro_example_shop", "gyro_example_customer"):
        assert own[table][1] < snapshot(target)[table][1]
    assert Customer.objects.using(target).filter(pk=50, email="ann@example.com").exists()
    verification = verify_export(directory, url_of(target))
    assert verification.ok, "\n".join(verification.lines())


def test_verify_reports_a_merged_row_that_is_another_entity(exports: Exports, target: str) -> None:
    tenant = Tenant.objects.using(target).create(pk=T, name="Source", subdomain="source")
    shop = Shop.objects.using(target).create(pk=S, tenant=tenant, name="QA", url="https://q.x")
    _customer(target, 50, shop, "ann@example.com")
    load_export(
        exports.full,
        url_of(target),
        on_conflict={"gyro_example.Customer": "merge", "*": "skip"},
    )
    assert verify_export(exports.full, url_of(target)).ok
    other = Shop.objects.using(target).create(
        pk=S + 50, tenant=tenant, name="B", url="https://b.x"
    )
    Customer.objects.using(target).filter(pk=50).update(shop=other)
    assert not verify_export(exports.full, url_of(target)).ok


# -- 4. types that lose data ---------------------------------------------------------------------


def _alter(alias: str, table: str, column: str, db_type: str) -> None:
    connection = connections[alias]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(column)} TYPE {db_type}")


@pytest.mark.parametrize(
    ("column", "narrower"),
    [("total_amount", "numeric(10,0)"), ("created_at", "timestamp(0) with time zone")],
)
def test_a_target_type_that_loses_data_is_refused(
    exports: Exports, target: str, column: str, narrower: str
) -> None:
    _alter(target, "gyro_example_order", column, narrower)
    before = snapshot(target)
    with pytest.raises(SchemaMismatchError) as info:
        load_export(exports.full, url_of(target))
    message = str(info.value)
    assert f"gyro_example_order.csv (gyro_example.Order): column '{column}'" in message
    assert narrower in message
    assert snapshot(target) == before


def test_a_wider_target_type_is_fine(exports: Exports, target: str) -> None:
    _alter(target, "gyro_example_order", "total_amount", "numeric(14,4)")
    _alter(target, "gyro_example_order", "order_number", "varchar(80)")
    load_export(exports.full, url_of(target))
    assert Order.objects.using(target).get(pk=O1).total_amount == Decimal("9.99")


def test_verify_reports_values_a_narrower_column_rounded(exports: Exports, target: str) -> None:
    load_export(exports.full, url_of(target))
    assert verify_export(exports.full, url_of(target)).ok
    _alter(target, "gyro_example_order", "total_amount", "numeric(10,0)")  # 9.99 -> 10
    verification = verify_export(exports.full, url_of(target))
    assert not verification.ok


def test_the_refusal_is_one_line(exports: Exports, target: str) -> None:
    with pytest.raises(IntegrityViolation) as info:
        load_export(exports.partial, url_of(target), shared=[])
    assert str(info.value) == (
        "rows reference parents that are not in the export: gyro_example.Order.customer_id: "
        f"1 row(s) reference gyro_example.Customer {C2} (1 key(s)), not in the export. Export "
        "those parents too; or, if they are shared rows already in the target under the same "
        "keys (a lookup table), declare the foreign key shared "
        "(shared=['app_label.Model.field'], gyro_import --shared app_label.Model.field, or "
        "`shared = ('field',)` on the model's Importer); the target database was not changed"
    )
