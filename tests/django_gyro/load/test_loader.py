"""Loading an export into empty and non-empty databases, with every key strategy."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections

from django_gyro.exceptions import IntegrityViolation, KeyConflictError
from django_gyro.load.loader import load_export
from django_gyro.load.verify import verify_export
from django_gyro.models import KeyMap, Load
from gyro_example.models import Customer, Order, OrderItem, Product, Shop, Tenant
from tests.django_gyro.helpers import (
    DB,
    MODELS,
    export_keys,
    populate,
    read_rows,
    rewrite_file,
    snapshot,
    url_of,
)

pytestmark = [pytest.mark.postgresql, DB]


def _counts(alias: str) -> dict[str, int]:
    return {model.__name__: model._default_manager.using(alias).count() for model in MODELS}


def _rows_of(alias: str, tenant_pk: int) -> list[tuple[object, ...]]:
    return sorted(
        OrderItem.objects.using(alias)
        .filter(tenant_id=tenant_pk)
        .values_list("pk", "order_id", "product_id", "order__customer_id", "shop_id")
    )


def test_empty_target_keeps_keys_verifies_and_resets_sequences(
    export_dir: Path, target: str
) -> None:
    result = load_export(export_dir, url_of(target))
    assert result.load_id is not None and not result.dry_run
    assert [r.keys for r in result.models] == ["kept"] * 6
    assert _counts(target)["OrderItem"] == result.models[-1].rows > 0
    exported_orders = sorted(
        (int(row["id"]), row["order_number"], int(row["customer_id"]))
        for row in read_rows(export_dir, Order)
    )
    assert (
        sorted(Order.objects.using(target).values_list("pk", "order_number", "customer_id"))
        == exported_orders
    )
    assert verify_export(export_dir, url_of(target)).ok
    # The sequences were reset: the next create gets a fresh key instead of a duplicate one.
    tenant = Tenant.objects.using(target).create(name="New", subdomain="new")
    assert tenant.pk > max(
        Tenant.objects.using(target).exclude(pk=tenant.pk).values_list("pk", flat=True)
    )


def test_same_export_twice_is_detected_and_not_duplicated(export_dir: Path, target: str) -> None:
    first = load_export(export_dir, url_of(target), on_conflict="remap")
    before = _counts(target)
    second = load_export(export_dir, url_of(target), on_conflict="remap")
    assert second.already_loaded == first.load_id
    assert _counts(target) == before
    assert Load.objects.using(target).count() == 1


def test_error_strategy_lists_conflicting_keys_and_loads_nothing(
    export_dir: Path, target: str
) -> None:
    populate(target, "other", export_dir)
    before = snapshot(target)
    with pytest.raises(KeyConflictError) as info:
        load_export(export_dir, url_of(target))
    message = str(info.value)
    first_tenant = export_keys(export_dir, Tenant)[0]
    assert f"gyro_example.Tenant id {first_tenant} (gyro_example_tenant.csv)" in message
    assert "on_conflict='remap'" in message
    assert "the target database was not changed" in message
    assert snapshot(target) == before


def test_remap_into_non_empty_target_attaches_children_to_their_own_parents(
    export_dir: Path, target: str
) -> None:
    other = populate(target, "other", export_dir)
    mine = _rows_of(target, other.pk)
    result = load_export(export_dir, url_of(target), on_conflict="remap")
    assert {r.keys for r in result.models} == {"remap"}
    assert all(r.remapped == r.rows for r in result.models)
    # The target's own rows are untouched, and no loaded row points at them.
    assert _rows_of(target, other.pk) == mine
    acme = Tenant.objects.using(target).get(subdomain="acme")
    assert acme.pk != other.pk
    for model in (Product, Customer, Order, OrderItem):
        assert not model.objects.using(target).filter(tenant=acme, shop__tenant=other).exists()
    assert (
        not OrderItem.objects.using(target)
        .filter(order__tenant=acme, product__tenant=other)
        .exists()
    )
    # Content equal to the export once keys are translated back; the key map is stored.
    verification = verify_export(export_dir, url_of(target))
    assert verification.ok, "\n".join(verification.lines())
    assert KeyMap.objects.using(target).for_model("gyro_example.OrderItem").count() == (
        result.models[-1].rows
    )
    Order.objects.using(target).create(
        tenant=acme,
        shop=Shop.objects.using(target).filter(tenant=acme).earliest("pk"),
        customer=Customer.objects.using(target).filter(tenant=acme).earliest("pk"),
        order_number="after-load",
        total_amount="1.00",
    )


def test_merge_points_children_at_the_existing_row(export_dir: Path, target: str) -> None:
    Tenant.objects.using(target).create(name="Filler", subdomain="filler")
    existing = Tenant.objects.using(target).create(name="Acme (QA copy)", subdomain="acme")
    result = load_export(export_dir, url_of(target), on_conflict="merge")
    tenant_report = result.models[0]
    assert (tenant_report.merged, tenant_report.remapped) == (1, 0)
    assert Tenant.objects.using(target).filter(subdomain="acme").count() == 1
    existing.refresh_from_db(using=target)
    assert existing.name == "Acme (QA copy)"  # merge does not overwrite
    assert Shop.objects.using(target).filter(tenant=existing).count() == result.models[1].rows
    assert Order.objects.using(target).exclude(tenant=existing).count() == 0
    verification = verify_export(export_dir, url_of(target))
    assert verification.ok, "\n".join(verification.lines())
    assert verification.models[0].matched_existing == 1


def test_skip_and_update_trust_a_key_only_when_the_natural_key_agrees(
    export_dir: Path, make_target: Callable[[], str]
) -> None:
    for strategy in ("skip", "update"):
        target = make_target()
        populate(
            target, "other", export_dir
        )  # tenant 1 is 'other', the export's tenant 1 is 'acme'
        before = snapshot(target)
        with pytest.raises(KeyConflictError, match=r"different \(subdomain\)"):
            load_export(export_dir, url_of(target), on_conflict=strategy)
        assert snapshot(target) == before


def test_skip_keeps_and_update_overwrites_rows_already_present(
    export_dir: Path, make_target: Callable[[], str], tmp_path: Path
) -> None:
    # A later export of the same slice, in which the tenant was deactivated at the source.
    later = tmp_path / "later"
    shutil.copytree(export_dir, later)
    rewrite_file(
        later,
        "gyro_example_tenant.csv",
        lambda lines: [lines[0], *(line.replace(",t\n", ",f\n") for line in lines[1:])],
    )
    for strategy in ("skip", "update"):
        target = make_target()
        load_export(export_dir, url_of(target))
        acme = Tenant.objects.using(target).get(subdomain="acme")
        Tenant.objects.using(target).filter(pk=acme.pk).update(name="Renamed in QA")
        result = load_export(later, url_of(target), on_conflict=strategy)
        assert result.already_loaded is None
        done = "skipped" if strategy == "skip" else "updated"
        assert [getattr(r, done) for r in result.models] == [r.rows for r in result.models]
        assert sum(r.inserted + r.remapped for r in result.models) == 0
        acme.refresh_from_db(using=target)
        if strategy == "skip":
            assert (acme.name, acme.is_active) == ("Renamed in QA", True)
            verification = verify_export(later, url_of(target))
            assert verification.ok and verification.models[0].matched_existing == 1
        else:
            assert acme.name != "Renamed in QA" and acme.is_active is False
            assert verify_export(later, url_of(target)).ok


def test_dry_run_reports_and_rolls_back(export_dir: Path, target: str) -> None:
    populate(target, "other", export_dir)
    before = snapshot(target)
    out = StringIO()
    call_command(
        "gyro_import",
        str(export_dir),
        database_url=url_of(target),
        on_conflict=["remap"],
        dry_run=True,
        stdout=out,
    )
    text = out.getvalue()
    assert "gyro_example.OrderItem:" in text and "remapped" in text
    assert "dry run: rolled back" in text
    assert snapshot(target) == before


def test_unique_violation_names_model_key_column_and_value(export_dir: Path, target: str) -> None:
    # remap gives the tenant a new key, but its subdomain is taken by an unrelated tenant.
    Tenant.objects.using(target).create(name="Someone else", subdomain="acme")
    before = snapshot(target)
    with pytest.raises(IntegrityViolation) as info:
        load_export(export_dir, url_of(target), on_conflict="remap")
    assert "gyro_example.Tenant(id=" in str(info.value)
    assert "subdomain='acme' already exists in the target" in str(info.value)
    assert snapshot(target) == before


def test_commands_import_and_verify_by_url(export_dir: Path, target: str) -> None:
    url = url_of(target)
    out = StringIO()
    call_command("gyro_import", str(export_dir), database_url=url, verbosity=2, stdout=out)
    assert "gyro_example.OrderItem:" in out.getvalue()
    out = StringIO()
    call_command("gyro_verify", str(export_dir), database_url=url, stdout=out)
    assert "OK:" in out.getvalue()
    # A verification that finds a difference exits non-zero.
    OrderItem.objects.using(target).filter(
        pk=OrderItem.objects.using(target).earliest("pk").pk
    ).update(quantity=999)
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="MISMATCH"):
        call_command("gyro_verify", str(export_dir), database_url=url, stdout=StringIO())


def test_progress_bars_per_file_and_silence_at_verbosity_0(export_dir: Path, target: str) -> None:
    bars = StringIO()
    load_export(export_dir, url_of(target), progress=True, progress_file=bars, dry_run=True)
    text = bars.getvalue()
    assert "checking sha256" not in text  # hashed while copied: one bar per file, one read
    for name in ("gyro_example_tenant.csv", "gyro_example_orderitem.csv"):
        assert name in text
    out, err = StringIO(), StringIO()
    call_command(
        "gyro_import",
        str(export_dir),
        database_url=url_of(target),
        verbosity=0,
        stdout=out,
        stderr=err,
    )
    assert out.getvalue() == err.getvalue() == ""
    assert OrderItem.objects.using(target).exists()


def _sequences(alias: str) -> dict[str, object]:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT sequencename, last_value FROM pg_sequences WHERE sequencename LIKE "
            "'gyro_example_%' ORDER BY 1"
        )
        return dict(cursor.fetchall())


def test_dry_run_leaves_the_sequences_where_they_were(export_dir: Path, target: str) -> None:
    populate(target, "other", export_dir)
    before = _sequences(target)
    result = load_export(export_dir, url_of(target), on_conflict="remap", dry_run=True)
    assert result.dry_run and all(r.remapped == r.rows for r in result.models)
    assert _sequences(target) == before
    real = load_export(export_dir, url_of(target), on_conflict="remap")
    assert [r.remapped for r in real.models] == [r.remapped for r in result.models]
    assert _sequences(target) != before


def test_force_loads_an_export_again_after_its_rows_were_deleted(
    export_dir: Path, target: str
) -> None:
    first = load_export(export_dir, url_of(target))
    for model in reversed(MODELS):
        model._default_manager.using(target).all().delete()
    again = load_export(export_dir, url_of(target))
    assert again.already_loaded == first.load_id and _counts(target)["OrderItem"] == 0
    out = StringIO()
    call_command(
        "gyro_import", str(export_dir), database_url=url_of(target), force=True, stdout=out
    )
    assert _counts(target)["OrderItem"] == first.models[-1].rows
    assert Load.objects.using(target).count() == 2
    verification = verify_export(export_dir, url_of(target))
    assert verification.ok and verification.load_id != first.load_id


def test_verbosity_2_says_in_which_order_the_models_load(export_dir: Path, target: str) -> None:
    out = StringIO()
    call_command(
        "gyro_import",
        str(export_dir),
        database_url=url_of(target),
        dry_run=True,
        verbosity=2,
        stdout=out,
    )
    assert (
        "load order (parents first): gyro_example.Tenant, gyro_example.Shop, "
        "gyro_example.Product, gyro_example.Customer, gyro_example.Order, gyro_example.OrderItem"
    ) in out.getvalue()
