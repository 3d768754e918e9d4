"""The CIV ``Migration`` API as real Django migrations: files, migrate, rollback, history."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from pytest_django.fixtures import Settings

from civ_orm_compat.exceptions import MigrationError
from civ_orm_compat.migrations import CreateTable, Migration
from settings.database import BASE_DIR

pytestmark = pytest.mark.django_db(transaction=True)

APP_MIGRATIONS = BASE_DIR / "tests" / "civ_app" / "migrations"


@pytest.fixture
def migrations_package(tmp_path: Path, settings: Settings) -> Iterator[Path]:
    """civ_app's migrations redirected to a scratch package (a copy of the real ones)."""
    name = f"civ_scratch_{uuid.uuid4().hex[:8]}"
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    shutil.copy(APP_MIGRATIONS / "0001_initial.py", package / "0001_initial.py")
    sys.path.insert(0, str(tmp_path))
    settings.MIGRATION_MODULES = {"civ_app": name}
    settings.CIV_ORM_MIGRATIONS_APP = "civ_app"
    try:
        yield package
    finally:
        call_command("migrate", "civ_app", "0001", verbosity=0)
        sys.path.remove(str(tmp_path))
        for module in [m for m in sys.modules if m.startswith(name)]:
            del sys.modules[module]


def tables() -> set[str]:
    with connections["default"].cursor() as cursor:
        return set(connections["default"].introspection.table_names(cursor))


def test_create_save_run_and_roll_back(migrations_package: Path) -> None:
    migration = Migration.create("add_legacy_table")
    migration.add_table(
        "civ_legacy",
        [
            {"name": "id", "type": "INTEGER", "primary_key": True},
            {"name": "username", "type": "VARCHAR(50)", "null": False, "unique": True},
            {"name": "score", "type": "INTEGER", "default": 0},
        ],
    )
    path = migration.save()
    assert path == migrations_package / "0002_add_legacy_table.py"
    source = path.read_text()
    assert "civ_orm_compat.migrations.CreateTable(" in source
    assert "('civ_app', '0001_initial')" in source

    out = StringIO()
    call_command("showmigrations", "civ_app", stdout=out)
    assert "[ ] 0002_add_legacy_table" in out.getvalue()
    assert Migration.pending() == [("civ_app", "0002_add_legacy_table")]

    assert Migration.run_all() == [("civ_app", "0002_add_legacy_table")]
    assert "civ_legacy" in tables()
    assert Migration.run_all() == []  # nothing pending
    with connections["default"].cursor() as cursor:
        cursor.execute("INSERT INTO civ_legacy (id, username) VALUES (%s, %s)", [1, "x"])
        cursor.execute("SELECT score FROM civ_legacy")
        assert cursor.fetchone() == (0,)

    second = Migration.create("more")
    second.add_column("civ_legacy", {"name": "note", "type": "TEXT"})
    second.run_sql("CREATE TABLE civ_raw (x INTEGER)", "DROP TABLE civ_raw")
    assert second.save().stem == "0003_more"
    Migration.run_all()
    assert {"civ_legacy", "civ_raw"} <= tables()
    assert [h["name"] for h in Migration.history()] == [
        "0001_initial",
        "0002_add_legacy_table",
        "0003_more",
    ]
    # The table operations change no model state: makemigrations has nothing to add.
    call_command("makemigrations", "civ_app", check=True, dry_run=True, stdout=StringIO())

    assert Migration.rollback() == ["0003_more"]
    assert "civ_raw" not in tables() and "civ_legacy" in tables()
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT * FROM civ_legacy")
        assert [c[0] for c in cursor.description] == ["id", "username", "score"]
    assert Migration.rollback(steps=1) == ["0002_add_legacy_table"]
    assert "civ_legacy" not in tables()
    assert [h["name"] for h in Migration.history()] == ["0001_initial"]


def test_an_original_style_migration_saves_as_a_django_migration(
    migrations_package: Path,
) -> None:
    raw = Migration("raw_notes", "20240101000000")
    raw.up("CREATE TABLE civ_notes (id INTEGER PRIMARY KEY)")
    raw.up("CREATE TABLE civ_notes2 (id INTEGER PRIMARY KEY)")
    raw.down("DROP TABLE civ_notes2")
    raw.down("DROP TABLE civ_notes")
    path = raw.save()
    assert path.name == "0002_raw_notes.py" and "migrations.RunSQL(" in path.read_text()
    assert Migration.run_all() == [("civ_app", "0002_raw_notes")]
    assert {"civ_notes", "civ_notes2"} <= tables()
    assert Migration.rollback() == ["0002_raw_notes"]
    assert not {"civ_notes", "civ_notes2"} & tables()


