"""Reload an export (``manifest.json`` + one CSV per model) into a PostgreSQL database.

:func:`load_export` is the one entry point; ``DataSlicer.run`` and ``manage.py gyro_import`` call
it. The load follows Django's ``loaddata`` (one ``transaction.atomic``, a constraint check,
``sequence_reset_sql``, errors that name the model) and adds what a reload into a database that
already holds data needs:

1. **Before touching the target**: the manifest, every file's size, sha256 and header line, the
   target's tables, columns and types, its applied migrations and Gyro's own tables are checked.
2. **One transaction**: every file is copied with ``COPY ... FROM STDIN`` into a temporary staging
   table; keys are decided set-based (kept, remapped from the target's sequences, merged on a
   natural key, skipped or updated); rows go into the real tables with ``INSERT ... SELECT``,
   foreign keys rewritten through the key maps in the same statement.
3. **Integrity, set-based**: the foreign-key constraints of the loaded tables are lifted for the
   load and added back at the end, which makes PostgreSQL validate each one with a single query
   instead of one trigger call per row; unique constraints are enforced by their indexes. Any
   violation is reported as model, key, column and value, and the transaction rolls back.
4. Sequences are reset, the key map is stored in ``django_gyro_keymap``, and the transaction
   commits (``dry_run`` rolls back instead).

A process killed at any point leaves no trace: PostgreSQL rolls back a transaction whose client
went away, and the temporary tables vanish with the session.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.apps import apps
from django.core.management.color import no_style
from django.db import DatabaseError, IntegrityError, connections, transaction
from django.db.migrations.recorder import MigrationRecorder

from django_gyro.backend import catalog
from django_gyro.backend.compression import DecompressionError, Tee, reader
from django_gyro.backend.connection import Statements, is_url, mask_url, private_alias
from django_gyro.backend.copy import copy_from
from django_gyro.checks import raise_for_models
from django_gyro.exceptions import (
    UNCHANGED,
    BadDataError,
    LoadError,
    ManifestError,
    SchemaMismatchError,
    SourceError,
)
from django_gyro.load import integrity, keys
from django_gyro.load.integrity import diagnostics, primary_message
from django_gyro.load.plan import STRATEGIES, ModelPlan, make_plans
from django_gyro.load.results import LoadResult, ModelLoadReport
from django_gyro.manifest import Manifest, check_files, read_manifest
from django_gyro.models import KeyAction, KeyMap, Load

__all__ = [
    "STRATEGIES",
    "LoadOptions",
    "LoadResult",
    "Loader",
    "ModelLoadReport",
    "load_export",
    "target_connection",
]

#: Serialises loads into one database (two loads of the same export must not both insert).
_LOCK_KEY = 0x6779726F  # "gyro"
_CONTEXT = re.compile(r"COPY [^,]+, line (\d+)(?:, column ([^:]+))?")


@contextmanager
def target_connection(target: str) -> Iterator[str]:
    """A private alias for ``target`` (see :func:`~django_gyro.backend.connection.private_alias`).

    Raises:
        LoadError: the target is not a usable PostgreSQL alias or URL.
    """
    try:
        context = private_alias(target, prefix="gyro_target")
        alias = context.__enter__()
    except SourceError as exc:
        raise LoadError(f"{exc}; {UNCHANGED}") from None
    try:
        yield alias
    finally:
        context.__exit__(None, None, None)


def _describe_target(target: str) -> str:
    return mask_url(target) if is_url(target) else f"alias '{target}'"


@dataclass(frozen=True)
class LoadOptions:
    """How a load treats keys and what it commits (see :func:`load_export`)."""

    on_conflict: str | Mapping[Any, str] = "error"
    natural_keys: Mapping[Any, Sequence[str]] | None = None
    shared: Sequence[str] = ()
    dry_run: bool = False
    force: bool = False


def load_export(
    source: Any,
    target: Any = "default",
    *,
    jobs: Any = None,
    on_conflict: str | Mapping[Any, str] = "error",
    natural_keys: Mapping[Any, Sequence[str]] | None = None,
    shared: Iterable[str] = (),
    dry_run: bool = False,
    force: bool = False,
    directory: str | Path | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    progress_file: IO[str] | None = None,
    log: Callable[[str], Any] | None = None,
    **export_options: Any,
) -> LoadResult:
    """Load an export into ``target`` in one transaction.

    Args:
        source: the export: a directory path or ``DataSlicer.File(dir)``; or a
            ``DataSlicer.Postgres(...)`` database, which is first exported with ``jobs`` into
            ``directory`` (or a temporary directory, removed afterwards): files are always the
            intermediary.
        target: ``DataSlicer.Postgres(...)``, a Django alias or a ``postgres://`` URL.
        jobs: the ``ImportJob`` list, only for a ``Postgres`` source.
        on_conflict: the key strategy for tables that already have rows: one of
            :data:`STRATEGIES` for every model, or a mapping ``{model or label: strategy}``
            (key ``"*"`` is the default for the others, else ``"error"``). An Importer's
            ``on_conflict`` attribute, if set, is used for its model when the mapping does not
            name it. Tables that are empty before the load always keep their keys.
        natural_keys: ``{model or label: (field names)}`` used by ``"merge"`` (and to tell
            whether a row under the same key is the same row for ``"skip"``/``"update"``).
            Defaults: an Importer's ``natural_key`` attribute, else the model's first unique
            field or unique constraint.
        shared: foreign keys, as ``"app_label.Model.field"``, whose parent rows may be missing
            from the export because they are shared: already in the target under the same keys
            (a lookup table). Their values are kept and must exist in the target. An
            Importer's ``shared = ("field", ...)`` says the same for its model. Any other
            reference to a row of a model Gyro manages that is not in the export is an error.
        dry_run: do the whole load and all checks, then roll back (sequences are not moved).
        force: load even if this export was loaded into ``target`` before (its rows were
            deleted since, say): a new load with its own key map.
        directory: for a ``Postgres`` source, where the intermediate export goes.
        overwrite: for a ``Postgres`` source, replace files already in ``directory``.
        progress: tqdm bars per file; ``None`` shows them when stderr is a terminal.
        progress_file: where the bars go (default ``sys.stderr``).
        log: called with per-step messages (the command passes them at verbosity 2+).
        export_options: passed to the export for a ``Postgres`` source (``strict``, ...).

    Returns:
        A :class:`LoadResult`.

    Raises:
        LoadError: (a subclass naming the file, line, column, model, key or value); the target
            is unchanged.
    """
    from django_gyro.api import File, Postgres

    if isinstance(shared, str):
        shared = [shared]
    options = LoadOptions(
        on_conflict=on_conflict,
        natural_keys=natural_keys,
        shared=tuple(shared),
        dry_run=dry_run,
        force=force,
    )
    if progress is None:
        stream = progress_file or sys.stderr
        progress = bool(getattr(stream, "isatty", lambda: False)())
    target_name = target.url_or_alias if isinstance(target, Postgres) else str(target)
    report = _Report(progress, progress_file, log or (lambda _: None))
    if isinstance(source, Postgres):
        if not jobs:
            raise LoadError("loading from a database needs jobs=[ImportJob(...), ...]")
        with tempfile.TemporaryDirectory(prefix="gyro-") as scratch:
            folder = File(directory or scratch, overwrite=overwrite or directory is None)
            from django_gyro.export.export import export

            export_options = {k: v for k, v in export_options.items() if v is not None}
            export_options.setdefault("log", log)
            export(
                source,
                folder,
                jobs,
                progress=progress,
                progress_file=progress_file,
                **export_options,
            )
            return _load_directory(folder.path, target_name, options, report)
    unused = [name for name, value in export_options.items() if value is not None]
    if jobs is not None or unused:
        given = ["jobs"] * (jobs is not None) + unused
        raise LoadError(
            f"{', '.join(given)} only apply when the source is a database "
            f"(DataSlicer.Postgres); the source is the export directory {source}"
        )
    if isinstance(source, File):
        path = source.path
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
    else:
        raise LoadError(
            f"the source of a load must be an export directory or DataSlicer.File(...) / "
            f"DataSlicer.Postgres(...), got {source!r}"
        )
    return _load_directory(path, target_name, options, report)


@dataclass(frozen=True)
class _Report:
    progress: bool
    progress_file: IO[str] | None
    log: Callable[[str], Any]


def _load_directory(
    directory: Path, target: str, options: LoadOptions, report: _Report
) -> LoadResult:
    started = time.perf_counter()
    manifest = read_manifest(directory)
    plans = make_plans(manifest, options.on_conflict, options.natural_keys, options.shared)
    raise_for_models([plan.model for plan in plans])
    # Existence, size and header line now; the sha256 while each file is fed to COPY.
    check_files(manifest, verify_hash=False)
    result = LoadResult(
        directory=manifest.directory,
        target=_describe_target(target),
        fingerprint=manifest.fingerprint,
        dry_run=options.dry_run,
        models=[plan.report for plan in sorted(plans, key=lambda plan: plan.index)],
    )
    report.log("load order (parents first): " + ", ".join(plan.label for plan in plans))
    with target_connection(target) as alias:
        loader = Loader(alias, manifest, plans, options, report)
        loader.preflight()
        try:
            loader.run(result)
        except LoadError:
            raise
        except DatabaseError as exc:  # anything unforeseen: still rolled back, still named
            raise LoadError(
                f"Could not load {manifest.directory}: {primary_message(exc)}; {UNCHANGED}"
            ) from exc
    result.seconds = time.perf_counter() - started
    return result


class _Feed:
    """A file read once: each chunk is hashed and counted as it goes to COPY."""

    def __init__(self, handle: IO[bytes], bar: Any) -> None:
        self.handle = handle
        self.bar = bar
        self.digest = hashlib.sha256()
        self.size = 0

    def __call__(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.size += len(chunk)
        if self.bar is not None:
            self.bar.update(len(chunk))

    def drain(self) -> None:
        """Hash what COPY did not read (it stopped at an error)."""
        while chunk := self.handle.read(1024 * 1024):
            self(chunk)


class Loader(Statements):
    """One load in progress: the target connection, the plans, and the stages of the load."""

    def __init__(
        self,
        alias: str,
        manifest: Manifest,
        plans: list[ModelPlan],
        options: LoadOptions,
        report: _Report,
    ) -> None:
        self.alias = alias
        self.wrapper = connections[alias]
        self.manifest = manifest
        #: In load order: parents before children (see :func:`~.plan.load_order`).
        self.plans = plans
        self.by_label = {plan.model._meta.label: plan for plan in plans}
        self.options = options
        self.dry_run = options.dry_run
        self.progress = report.progress
        self.progress_file = report.progress_file
        self.log = report.log
        self.dropped: list[tuple[str, str, str]] = []  # (table, constraint, definition)
        #: (table, column) of the one-column foreign keys lifted for the load.
        self.lifted_columns: set[tuple[str, str]] = set()
        #: (index, CREATE INDEX statement) dropped for the load, rebuilt after the insert.
        self.lifted_indexes: list[tuple[str, str]] = []

    # -- helpers ---------------------------------------------------------------------------

    def label_of_table(self, table: str) -> str:
        for model in apps.get_models():
            if model._meta.db_table == table:
                return model._meta.label
        return table

    # -- 1. checks that touch nothing ------------------------------------------------------

    def preflight(self) -> None:
        """Check Gyro's tables, the migrations and every file's columns against the target."""
        tables = set(self.wrapper.introspection.table_names())
        missing = [t for t in (Load._meta.db_table, KeyMap._meta.db_table) if t not in tables]
        if missing:
            raise SchemaMismatchError(
                f"the target has no {missing[0]} table: run `manage.py migrate django_gyro` on "
                f"it first (Gyro stores its key map there); {UNCHANGED}"
            )
        self._check_migrations()
        for plan in self.plans:
            self._check_columns(plan, tables)

    def _check_migrations(self) -> None:
        if not self.manifest.migrations:
            return
        applied = MigrationRecorder(self.wrapper).applied_migrations()
        apps_in_export = {plan.model._meta.app_label for plan in self.plans}
        for app_label in sorted(apps_in_export):
            for name in self.manifest.migrations.get(app_label, []):
                if (app_label, name) not in applied:
                    raise SchemaMismatchError(
                        f"the target is missing migration {app_label}.{name}, which the source "
                        f"had applied: run `manage.py migrate {app_label}` on the target first; "
                        f"{UNCHANGED}"
                    )

    def _check_columns(self, plan: ModelPlan, tables: set[str]) -> None:
        entry = plan.entry
        if plan.table not in tables:
            raise SchemaMismatchError(
                f"{entry.file} ({entry.label}): the target has no table {plan.table} (migrations "
                f"not applied?); {UNCHANGED}"
            )
        with self.wrapper.cursor() as cursor:
            target = catalog.columns(cursor, self.q(plan.table))
        for name, _db_type in entry.columns:
            if name not in target:
                raise SchemaMismatchError(
                    f"{entry.file} ({entry.label}): column {name!r} does not exist in the "
                    f"target table {plan.table}; {UNCHANGED}"
                )
            if target[name].generated:
                raise SchemaMismatchError(
                    f"{entry.file} ({entry.label}): column {name!r} is a generated column in "
                    f"the target and cannot be loaded; {UNCHANGED}"
                )
        names = [name for name, _ in entry.columns]
        pairs = [(db_type, target[name].type) for name, db_type in entry.columns]
        losses = self._type_losses(plan, pairs)
        for (name, db_type), loss in zip(entry.columns, losses, strict=True):
            if loss:
                raise SchemaMismatchError(
                    f"{entry.file} ({entry.label}): column {name!r} was exported as {db_type} "
                    f"but is {target[name].type} in the target table {plan.table} "
                    f"({loss}: loading would change values); {UNCHANGED}"
                )
        pk = plan.pk
        if pk not in names:
            raise SchemaMismatchError(
                f"{entry.file} ({entry.label}): the primary key column {pk!r} is not in the file "
                f"(excluded at export?); a reload needs it; {UNCHANGED}"
            )
        for name, column in target.items():
            if (
                name not in names
                and column.not_null
                and not column.has_default
                and not column.generated
            ):
                raise SchemaMismatchError(
                    f"{entry.file} ({entry.label}): the target column {plan.table}.{name} is NOT "
                    f"NULL without a default and the file has no such column; {UNCHANGED}"
                )

    def _type_losses(self, plan: ModelPlan, pairs: list[tuple[str, str]]) -> list[str]:
        """:func:`~django_gyro.backend.catalog.type_losses`, in a savepoint rolled back."""
        entry = plan.entry
        for (name, db_type), _ in zip(entry.columns, pairs, strict=True):
            if db_type and not catalog.TYPE_NAME.match(db_type):
                raise SchemaMismatchError(
                    f"{entry.file} ({entry.label}): the manifest gives column {name!r} the type "
                    f"{db_type!r}, which is not a PostgreSQL type name; {UNCHANGED}"
                )
        try:
            with transaction.atomic(using=self.alias), self.wrapper.cursor() as cursor:
                losses = catalog.type_losses(cursor, pairs)
                transaction.set_rollback(True, using=self.alias)
                return losses
        except DatabaseError:
            pass
        for (name, db_type), pair in zip(entry.columns, pairs, strict=True):  # which one?
            try:
                with transaction.atomic(using=self.alias), self.wrapper.cursor() as cursor:
                    catalog.type_losses(cursor, [pair])
                    transaction.set_rollback(True, using=self.alias)
            except DatabaseError as exc:
                raise SchemaMismatchError(
                    f"{entry.file} ({entry.label}): the manifest gives column {name!r} the type "
                    f"{db_type!r}, which is not a type in the target ({primary_message(exc)}); "
                    f"{UNCHANGED}"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- 2. the transaction ----------------------------------------------------------------

    def run(self, result: LoadResult) -> None:
        with transaction.atomic(using=self.alias):
            self.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
            prior = Load.objects.using(self.alias).for_export(self.manifest.fingerprint).first()
            if prior is not None and not self.options.force:
                result.already_loaded = prior.pk
                for plan in self.plans:
                    plan.report.keys = "already loaded"
                return
            self.execute("SET CONSTRAINTS ALL DEFERRED")
            for plan in self.plans:
                plan.table_was_empty = not self.fetch(
                    f"SELECT EXISTS (SELECT 1 FROM {self.q(plan.table)})"
                )[0][0]
            integrity.lift_foreign_keys(self)
            integrity.lift_indexes(self)
            for plan in self.plans:
                self._stage(plan)
            keys.decide_keys(self)
            keys.check_references(self)
            for plan in self.plans:
                self._insert(plan)
            integrity.restore_indexes(self)
            integrity.restore_foreign_keys(self)
            self.log(f"validated {len(self.dropped)} foreign-key constraints")
            integrity.check_deferred(self)
            if result.dry_run:  # sequences are not transactional: a dry run leaves them alone
                transaction.set_rollback(True, using=self.alias)
                return
            self._reset_sequences()
            result.load_id = self._record(result)
            self.log(f"recorded load {result.load_id} and its key map")

    def _stage(self, plan: ModelPlan) -> None:
        entry = plan.entry
        columns = ", ".join(self.q(name) for name in entry.column_names)
        self.execute(
            f"CREATE TEMPORARY TABLE {self.q(plan.stage)} ON COMMIT DROP AS "
            f"SELECT {columns} FROM {self.q(plan.table)} WITH NO DATA"
        )
        statement = (
            f"COPY {self.q(plan.stage)} ({columns}) FROM STDIN WITH (FORMAT csv, HEADER true)"
        )
        bar = None
        if self.progress:
            from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]

            bar = tqdm(
                total=entry.size,
                unit="B",
                unit_scale=True,
                desc=entry.file,
                file=self.progress_file,
            )
        try:
            handle = self.manifest.path(entry).open("rb")
        except OSError as exc:
            raise ManifestError(
                f"{entry.file} ({entry.label}) cannot be read: {exc.strerror}; {UNCHANGED}"
            ) from None
        feed = _Feed(handle, bar)
        try:
            with handle:
                try:
                    with transaction.atomic(using=self.alias):
                        # feed hashes the bytes on disk; COPY reads them decompressed
                        stream = reader(Tee(handle, feed), entry.compression)
                        count = copy_from(self.wrapper, statement, stream)  # type: ignore[arg-type]
                except Exception as exc:
                    if (
                        not isinstance(exc, (DatabaseError, *DecompressionError))
                        and diagnostics(exc) is None
                    ):
                        raise
                    feed.drain()
                    self._check_feed(plan, feed)  # an edited file is named as such
                    raise self._copy_error(plan, exc) from exc
        finally:
            if bar is not None:
                bar.close()
        self._check_feed(plan, feed)
        if count != entry.rows:
            raise BadDataError(
                f"{entry.file} ({entry.label}): {count} rows read, the manifest says "
                f"{entry.rows}; {UNCHANGED}"
            )
        self.execute(f"ANALYZE {self.q(plan.stage)}")
        self.log(f"staged {count} rows of {entry.label} from {entry.file}")

    def _check_feed(self, plan: ModelPlan, feed: _Feed) -> None:
        entry = plan.entry
        if feed.size != entry.size or feed.digest.hexdigest() != entry.sha256:
            raise ManifestError(
                f"{entry.file} ({entry.label}) does not match its sha256 in the manifest: the "
                f"file was edited after the export (or while it was being loaded); {UNCHANGED}"
            )

    def _copy_error(self, plan: ModelPlan, exc: BaseException) -> LoadError:
        entry = plan.entry
        diag = diagnostics(exc)
        context = getattr(diag, "context", None) or ""
        match = _CONTEXT.search(context)
        where = ""
        if match:
            where = f", line {match.group(1)}"
            if match.group(2):
                where += f", column {match.group(2)}"
        return BadDataError(
            f"Could not load {entry.label} from {entry.file}{where}: {primary_message(exc)}; "
            f"{UNCHANGED}"
        )

    # -- rows ------------------------------------------------------------------------------

    def select(self, plan: ModelPlan, where: str) -> str:
        exprs, joins = keys.parent_joins(self, plan)
        pk = plan.pk
        if plan.map_kind:
            joins.insert(0, f"LEFT JOIN {self.q(plan.map)} m ON m.old = s.{self.q(pk)}")
            if plan.map_kind == "rewrite":
                exprs[pk] = f"COALESCE(m.new, s.{self.q(pk)})"
        select = ", ".join(f"{exprs[name]} AS {self.q(name)}" for name in plan.entry.column_names)
        clause = f" WHERE {where}" if where else ""
        return f"SELECT {select} FROM {self.q(plan.stage)} s {' '.join(joins)}{clause}"

    def _insert(self, plan: ModelPlan) -> None:
        columns = ", ".join(self.q(name) for name in plan.entry.column_names)
        where = ""
        if plan.map_kind == "rewrite":
            where = "m.old IS NULL OR m.action = 'remapped'"
        elif plan.map_kind == "identity":
            where = "m.old IS NULL"
        try:
            with transaction.atomic(using=self.alias):
                count = self.execute(
                    f"INSERT INTO {self.q(plan.table)} ({columns}) {self.select(plan, where)}"
                )
                if plan.map_kind == "identity" and plan.strategy == "update":
                    self._update(plan)
        except IntegrityError as exc:
            raise integrity.insert_error(self, plan, where, exc) from exc
        if plan.map_kind != "rewrite":
            plan.report.inserted = count
        self.log(f"inserted {count} rows into {plan.table}")

    def _update(self, plan: ModelPlan) -> None:
        names = [name for name in plan.entry.column_names if name != plan.pk]
        if not names:
            return
        assignments = ", ".join(f"{self.q(n)} = x.{self.q(n)}" for n in names)
        pk = self.q(plan.pk)
        self.execute(
            f"UPDATE {self.q(plan.table)} t SET {assignments} FROM "
            f"({self.select(plan, 'm.action = ' + repr(KeyAction.UPDATED.value))}) x "
            f"WHERE t.{pk} = x.{pk}"
        )

    def _reset_sequences(self) -> None:
        statements = self.wrapper.ops.sequence_reset_sql(
            no_style(), [plan.model for plan in self.plans]
        )
        for statement in statements:
            self.execute(statement)

    def _record(self, result: LoadResult) -> int:
        on_conflict = sorted({plan.strategy for plan in self.plans})
        load = Load.objects.using(self.alias).create(
            fingerprint=self.manifest.fingerprint,
            directory=str(self.manifest.directory),
            on_conflict=on_conflict[0] if len(on_conflict) == 1 else "mixed",
            kept_models=[p.report.label for p in self.plans if p.map_kind != "rewrite"],
            summary=result.as_dict(),
            gyro_version=str(self.manifest.raw.get("gyro_version", "")),
        )
        keymap = self.q(KeyMap._meta.db_table)
        for plan in self.plans:
            if not plan.map_kind:
                continue
            self.execute(
                f"INSERT INTO {keymap} (load_id, model, old_key, new_key, action) "
                f"SELECT %s, %s, old::text, new::text, action FROM {self.q(plan.map)}",
                [load.pk, plan.report.label],
            )
        return int(load.pk)
