"""Fixtures of the reload tests: an export of committed data, and throw-away target databases.

An export reads through its own connection, so its source rows must be committed: the
module-scoped :func:`export_dir` creates the demo data in the test database, exports the seed's
slice and deletes the data again; the tests then only read the files. Targets are real databases
on the same server as the test database: one is migrated per session and serves as the
``TEMPLATE`` of a fresh clone per test (``CREATE DATABASE ... TEMPLATE`` copies it in a fraction
of a second); each is dropped after its test. Their connections are registered as dynamic
connections (``connections[alias] = wrapper``), which Django's test cases allow, and the loader
is given their URL.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connections
from django.db.models import Model
from django.db.utils import load_backend
from pytest_django import DjangoDbBlocker

from django_gyro import DataSlicer
from gyro_example.demo_data import create_demo_data, delete_demo_data, tenant_subdomains
from gyro_example.jobs import build_jobs
from gyro_example.models import Customer, Order, OrderItem, Product, Shop, Tenant
from settings.database import embedded_url

#: Marker of every reload test: the test database must exist (its own transaction is unused).
DB = pytest.mark.django_db

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


def _maintenance(sql: str, params: Any = None) -> None:
    """Run ``sql`` in autocommit on the server of the default database (CREATE/DROP DATABASE)."""
    connection = connections["default"]
    with connection._nodb_cursor() as cursor:
        cursor.execute(sql, params)


def _quote(name: str) -> str:
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


def drop_database(name: str) -> None:
    """Drop ``name``, disconnecting whoever is still connected."""
    _maintenance(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")


@pytest.fixture(scope="session")
def committed_session(django_db_setup: Any, django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    """Database access outside a test transaction, for the whole session."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture(scope="session")
def template_db(committed_session: None) -> Iterator[str]:
    """A migrated, empty database used as the template of every target."""
    if connections["default"].vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    name = f"gyro_reload_tpl_{uuid.uuid4().hex[:8]}"
    _maintenance(f"CREATE DATABASE {_quote(name)}")
    add_alias("gyro_reload_tpl", name)
    try:
        call_command("migrate", database="gyro_reload_tpl", verbosity=0)
    finally:
        drop_alias("gyro_reload_tpl")
    yield name
    drop_database(name)


@pytest.fixture
def make_target(template_db: str) -> Iterator[Callable[[], str]]:
    """A factory of fresh migrated target databases; returns their Django alias."""
    made: list[tuple[str, str]] = []

    def make() -> str:
        name = f"gyro_reload_t_{uuid.uuid4().hex[:10]}"
        _maintenance(f"CREATE DATABASE {_quote(name)} TEMPLATE {_quote(template_db)}")
        alias = f"target_{len(made)}"
        add_alias(alias, name)
        made.append((alias, name))
        return alias

    yield make
    for alias, name in made:
        drop_alias(alias)
        drop_database(name)


@pytest.fixture
def target(make_target: Callable[[], str]) -> str:
    """One fresh, migrated, empty target database (its alias)."""
    return make_target()


def _check_test_database() -> None:
    name = connections["default"].settings_dict["NAME"]
    if connections["default"].vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    if not str(name).startswith("test_"):  # never write demo rows into a real database
        raise RuntimeError(f"the test database is not set up (default is {name!r})")


@pytest.fixture(scope="module")
def export_dir(
    django_db_setup: Any,
    django_db_blocker: DjangoDbBlocker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The seed's slice of the demo tenant, exported once per module from committed rows."""
    directory = tmp_path_factory.mktemp("gyro_reload") / "export"
    with django_db_blocker.unblock():
        _check_test_database()
        subdomains = tenant_subdomains(2)
        delete_demo_data("default", subdomains)
        create_demo_data("default", scale=1, tenants=2)
        try:
            DataSlicer.run(
                source=DataSlicer.Postgres("default"),
                target=DataSlicer.File(directory),
                jobs=build_jobs(),
                progress=False,
            )
        finally:
            delete_demo_data("default", subdomains)
    return directory


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
