"""The original's raw-SQL migrations: ``Migration(name, version)`` with ``up()``/``down()``, and
``MigrationManager`` with its ``migrations`` history table.

The original kept migrations in memory (every process registers them again at start-up), ran
each statement through ``db.execute`` with no transaction, and recorded versions in a table named
``migrations``. Here the same calls work on every backend, with three safety changes:

* a migration's statements and its history row are one transaction where the backend can roll
  DDL back (PostgreSQL, SQLite), so a failure leaves nothing half-applied there;
* a duplicate version is refused before any SQL runs, and ``rollback()`` refuses an applied
  version that no registered migration describes (the original skipped it silently);
* ``rollback(steps)`` takes ``steps >= 1`` (the original read 0 and negatives as "all").

The history table's name is ``CIV_ORM_MIGRATIONS_TABLE`` (default ``migrations``).
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.utils import timezone

from civ_orm_compat import _raw
from civ_orm_compat._async import run
from civ_orm_compat.conf import civ_settings
from civ_orm_compat.exceptions import MigrationError

if TYPE_CHECKING:
    from civ_orm_compat.migrations import Migration

__all__ = ["MigrationManager", "run_statements"]


def _atomic(using: str) -> AbstractContextManager[Any]:
    """One transaction where the backend can roll DDL back (not MySQL/MariaDB)."""
    if connections[using].features.can_rollback_ddl:
        return transaction.atomic(using=using)
    return nullcontext()


def run_statements(statements: list[str], using: str) -> None:
    """Run raw statements in order, in one transaction where DDL can be rolled back."""
    with _atomic(using):
        for statement in statements:
            _raw.run_script(using, statement)


def _table() -> str:
    return str(civ_settings.MIGRATIONS_TABLE)


class MigrationManager:
    """The original's migration runner over an in-memory list of :class:`Migration` objects.

    Args:
        migrations_dir: kept for the original's signature; unused (as in the original).
        using: database alias (default ``"default"``).
        stdout: where ``migrate``/``rollback`` write their progress lines (default stdout);
            pass ``verbosity=0`` to silence them.
    """

    #: The class ``create_migration`` builds (``civ_orm_compat.migrations`` sets its own).
    migration_class: type[Migration] | None = None

    def __init__(
        self,
        migrations_dir: str = "migrations",
        using: str | None = None,
        stdout: IO[str] | None = None,
        verbosity: int = 1,
    ) -> None:
        self.migrations_dir = migrations_dir
        self.using = using or DEFAULT_DB_ALIAS
        self.migrations: list[Migration] = []
        self.stdout = stdout
        self.verbosity = verbosity

    def __repr__(self) -> str:
        return f"<MigrationManager {len(self.migrations)} migrations>"

    def _say(self, line: str) -> None:
        if self.verbosity > 0:
            (self.stdout or sys.stdout).write(line + "\n")

    # -- the history table -------------------------------------------------------------------
    async def init(self) -> None:
        """Create the history table if it does not exist."""
        await run(self._init)

    def _init(self) -> None:
        connection = connections[self.using]
        qn = connection.ops.quote_name
        # Column types as Django's own fields declare them on this backend.
        id_field: Any = models.AutoField(primary_key=True)
        auto = id_field.db_type(connection)
        suffix = id_field.db_type_suffix(connection) or ""
        varchar = models.CharField(max_length=255).db_type(connection)
        stamp = models.DateTimeField().db_type(connection)
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {qn(_table())} ("
                f"{qn('id')} {auto} NOT NULL PRIMARY KEY {suffix}, "
                f"{qn('version')} {varchar} NOT NULL UNIQUE, "
                f"{qn('name')} {varchar} NOT NULL, "
                f"{qn('applied_at')} {stamp} NOT NULL)"
            )

    def _has_table(self) -> bool:
        connection = connections[self.using]
        with connection.cursor() as cursor:
            return _table() in connection.introspection.table_names(cursor)

    async def get_applied_migrations(self) -> list[str]:
        """Applied versions, oldest first; ``[]`` before ``init()``."""
        return await run(self._applied)

    def _applied(self) -> list[str]:
        if not self._has_table():
            return []
        qn = connections[self.using].ops.quote_name
        with connections[self.using].cursor() as cursor:
            cursor.execute(
                f"SELECT {qn('version')} FROM {qn(_table())} "
                f"ORDER BY {qn('applied_at')}, {qn('id')}"
            )
            return [str(row[0]) for row in cursor.fetchall()]

    async def history(self) -> list[dict[str, Any]]:
        """Every history row, oldest first: ``{"version", "name", "applied_at"}``."""
        return await run(self._history)

    def _history(self) -> list[dict[str, Any]]:
        if not self._has_table():
            return []
        qn = connections[self.using].ops.quote_name
        with connections[self.using].cursor() as cursor:
            cursor.execute(
                f"SELECT {qn('version')}, {qn('name')}, {qn('applied_at')} FROM {qn(_table())} "
                f"ORDER BY {qn('applied_at')}, {qn('id')}"
            )
            return [
                {"version": row[0], "name": row[1], "applied_at": row[2]}
                for row in cursor.fetchall()
            ]

    # -- one migration -----------------------------------------------------------------------
    async def apply_migration(self, migration: Migration) -> None:
        """Run ``migration``'s up statements and record its version.

        Raises:
            MigrationError: the version is recorded already (nothing is run).
        """
        await run(self._apply, migration)

    def _apply(self, migration: Migration) -> None:
        version = migration.version
        if version in self._applied():
            raise MigrationError(f"migration {version}_{migration.name} is applied already")
        connection = connections[self.using]
        qn = connection.ops.quote_name
        with _atomic(self.using):
            for statement in migration.up_sql:
                _raw.run_script(self.using, statement)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {qn(_table())} ({qn('version')}, {qn('name')}, "
                    f"{qn('applied_at')}) VALUES (%s, %s, %s)",
                    [
                        version,
                        migration.name,
                        connection.ops.adapt_datetimefield_value(timezone.now()),
                    ],
                )

    async def rollback_migration(self, migration: Migration) -> None:
        """Run ``migration``'s down statements (in the order added) and forget its version."""
        await run(self._rollback, migration)

    def _rollback(self, migration: Migration) -> None:
        connection = connections[self.using]
        qn = connection.ops.quote_name
        with _atomic(self.using):
            for statement in migration.down_sql:
                _raw.run_script(self.using, statement)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {qn(_table())} WHERE {qn('version')} = %s", [migration.version]
                )

    # -- all of them -------------------------------------------------------------------------
    async def migrate(self) -> list[str]:
        """Create the history table, then apply every registered migration not applied yet,
        in registration order. Returns the versions applied."""
        await self.init()
        applied = set(await self.get_applied_migrations())
        done = []
        for migration in list(self.migrations):
            if migration.version in applied:
                continue
            self._say(f"Applying migration: {migration.version}_{migration.name}")
            await self.apply_migration(migration)
            done.append(str(migration.version))
        return done

    async def rollback(self, steps: int = 1) -> list[str]:
        """Roll back the last ``steps`` applied migrations, newest first; returns their versions.

        Raises:
            MigrationError: ``steps`` is not a positive integer, or an applied version has no
                registered migration (checked before anything is rolled back).
        """
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise MigrationError(f"rollback() steps must be a positive integer, got {steps!r}")
        applied = await self.get_applied_migrations()
        todo = list(reversed(applied[-steps:]))
        registered = {str(m.version): m for m in self.migrations}
        missing = [version for version in todo if version not in registered]
        if missing:
            raise MigrationError(
                "cannot roll back: no registered migration for applied version(s) "
                + ", ".join(missing)
                + "; register them (add_migration) before rollback()"
            )
        for version in todo:
            migration = registered[version]
            self._say(f"Rolling back migration: {version}_{migration.name}")
            await self.rollback_migration(migration)
        return todo

    # -- registry ----------------------------------------------------------------------------
    def create_migration(self, name: str) -> Migration:
        """A new migration versioned by the local time (``%Y%m%d%H%M%S``), registered.

        Two created in the same second get consecutive versions (the original's collided).
        """
        stamp = int(datetime.now().strftime("%Y%m%d%H%M%S"))
        taken = {m.version for m in self.migrations}
        while str(stamp) in taken:
            stamp += 1
        if self.migration_class is None:
            raise MigrationError("use civ_orm_compat.migrations.MigrationManager")
        migration = self.migration_class(name, str(stamp))
        self.add_migration(migration)
        return migration

    def add_migration(self, migration: Migration) -> None:
        """Register ``migration``.

        Raises:
            MigrationError: another registered migration has the same version.
        """
        if migration.version is None:
            raise MigrationError(
                f"{migration!r} has no version: MigrationManager runs the original's "
                "Migration(name, version) objects"
            )
        if any(m.version == migration.version for m in self.migrations):
            raise MigrationError(f"a migration with version {migration.version} is registered")
        self.migrations.append(migration)
