"""Helpers of the Gyro tests: target databases, reading and editing exports, snapshots.

Targets are real databases on the same server as the test database (see ``conftest.py``); their
names start with the name of the project's database (``DATABASE_URL``), so that engineers
sharing one server never collide. Their connections are registered as dynamic connections
(``connections[alias] = wrapper``), which Django's test cases allow, and the loader is given
their URL.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.core.management.color import no_style
from django.db import connections
from django.db.models import Model
from django.db.utils import load_backend

from gyro_example.models import Customer, Order, OrderItem, Product, Shop, Tenant
from settings.database import embedded_url

#: Marker of every reload test: the test database must exist (its own transaction is unused).
DB = pytest.mark.django_db

#: Marker for tests whose data must be committed (the export connection must see it).
TRANSACTIONAL = pytest.mark.django_db(
    transaction=True, available_apps=["django_gyro", "gyro_example"]
)

MODELS: list[type[Model]] = [Tenant, Shop, Product, Customer, Order, OrderItem]
TABLES = [
    "gyro_example_tenant",
    "gyro_example_shop",
    "gyro_example_product",
    "gyro_example_customer",
    "gyro_example_order",
    "gyro_example_orderitem",
    "django_gyro_load",
    "django_gyro_keymap",
]


def maintenance(sql: str, params: Any = None) -> None:
    """Run ``sql`` in autocommit on the server of the default database (CREATE/DROP DATABASE)."""
    connection = connections["default"]
    with connection._nodb_cursor() as cursor:
        cursor.execute(sql, params)


def quote_name(name: str) -> str:
    return connections["default"].ops.quote_name(name)


def add_alias(alias: str, name: str) -> None:
    """Register ``alias`` for database ``name`` on the default database's server.

    The connection is registered in ``connections`` only (not in its settings), as a dynamic
    connection that Django's test cases allow alongside the test database.
    """
    config = {**connections["default"].settings_dict, "NAME": name}
    connections[alias] = load_backend(config["ENGINE"]).DatabaseWrapper(config, alias)


def drop_alias(alias: str) -> None:
    """Close and forget ``alias``."""
    try:
        wrapper = connections[alias]
    except Exception:
        return
    wrapper.close()
    del connections[alias]


def url_of(alias: str) -> str:
    """A ``postgres://`` URL of ``alias``: the project's URL of the server, another database."""
    base = os.environ.get("DATABASE_URL") or embedded_url()
    parts = urlsplit(base)
    name = quote(connections[alias].settings_dict["NAME"])
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def database_name(purpose: str) -> str:
    """A new database name for ``purpose``, prefixed with the project database's name."""
    base = str(connections["default"].settings_dict["NAME"]).removeprefix("test_")
    return f"{base}_{purpose}_{uuid.uuid4().hex[:8]}"


def drop_database(name: str) -> None:
    """Drop ``name``, disconnecting whoever is still connected."""
    maintenance(f"DROP DATABASE IF EXISTS {quote_name(name)} WITH (FORCE)")


def check_test_database() -> None:
    name = connections["default"].settings_dict["NAME"]
    if connections["default"].vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    if not str(name).startswith("test_"):  # never write demo rows into a real database
        raise RuntimeError(f"the test database is not set up (default is {name!r})")


def read_rows(export_dir: Path, model: type[Model]) -> list[dict[str, str]]:
    """The rows of ``model``'s file in the export, as text."""
    with (export_dir / f"{model._meta.db_table}.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def export_keys(export_dir: Path, model: type[Model]) -> list[int]:
    return [int(row["id"]) for row in read_rows(export_dir, model)]


def populate(alias: str, subdomain: str, export_dir: Path) -> Tenant:
    """Unrelated rows in the target under the same keys as the export's first rows."""
    keys = {model: iter(export_keys(export_dir, model)) for model in MODELS}
    using = Tenant.objects.using(alias)
    tenant = using.create(pk=next(keys[Tenant]), name=subdomain.title(), subdomain=subdomain)
    for s in range(2):
        shop = Shop.objects.using(alias).create(
            pk=next(keys[Shop], None),
            tenant=tenant,
            name=f"{subdomain} shop {s}",
            url=f"https://{subdomain}{s}.example",
        )
        product = Product.objects.using(alias).create(
            pk=next(keys[Product]),
            tenant=tenant,
            shop=shop,
            sku=f"SKU-{s}",
            name="Thing",
            price="9.99",
        )
        for c in range(3):
            customer = Customer.objects.using(alias).create(
                pk=next(keys[Customer]),
                tenant=tenant,
                shop=shop,
                email=f"c{c}@{subdomain}.example",
                first_name="Ann",
                last_name="Lee",
            )
            order = Order.objects.using(alias).create(
                pk=next(keys[Order]),
                tenant=tenant,
                shop=shop,
                customer=customer,
                order_number=f"{s}-{c}",
                total_amount="9.99",
            )
            OrderItem.objects.using(alias).create(
                pk=next(keys[OrderItem]),
                tenant=tenant,
                shop=shop,
                order=order,
                product=product,
                quantity=1,
                unit_price="9.99",
                total_price="9.99",
            )
    connection = connections[alias]
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), MODELS):
            cursor.execute(statement)
    return tenant


def rewrite_file(directory: Path, file: str, edit: Callable[[list[str]], list[str]]) -> None:
    """Edit a file *and* its manifest entry consistently: only the deeper checks can catch it."""
    path = directory / file
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(edit(lines)))
    data = json.loads((directory / "manifest.json").read_text())
    job = next(job for job in data["jobs"] if job["file"] == file)
    content = path.read_bytes()
    job["bytes"] = len(content)
    job["sha256"] = hashlib.sha256(content).hexdigest()
    (directory / "manifest.json").write_text(json.dumps(data))


def snapshot(alias: str) -> dict[str, Any]:
    """Everything a failed load must leave alone: rows of every table and the FK constraints."""
    connection = connections[alias]
    state: dict[str, Any] = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            cursor.execute(
                f"SELECT md5(COALESCE(string_agg(t::text, '|' ORDER BY t::text), '')), count(*) "
                f"FROM {connection.ops.quote_name(table)} t"
            )
            state[table] = cursor.fetchone()
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2"
        )
        state["constraints"] = cursor.fetchall()
    return state
