"""CIV ``database.migrations``: the ``Migration`` API as a façade over Django migrations.

``Migration.create("add_user_table").add_table("users", [...]).save()`` writes a real Django
migration file into the migrations package of the app named by ``CIV_ORM_MIGRATIONS_APP``
(``MIGRATION_MODULES`` is honoured), numbered and depending on that app's latest migration.
``manage.py showmigrations`` lists it and ``manage.py migrate`` runs it; ``Migration.run_all()``
is ``migrate <app>``, ``Migration.rollback(steps)`` migrates the app back ``steps`` migrations, and
``Migration.history()`` reads ``django_migrations``.

The table operations (:class:`CreateTable`, :class:`DropTable`, :class:`AddColumn`) change the
database only, not Django's model state: the tables they make belong to no model, so
``makemigrations`` never tries to undo them. Each is reversible; identifiers are quoted by the
backend and column types are checked against a strict pattern, never pasted unchecked.

These calls are synchronous, as in the seed. From async code use ``await Migration.arun_all()``
and ``await Migration.arollback()``.

The original package's own API also works: ``Migration(name, version)`` (a version is a string
of digits, which no app label can be) with ``up(sql)``/``down(sql)`` and ``await m.apply()`` /
``await m.rollback()``, run by ``MigrationManager``/``migration_manager`` with a ``migrations``
history table (see :mod:`civ_orm_compat._history`). Such a migration can also be written as a
Django migration file: ``save()`` turns its statements into one ``RunSQL``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from django.apps import apps
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db import migrations as django_migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations.base import Operation
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ProjectState
from django.db.migrations.writer import MigrationWriter

from civ_orm_compat import _history
from civ_orm_compat._async import run
from civ_orm_compat._history import run_statements
from civ_orm_compat.conf import civ_settings
from civ_orm_compat.exceptions import MigrationError

__all__ = [
    "AddColumn",
    "CreateTable",
    "DropTable",
    "Migration",
    "MigrationManager",
    "migration_manager",
]

_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_ ]{0,40}(\(\s*\d{1,5}\s*(,\s*\d{1,5}\s*)?\))?$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_NAME = re.compile(r"^[a-z0-9_]+$")
_COLUMN_KEYS = {"name", "type", "primary_key", "null", "unique", "default"}


def _check_identifier(kind: str, value: Any) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        raise MigrationError(
            f"{kind} {value!r} is not a valid identifier (letters, digits, underscores; "
            "at most 63 characters, not starting with a digit)"
        )
    return value


def _check_column(table: str, column: Any) -> dict[str, Any]:
    if not isinstance(column, dict):
        raise MigrationError(f"table {table!r}: a column must be a dict, got {column!r}")
    unknown = set(column) - _COLUMN_KEYS
    if unknown:
        raise MigrationError(
            f"table {table!r}: unknown column keys {sorted(unknown)}; allowed: "
            + ", ".join(sorted(_COLUMN_KEYS))
        )
    for key in ("name", "type"):
        if key not in column:
            raise MigrationError(f"table {table!r}: column {column!r} has no {key!r}")
    _check_identifier(f"table {table!r}: column name", column["name"])
    if not isinstance(column["type"], str) or not _TYPE.match(column["type"].strip()):
        raise MigrationError(
            f"table {table!r}, column {column['name']!r}: type {column['type']!r} is not a "
            "plain SQL type such as INTEGER, TEXT or VARCHAR(50)"
        )
    return dict(column)


def _column_sql(schema_editor: BaseDatabaseSchemaEditor, column: dict[str, Any]) -> str:
    quote = schema_editor.quote_name
    parts = [quote(column["name"]), column["type"].strip().upper()]
    primary_key = bool(column.get("primary_key"))
    if primary_key:
        parts.append("PRIMARY KEY")
    elif not column.get("null", True):
        parts.append("NOT NULL")
    if column.get("unique") and not primary_key:
        parts.append("UNIQUE")
    if "default" in column:
        parts.append("DEFAULT " + str(schema_editor.quote_value(column["default"])))
    return " ".join(parts)


class CreateTable(Operation):
    """Create a table from CIV column specs; reversed by dropping it."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, name: str, columns: list[dict[str, Any]]) -> None:
        self.name = _check_identifier("table name", name)
        if not isinstance(columns, list | tuple) or not columns:
            raise MigrationError(f"table {name!r} needs a non-empty list of columns")
        self.columns = [_check_column(name, column) for column in columns]
        names = [column["name"] for column in self.columns]
        if len(set(names)) != len(names):
            raise MigrationError(f"table {name!r} names a column twice: {names}")
        if sum(bool(column.get("primary_key")) for column in self.columns) > 1:
            raise MigrationError(f"table {name!r} has more than one primary_key column")

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        """No model state: the table belongs to no Django model."""

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: Any,
        to_state: Any,
    ) -> None:
        columns = ", ".join(_column_sql(schema_editor, column) for column in self.columns)
        schema_editor.execute(f"CREATE TABLE {schema_editor.quote_name(self.name)} ({columns})")

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: Any,
        to_state: Any,
    ) -> None:
        schema_editor.execute(f"DROP TABLE {schema_editor.quote_name(self.name)}")

    def describe(self) -> str:
        return f"Create table {self.name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"create_{self.name.lower()}"


