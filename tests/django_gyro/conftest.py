"""Fixtures of the Gyro tests: committed data on the real test database, target databases.

An export reads through its own connection in its own transaction, so it only sees committed
rows: the tests that export are transactional (``helpers.TRANSACTIONAL``; the tables of the two
Gyro apps are emptied after each test) instead of running inside a rolled-back transaction. The
reload tests share one export per module (:func:`export_dir`: the demo data is created, the
seed's slice exported and the data deleted again; the tests then only read the files). Targets:
one database is migrated per session and serves as the ``TEMPLATE`` of a fresh clone per test
(``CREATE DATABASE ... TEMPLATE`` copies it in a fraction of a second); each is dropped after its
test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections, models
from django.test.utils import isolate_apps
from pytest_django import DjangoDbBlocker

from django_gyro import DataSlicer, registry
from gyro_example.demo_data import (
    DemoSize,
    create_demo_data,
    delete_demo_data,
    tenant_subdomains,
)
from gyro_example.jobs import build_jobs
from tests.django_gyro.helpers import (
    add_alias,
    check_test_database,
    database_name,
    drop_alias,
    drop_database,
    maintenance,
    quote_name,
)


@pytest.fixture
def fresh() -> Iterator[dict[str, Any]]:
    """Throw-away models (app label ``gyro``) and an empty Importer registry."""
    with isolate_apps("tests.django_gyro"), registry.isolated():

        class Org(models.Model):  # noqa: DJ008
            name = models.CharField(max_length=10)

            class Meta:
                app_label = "gyro"

        class Team(models.Model):  # noqa: DJ008
            org = models.ForeignKey(Org, on_delete=models.CASCADE)
            parent = models.ForeignKey("self", null=True, on_delete=models.CASCADE)
            name = models.CharField(max_length=10)

            class Meta:
                app_label = "gyro"

        class Member(models.Model):  # noqa: DJ008
            org = models.ForeignKey(Org, on_delete=models.CASCADE)
            team = models.ForeignKey(Team, on_delete=models.CASCADE)
            paid = models.BooleanField(default=False)
            org_code = models.CharField(max_length=5, db_column="OrgCode")

            class Meta:
                app_label = "gyro"

        yield {"Org": Org, "Team": Team, "Member": Member}


@pytest.fixture
def demo(transactional_db: None) -> DemoSize:
    """The example shop's demo data (scale 1, two tenants), committed."""
    if connections["default"].vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    return create_demo_data("default", scale=1, tenants=2)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An export directory that does not exist yet."""
    return tmp_path / "export"


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
    name = database_name("gyro_tpl")
    maintenance(f"CREATE DATABASE {quote_name(name)}")
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
        name = database_name("gyro_t")
        maintenance(f"CREATE DATABASE {quote_name(name)} TEMPLATE {quote_name(template_db)}")
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


@pytest.fixture(scope="module")
def export_dir(
    django_db_setup: Any,
    django_db_blocker: DjangoDbBlocker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The seed's slice of the demo tenant, exported once per module from committed rows."""
    directory = tmp_path_factory.mktemp("gyro_reload") / "export"
    with django_db_blocker.unblock():
        check_test_database()
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