def test_bad_input_is_refused_before_anything_is_written(migrations_package: Path) -> None:
    with pytest.raises(MigrationError, match="lower-case letters, digits and underscores"):
        Migration.create("Add Users!")
    with pytest.raises(MigrationError, match="not a plain SQL type"):
        Migration.create("x").add_table("t", [{"name": "a", "type": "INT; DROP TABLE users"}])
    with pytest.raises(MigrationError, match="not a valid identifier"):
        Migration.create("x").add_table('t"; --', [{"name": "a", "type": "INT"}])
    with pytest.raises(MigrationError, match="unknown column keys \\['size'\\]"):
        Migration.create("x").add_table("t", [{"name": "a", "type": "INT", "size": 3}])
    with pytest.raises(MigrationError, match="names a column twice"):
        CreateTable("t", [{"name": "a", "type": "INT"}, {"name": "a", "type": "INT"}])
    with pytest.raises(MigrationError, match="has no operations"):
        Migration.create("empty").save()
    saved = Migration.create("once").add_table("civ_once", [{"name": "a", "type": "INT"}])
    saved.save()
    with pytest.raises(MigrationError, match="already saved"):
        saved.save()
    with pytest.raises(MigrationError, match="already has a migration named 'once'"):
        Migration.create("once").add_table("civ_other", [{"name": "a", "type": "INT"}]).save()
    assert sorted(p.name for p in migrations_package.glob("0*.py")) == [
        "0001_initial.py",
        "0002_once.py",
    ]
    with pytest.raises(MigrationError, match="only 1 applied"):
        Migration.rollback(steps=2)
    with pytest.raises(MigrationError, match="positive integer, got 0"):
        Migration.rollback(steps=0)
    with pytest.raises(MigrationError, match="'nope' is not installed"):
        Migration.create("x", app_label="nope")
    with pytest.raises(MigrationError, match="cannot go into civ_orm_compat itself"):
        Migration.create("x", app_label="civ_orm_compat")


def test_an_irreversible_migration_stops_the_rollback_before_it_starts(
    migrations_package: Path,
) -> None:
    (migrations_package / "0002_oneway.py").write_text(
        textwrap.dedent(
            """
            from django.db import migrations


            class Migration(migrations.Migration):
                dependencies = [("civ_app", "0001_initial")]
                operations = [migrations.RunSQL("CREATE TABLE civ_oneway (x INTEGER)")]
            """
        )
    )
    Migration.create("reversible").add_table("civ_rev", [{"name": "a", "type": "INT"}]).save()
    Migration.run_all()
    with pytest.raises(MigrationError, match="0002_oneway cannot be rolled back"):
        Migration.rollback(steps=2)
    assert {"civ_rev", "civ_oneway"} <= tables()  # nothing was undone
    assert Migration.rollback(steps=1) == ["0003_reversible"]
    # Undo the irreversible one by hand so the fixture can migrate back.
    with connections["default"].cursor() as cursor:
        cursor.execute("DROP TABLE civ_oneway")
    MigrationRecorder(connections["default"]).record_unapplied("civ_app", "0002_oneway")


def test_no_app_configured(settings: Settings) -> None:
    settings.CIV_ORM_MIGRATIONS_APP = None
    with pytest.raises(MigrationError, match="set CIV_ORM_MIGRATIONS_APP"):
        Migration.create("x")


SEED_EXAMPLE = """
from civ_orm_compat.migrations import Migration

# Create migration
migration = Migration.create("add_user_table")
migration.add_table("users", [
    {"name": "id", "type": "INTEGER", "primary_key": True},
    {"name": "username", "type": "VARCHAR(50)"},
])
migration.save()

# Run migrations
Migration.run_all()

# Rollback
Migration.rollback()
"""

CHECKS = """
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

print(sorted(MigrationRecorder(connection).migration_qs.values_list("app", "name")))
print("users" in connection.introspection.table_names())
"""


def test_the_seed_migration_example_as_written(tmp_path: Path) -> None:
    """Runs on a fresh SQLite database: the seed's ``users`` table clashes with the models'."""
    (tmp_path / "seedmig").mkdir()
    (tmp_path / "seedmig" / "__init__.py").write_text("")
    (tmp_path / "seed_settings.py").write_text(
        "from tests.settings import *  # noqa\n"
        "MIGRATION_MODULES = {'civ_app': 'seedmig'}\n"
        "CIV_ORM_MIGRATIONS_APP = 'civ_app'\n"
    )
    # Between run_all() and rollback(), record what exists.
    example = SEED_EXAMPLE.replace("# Rollback\n", CHECKS + "\n# Rollback\n") + CHECKS
    script = "import django\ndjango.setup()\n" + example
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "seed_settings",
        "DATABASE_URL": f"sqlite:///{tmp_path}/seed.sqlite3",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(BASE_DIR)]),
    }
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[('civ_app', '0001_add_user_table')]",
        "True",
        "[]",
        "False",
    ]
    assert (tmp_path / "seedmig" / "0001_add_user_table.py").is_file()