class DropTable(CreateTable):
    """Drop a table; reversed by creating it again from ``columns``."""

    def database_forwards(self, *args: Any) -> None:
        super().database_backwards(*args)

    def database_backwards(self, *args: Any) -> None:
        super().database_forwards(*args)

    def describe(self) -> str:
        return f"Drop table {self.name}"

    @property
    def migration_name_fragment(self) -> str:
        return f"drop_{self.name.lower()}"


class AddColumn(Operation):
    """Add one column to an existing table; reversed by dropping it."""

    reversible = True
    reduces_to_sql = True

    def __init__(self, table: str, column: dict[str, Any]) -> None:
        self.table = _check_identifier("table name", table)
        self.column = _check_column(table, column)

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        """No model state: the table belongs to no Django model."""

    def database_forwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: Any,
        to_state: Any,
    ) -> None:
        table = schema_editor.quote_name(self.table)
        schema_editor.execute(
            f"ALTER TABLE {table} ADD COLUMN {_column_sql(schema_editor, self.column)}"
        )

    def database_backwards(
        self,
        app_label: str,
        schema_editor: BaseDatabaseSchemaEditor,
        from_state: Any,
        to_state: Any,
    ) -> None:
        table = schema_editor.quote_name(self.table)
        column = schema_editor.quote_name(self.column["name"])
        schema_editor.execute(f"ALTER TABLE {table} DROP COLUMN {column}")

    def describe(self) -> str:
        return f"Add column {self.column['name']} to {self.table}"


def _app_label(app_label: str | None) -> str:
    label = app_label or civ_settings.MIGRATIONS_APP
    if not label:
        raise MigrationError(
            "no app for CIV migrations: set CIV_ORM_MIGRATIONS_APP to the label of an installed "
            "app (its migrations package receives the files), or pass app_label="
        )
    if label == "civ_orm_compat":
        raise MigrationError(
            "CIV migrations cannot go into civ_orm_compat itself (its `migrations` module is "
            "this API); set CIV_ORM_MIGRATIONS_APP to one of your apps"
        )
    try:
        apps.get_app_config(str(label))
    except LookupError:
        raise MigrationError(
            f"CIV migrations app {label!r} is not installed (INSTALLED_APPS)"
        ) from None
    return str(label)


class _Rollback:
    """``Migration.rollback``: the seed's classmethod on the class (and on a seed-style
    migration), the original's ``await m.rollback()`` on a versioned migration."""

    def __get__(self, instance: Migration | None, owner: type[Migration]) -> Any:
        if instance is not None and instance.version is not None:
            return instance._rollback_raw
        return owner._rollback_app


class Migration:
    """A CIV migration being built; ``save()`` writes it as a Django migration file.

    Args:
        name: the migration's name (lower-case letters, digits, underscores).
        app_label: the app receiving the file (default ``CIV_ORM_MIGRATIONS_APP``); a string of
            digits instead is the original's ``version`` (``Migration("add_users",
            "20240101120000")``), for raw ``up()``/``down()`` SQL.
        version: the original's version, by keyword.
    """

    rollback = _Rollback()

    def __init__(
        self, name: str, app_label: str | None = None, *, version: str | None = None
    ) -> None:
        if isinstance(app_label, str) and app_label[:1].isdigit():
            version, app_label = app_label, None
        if not isinstance(name, str) or not _NAME.match(name):
            raise MigrationError(
                f"migration name {name!r} must use lower-case letters, digits and underscores"
            )
        self.name = name
        self.version = None if version is None else str(version)
        if self.version is not None and not self.version.isdigit():
            raise MigrationError(f"migration version {version!r} must be a string of digits")
        # A versioned (original-style) migration needs an app only to be saved as a file.
        self._app_label = app_label
        self.app_label = _app_label(app_label) if self.version is None else (app_label or "")
        self.operations: list[Operation] = []
        self.up_sql: list[str] = []
        self.down_sql: list[str] = []
        self.path: Path | None = None

    def __repr__(self) -> str:
        if self.version is not None:
            return f"<Migration {self.version}_{self.name}>"
        return f"<Migration {self.app_label}.{self.name}>"

    # -- the original's raw-SQL form ----------------------------------------------------------
    def up(self, sql: str) -> None:
        """Add a forward statement (run by ``apply()`` in the order added)."""
        self.up_sql.append(self._statement("up", sql))

    def down(self, sql: str) -> None:
        """Add a backward statement (run by ``rollback()`` in the order added, as the original)."""
        self.down_sql.append(self._statement("down", sql))

    @staticmethod
    def _statement(kind: str, sql: Any) -> str:
        if not isinstance(sql, str) or not sql.strip():
            raise MigrationError(f"{kind}() takes a non-empty SQL string, got {sql!r}")
        return sql

    async def apply(self, using: str | None = None) -> None:
        """Run the up statements (atomically where the backend can roll DDL back)."""
        await run(run_statements, self.up_sql, using or DEFAULT_DB_ALIAS)

    async def _rollback_raw(self, using: str | None = None) -> None:
        await run(run_statements, self.down_sql, using or DEFAULT_DB_ALIAS)

    # -- building -------------------------------------------------------------------------
    @classmethod
    def create(cls, name: str, app_label: str | None = None) -> Migration:
        """Start a migration named ``name``."""
        return cls(name, app_label)

    def add_table(self, name: str, columns: list[dict[str, Any]]) -> Migration:
        """Create table ``name``; columns are ``{"name", "type", "primary_key", "null",
        "unique", "default"}`` dicts (the seed's form)."""
        self.operations.append(CreateTable(name, columns))
        return self

    def drop_table(self, name: str, columns: list[dict[str, Any]]) -> Migration:
        """Drop table ``name``; ``columns`` describe it so the rollback can recreate it."""
        self.operations.append(DropTable(name, columns))
        return self

    def add_column(self, table: str, column: dict[str, Any]) -> Migration:
        """Add a column to ``table``."""
        self.operations.append(AddColumn(table, column))
        return self

    def run_sql(self, up: str, down: str) -> Migration:
        """Raw SQL forwards (``up``) and backwards (``down``), as the original's up()/down()."""
        if not (isinstance(up, str) and up.strip() and isinstance(down, str) and down.strip()):
            raise MigrationError("run_sql() needs both the up and the down SQL")
        self.operations.append(django_migrations.RunSQL(up, reverse_sql=down))
        return self

    def save(self) -> Path:
        """Write the migration file and return its path.

        Raises:
            MigrationError: no operations, already saved, or a migration of that name exists.
        """
        if self.path is not None:
            raise MigrationError(f"migration {self.name!r} was already saved to {self.path}")
        if self.version is not None:
            self.app_label = _app_label(self._app_label)
            if self.up_sql and not self.operations:
                reverse: Any = list(self.down_sql) or django_migrations.RunSQL.noop
                self.operations.append(django_migrations.RunSQL(list(self.up_sql), reverse))
        if not self.operations:
            raise MigrationError(f"migration {self.name!r} has no operations to save")
        loader = MigrationLoader(None, ignore_no_migrations=True)
        existing = sorted(name for app, name in loader.disk_migrations if app == self.app_label)
        if any(name.split("_", 1)[-1] == self.name for name in existing):
            raise MigrationError(
                f"app {self.app_label!r} already has a migration named {self.name!r}"
            )
        numbers = [int(name.split("_", 1)[0]) for name in existing if name[:4].isdigit()]
        full_name = f"{max(numbers, default=0) + 1:04d}_{self.name}"
        migration = django_migrations.Migration(full_name, self.app_label)
        migration.operations = list(self.operations)  # type: ignore[misc]
        migration.dependencies = sorted(loader.graph.leaf_nodes(self.app_label))  # type: ignore[misc]
        writer = MigrationWriter(migration)
        path = Path(writer.path)
        path.write_text(writer.as_string(), encoding="utf-8")
        importlib.invalidate_caches()
        self.path = path
        return path

    # -- running --------------------------------------------------------------------------
    @staticmethod
    def _executor(using: str) -> MigrationExecutor:
        return MigrationExecutor(connections[using])

    @classmethod
    def pending(
        cls, app_label: str | None = None, using: str | None = None
    ) -> list[tuple[str, str]]:
        """``(app, name)`` of every migration ``run_all()`` would apply, in order."""
        label = _app_label(app_label)
        executor = cls._executor(using or DEFAULT_DB_ALIAS)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes(label))
        return [(m.app_label, m.name) for m, backwards in plan if not backwards]

    @classmethod
    def run_all(
        cls, app_label: str | None = None, using: str | None = None
    ) -> list[tuple[str, str]]:
        """Apply the app's pending migrations (and what they depend on), as
        ``manage.py migrate <app>`` does; return ``(app, name)`` of what was applied."""
        label = _app_label(app_label)
        alias = using or DEFAULT_DB_ALIAS
        todo = cls.pending(label, alias)
        if todo:
            call_command("migrate", label, database=alias, verbosity=0, interactive=False)
        return todo

    @classmethod
    def _rollback_app(
        cls, steps: int = 1, app_label: str | None = None, using: str | None = None
    ) -> list[str]:
        """Unapply the last ``steps`` applied migrations of the app; return their names.

        Checks first that there are that many and that all are reversible, so a rollback
        never stops half-way on an irreversible one.
        """
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise MigrationError(f"rollback() steps must be a positive integer, got {steps!r}")
        label = _app_label(app_label)
        alias = using or DEFAULT_DB_ALIAS
        executor = cls._executor(alias)
        graph = executor.loader.graph
        applied = executor.loader.applied_migrations or {}
        ordered: list[str] = []
        for leaf in graph.leaf_nodes(label):
            for node in graph.forwards_plan(leaf):
                if node[0] == label and node in applied and node[1] not in ordered:
                    ordered.append(node[1])
        if steps > len(ordered):
            raise MigrationError(
                f"cannot roll back {steps} migration(s) of {label!r}: only {len(ordered)} applied"
            )
        undo = ordered[-steps:]
        for name in undo:
            migration = graph.nodes[(label, name)]
            for operation in migration.operations:
                if not operation.reversible:
                    raise MigrationError(
                        f"{label}.{name} cannot be rolled back: {operation.describe()} is "
                        "irreversible"
                    )
        target = ordered[-steps - 1] if len(ordered) > steps else "zero"
        call_command("migrate", label, target, database=alias, verbosity=0, interactive=False)
        return list(reversed(undo))

    @classmethod
    def history(
        cls, app_label: str | None = None, using: str | None = None
    ) -> list[dict[str, Any]]:
        """Applied migrations of the app, oldest first: ``{"name", "applied_at"}``."""
        label = _app_label(app_label)
        recorder = MigrationRecorder(connections[using or DEFAULT_DB_ALIAS])
        if not recorder.has_table():
            return []
        rows = recorder.migration_qs.filter(app=label).order_by("applied", "id")
        return [{"name": row.name, "applied_at": row.applied} for row in rows]

    @classmethod
    async def arun_all(
        cls, app_label: str | None = None, using: str | None = None
    ) -> list[tuple[str, str]]:
        """Async :meth:`run_all`."""
        return await run(cls.run_all, app_label, using)

    @classmethod
    async def arollback(
        cls, steps: int = 1, app_label: str | None = None, using: str | None = None
    ) -> list[str]:
        """Async :meth:`rollback`."""
        return await run(cls._rollback_app, steps, app_label, using)


class MigrationManager(_history.MigrationManager):
    """The original's migration runner (see :mod:`civ_orm_compat._history`), building
    :class:`Migration` objects in ``create_migration``."""

    migration_class = Migration


#: The original's module-level manager.
migration_manager = MigrationManager()
