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

import re
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from django.apps import apps
from django.core.management.color import no_style
from django.db import DatabaseError, IntegrityError, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.recorder import MigrationRecorder

from django_gyro import db
from django_gyro.exceptions import SourceError
from django_gyro.load_errors import (
    UNCHANGED,
    BadDataError,
    IntegrityViolation,
    KeyConflictError,
    LoadError,
    SchemaMismatchError,
)
from django_gyro.load_manifest import ExportFile, Manifest, check_files, read_manifest
from django_gyro.models import KeyAction, KeyMap, Load

__all__ = [
    "STRATEGIES",
    "LoadResult",
    "ModelLoadReport",
    "load_export",
    "target_connection",
]

#: The key strategies of a load into a table that already has rows.
STRATEGIES = ("error", "remap", "merge", "skip", "update")
#: How many offending keys an error message lists.
EXAMPLES = 5
#: Serialises loads into one database (two loads of the same export must not both insert).
_LOCK_KEY = 0x6779726F  # "gyro"

Progress = Callable[[str, int], Any]


@dataclass
class ModelLoadReport:
    """What the load did (or, in a dry run, would do) with one model's file.

    Attributes:
        label: ``app_label.ModelName``.
        file: the file name in the export.
        rows: rows in the file.
        keys: ``"kept"`` (primary keys as exported) or the strategy used for this model.
        inserted: rows inserted under their exported key.
        remapped: rows inserted under a new key.
        merged: rows matched to an existing row by natural key (not inserted).
        skipped: rows already present under the same key, left alone.
        updated: rows already present under the same key, overwritten.
    """

    label: str
    file: str
    rows: int
    keys: str = "kept"
    inserted: int = 0
    remapped: int = 0
    merged: int = 0
    skipped: int = 0
    updated: int = 0

    def line(self) -> str:
        """One human line: ``gyro_example.Order: 250 rows: 250 remapped``."""
        parts = [
            f"{count} {name}"
            for name in ("inserted", "remapped", "merged", "skipped", "updated")
            if (count := getattr(self, name))
        ]
        return f"{self.label}: {self.rows} rows: {', '.join(parts) or 'nothing to do'}"


@dataclass
class LoadResult:
    """The outcome of :func:`load_export`.

    Attributes:
        directory: the export directory.
        target: the target, printable (password masked).
        fingerprint: the export's identity (see :attr:`Manifest.fingerprint`).
        dry_run: whether the load was rolled back on purpose.
        load_id: the :class:`~django_gyro.models.Load` row written (``None`` in a dry run or
            when the export had been loaded already).
        already_loaded: the earlier :class:`~django_gyro.models.Load` of the same export, when
            this run found one and therefore did nothing.
        models: one report per file, in export order.
        seconds: wall time of the whole load.
    """

    directory: Path
    target: str
    fingerprint: str
    dry_run: bool = False
    load_id: int | None = None
    already_loaded: int | None = None
    models: list[ModelLoadReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        """Rows read from the files."""
        return sum(report.rows for report in self.models)

    def summary(self) -> str:
        """One line for people."""
        if self.already_loaded is not None:
            return (
                f"{self.directory} was already loaded into {self.target} (load "
                f"{self.already_loaded}); nothing was inserted"
            )
        verb = "would load" if self.dry_run else "loaded"
        tail = " (dry run: rolled back)" if self.dry_run else ""
        return (
            f"{verb} {self.rows} rows of {len(self.models)} models from {self.directory} into "
            f"{self.target} in {self.seconds:.2f}s{tail}"
        )

    def as_dict(self) -> dict[str, Any]:
        """The result as plain data (what ``Load.summary`` stores)."""
        return {report.label: asdict(report) for report in self.models}


@dataclass
class _ForeignKey:
    column: str
    name: str
    parent: str  # label of a model in the export; the FK points to its primary key


@dataclass
class _Plan:
    index: int
    entry: ExportFile
    model: type[models.Model]
    strategy: str
    natural_key: tuple[str, ...]
    fks: list[_ForeignKey]
    report: ModelLoadReport
    table_was_empty: bool = False
    #: "" (no map: keys kept), "rewrite" (remap/merge: children follow the map) or
    #: "identity" (skip/update: the map only marks rows, keys do not change).
    map_kind: str = ""

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def pk(self) -> str:
        pk = self.model._meta.pk
        assert pk is not None
        return pk.column

    @property
    def stage(self) -> str:
        return f"gyro_stage_{self.index}"

    @property
    def map(self) -> str:
        return f"gyro_map_{self.index}"


@contextmanager
def target_connection(target: str) -> Iterator[str]:
    """A private connection to ``target`` (alias or URL), registered under a temporary alias.

    Registering it lets the load use ``transaction.atomic(using=alias)`` and the ORM
    (``Load.objects.using(alias)``) on a connection that no caller shares, whatever the caller's
    own connection to the same database is doing. The alias and the connection go away at exit.

    Args:
        target: a Django alias or a ``postgres://`` URL.

    Yields:
        The temporary alias.
    """
    try:
        wrapper = db.open_connection(target)
    except SourceError as exc:
        raise LoadError(f"{exc}; {UNCHANGED}") from None
    alias = f"gyro_target_{uuid.uuid4().hex[:12]}"
    wrapper.alias = alias
    connections[alias] = wrapper
    try:
        yield alias
    finally:
        try:
            wrapper.close()
        finally:
            del connections[alias]


def _q(wrapper: BaseDatabaseWrapper, name: str) -> str:
    return wrapper.ops.quote_name(name)


def _describe_target(target: str) -> str:
    return db.mask_url(target) if db.is_url(target) else f"alias '{target}'"


def load_export(
    source: Any,
    target: Any = "default",
    *,
    jobs: Any = None,
    on_conflict: str | Mapping[Any, str] = "error",
    natural_keys: Mapping[Any, tuple[str, ...] | list[str]] | None = None,
    dry_run: bool = False,
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
        dry_run: do the whole load and all checks, then roll back.
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
    from django_gyro.endpoints import File, Postgres

    if progress is None:
        stream = progress_file or sys.stderr
        progress = bool(getattr(stream, "isatty", lambda: False)())
    target_name = target.url_or_alias if isinstance(target, Postgres) else str(target)
    if isinstance(source, Postgres):
        if not jobs:
            raise LoadError("loading from a database needs jobs=[ImportJob(...), ...]")
        with tempfile.TemporaryDirectory(prefix="gyro-") as scratch:
            folder = File(directory or scratch, overwrite=overwrite or directory is None)
            from django_gyro.exporting import export

            export_options = {k: v for k, v in export_options.items() if v is not None}
            export(
                source,
                folder,
                jobs,
                progress=progress,
                progress_file=progress_file,
                **export_options,
            )
            return _load_directory(
                folder.path,
                target_name,
                on_conflict,
                natural_keys,
                dry_run,
                progress,
                progress_file,
                log,
            )
    path = source.path if isinstance(source, File) else Path(source)
    return _load_directory(
        path, target_name, on_conflict, natural_keys, dry_run, progress, progress_file, log
    )


def _load_directory(
    directory: Path,
    target: str,
    on_conflict: str | Mapping[Any, str],
    natural_keys: Mapping[Any, tuple[str, ...] | list[str]] | None,
    dry_run: bool,
    progress: bool,
    progress_file: IO[str] | None,
    log: Callable[[str], Any] | None,
) -> LoadResult:
    started = time.perf_counter()
    manifest = read_manifest(directory)
    plans = _make_plans(manifest, on_conflict, natural_keys)
    _verify_files(manifest, progress, progress_file)
    result = LoadResult(
        directory=manifest.directory,
        target=_describe_target(target),
        fingerprint=manifest.fingerprint,
        dry_run=dry_run,
        models=[plan.report for plan in plans],
    )
    with target_connection(target) as alias:
        loader = _Loader(alias, manifest, plans, progress, progress_file, log or (lambda _: None))
        loader.preflight()
        try:
            loader.run(result)
        except LoadError:
            raise
        except DatabaseError as exc:  # anything unforeseen: still rolled back, still named
            raise LoadError(f"Could not load {manifest.directory}: {exc}; {UNCHANGED}") from exc
    result.seconds = time.perf_counter() - started
    return result


def _verify_files(manifest: Manifest, progress: bool, progress_file: IO[str] | None) -> None:
    if not progress:
        check_files(manifest)
        return
    from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]

    total = sum(entry.size for entry in manifest.files)
    with tqdm(
        total=total, unit="B", unit_scale=True, desc="checking sha256", file=progress_file
    ) as bar:

        def advance(_entry: Any, n: int) -> None:
            bar.update(n)

        check_files(manifest, on_bytes=advance)


def _progress_callback(bar: Any) -> Callable[[bytes], None] | None:
    """A ``copy_from`` chunk callback that advances ``bar`` by the bytes copied (None: no bar)."""
    if bar is None:
        return None

    def advance(chunk: bytes) -> None:
        bar.update(len(chunk))

    return advance


def _model_key(model: type[models.Model]) -> set[Any]:
    return {model, model._meta.label, model._meta.label_lower}


def _lookup(mapping: Mapping[Any, Any], model: type[models.Model]) -> Any:
    for key in _model_key(model):
        if key in mapping:
            return mapping[key]
    return None


def _importer_attribute(model: type[models.Model], name: str) -> Any:
    from django_gyro import registry

    importer = registry.get_importer(model)
    return getattr(importer, name, None) if importer is not None else None


def _column(model: type[models.Model], name: str) -> str:
    """The database column of ``model``'s concrete field ``name``."""
    field = model._meta.get_field(name)
    column = getattr(field, "column", None)
    if not isinstance(column, str):
        raise LookupError(f"{model._meta.label}.{name} has no column")
    return column


def _related(field: Any) -> type[models.Model] | None:
    """The model a concrete foreign key or one-to-one field points to, else ``None``."""
    related = field.related_model if field.is_relation else None
    if isinstance(related, type) and issubclass(related, models.Model):
        return related
    return None


def _default_natural_key(model: type[models.Model]) -> tuple[str, ...]:
    opts = model._meta
    for f in opts.concrete_fields:
        if f.unique and not f.primary_key:
            return (f.name,)
    for together in opts.unique_together:
        return tuple(together)
    for constraint in opts.total_unique_constraints:
        return tuple(constraint.fields)
    return ()


def _make_plans(
    manifest: Manifest,
    on_conflict: str | Mapping[Any, str],
    natural_keys: Mapping[Any, tuple[str, ...] | list[str]] | None,
) -> list[_Plan]:
    per_model: dict[Any, str] = {}
    if isinstance(on_conflict, str):
        default = on_conflict
    else:
        per_model = dict(on_conflict)
        default = per_model.get("*") or per_model.get(None) or "error"
    models_in_export: dict[str, type[models.Model]] = {}
    for entry in manifest.files:
        try:
            model = apps.get_model(entry.label)
        except (LookupError, ValueError):
            raise SchemaMismatchError(
                f"{entry.file}: model {entry.label!r} is not installed in this project; "
                f"{UNCHANGED}"
            ) from None
        models_in_export[model._meta.label] = model
    plans = []
    for index, entry in enumerate(manifest.files):
        model = apps.get_model(entry.label)
        strategy = (
            _lookup(per_model, model) or _importer_attribute(model, "on_conflict") or default
        )
        if strategy not in STRATEGIES:
            raise LoadError(
                f"unknown on_conflict strategy {strategy!r} for {model._meta.label}; choose one "
                f"of {', '.join(STRATEGIES)}"
            )
        names = (
            _lookup(natural_keys or {}, model)
            or _importer_attribute(model, "natural_key")
            or _default_natural_key(model)
        )
        columns = []
        for name in names:
            try:
                columns.append(_column(model, name))
            except Exception:
                raise LoadError(
                    f"natural key of {model._meta.label} names {name!r}, which is not a field"
                ) from None
        fks = []
        for f in model._meta.concrete_fields:
            related = _related(f)
            if (
                related is not None
                and related._meta.label in models_in_export
                and getattr(f, "target_field", None) is related._meta.pk
            ):
                fks.append(_ForeignKey(f.column, f.name, related._meta.label))
        plans.append(
            _Plan(
                index=index,
                entry=entry,
                model=model,
                strategy=strategy,
                natural_key=tuple(columns),
                fks=fks,
                report=ModelLoadReport(label=model._meta.label, file=entry.file, rows=entry.rows),
            )
        )
    return plans


_CONTEXT = re.compile(r"COPY [^,]+, line (\d+)(?:, column ([^:]+))?")


def _diag(exc: BaseException) -> Any:
    for candidate in (exc, exc.__cause__, exc.__context__):
        diag = getattr(candidate, "diag", None)
        if diag is not None:
            return diag
    return None


def _primary(exc: BaseException) -> str:
    diag = _diag(exc)
    text = getattr(diag, "message_primary", None) if diag else None
    return str(text or str(exc).strip().splitlines()[0])


class _Loader:
    def __init__(
        self,
        alias: str,
        manifest: Manifest,
        plans: list[_Plan],
        progress: bool,
        progress_file: IO[str] | None,
        log: Callable[[str], Any],
    ) -> None:
        self.alias = alias
        self.wrapper = connections[alias]
        self.manifest = manifest
        self.plans = plans
        self.by_label = {plan.model._meta.label: plan for plan in plans}
        self.progress = progress
        self.progress_file = progress_file
        self.log = log
        self.dropped: list[tuple[str, str, str]] = []  # (table, constraint, definition)

    # -- helpers ---------------------------------------------------------------------------

    def q(self, name: str) -> str:
        return _q(self.wrapper, name)

    def fetch(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self.wrapper.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def execute(self, sql: str, params: Any = None) -> int:
        with self.wrapper.cursor() as cursor:
            cursor.execute(sql, params)
            return int(cursor.rowcount)

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

    def _check_columns(self, plan: _Plan, tables: set[str]) -> None:
        entry = plan.entry
        if plan.table not in tables:
            raise SchemaMismatchError(
                f"{entry.file} ({entry.label}): the target has no table {plan.table} (migrations "
                f"not applied?); {UNCHANGED}"
            )
        rows = self.fetch(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "a.atthasdef OR a.attidentity <> '', a.attgenerated <> '' "
            "FROM pg_attribute a WHERE a.attrelid = %s::regclass AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum",
            [self.q(plan.table)],
        )
        target = {row[0]: tuple(row[1:]) for row in rows}
        for name, _db_type in entry.columns:
            if name not in target:
                raise SchemaMismatchError(
                    f"{entry.file} ({entry.label}): column {name!r} does not exist in the "
                    f"target table {plan.table}; {UNCHANGED}"
                )
            if target[name][3]:
                raise SchemaMismatchError(
                    f"{entry.file} ({entry.label}): column {name!r} is a generated column in "
                    f"the target and cannot be loaded; {UNCHANGED}"
                )
        names = [name for name, _ in entry.columns]
        declared = [db_type for _, db_type in entry.columns]
        actual = [target[name][0] for name in names]
        canonical = self.fetch(
            "SELECT to_regtype(NULLIF(d, ''))::text, to_regtype(a)::text "
            "FROM unnest(%s::text[], %s::text[]) AS x(d, a)",
            [declared, actual],
        )
        for name, db_type, (want, have) in zip(names, declared, canonical, strict=True):
            if db_type and want != have:
                raise SchemaMismatchError(
                    f"{entry.file} ({entry.label}): column {name!r} was exported as {db_type} "
                    f"but is {target[name][0]} in the target table {plan.table}; {UNCHANGED}"
                )
        pk = plan.pk
        if pk not in names:
            raise SchemaMismatchError(
                f"{entry.file} ({entry.label}): the primary key column {pk!r} is not in the file "
                f"(excluded at export?); a reload needs it; {UNCHANGED}"
            )
        for name, (_t, notnull, has_default, generated) in target.items():
            if name not in names and notnull and not has_default and not generated:
                raise SchemaMismatchError(
                    f"{entry.file} ({entry.label}): the target column {plan.table}.{name} is NOT "
                    f"NULL without a default and the file has no such column; {UNCHANGED}"
                )

    # -- 2. the transaction ----------------------------------------------------------------

    def run(self, result: LoadResult) -> None:
        with transaction.atomic(using=self.alias):
            self.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
            prior = Load.objects.using(self.alias).for_export(self.manifest.fingerprint).first()
            if prior is not None:
                result.already_loaded = prior.pk
                for plan in self.plans:
                    plan.report.keys = "already loaded"
                return
            self.execute("SET CONSTRAINTS ALL DEFERRED")
            for plan in self.plans:
                plan.table_was_empty = not self.fetch(
                    f"SELECT EXISTS (SELECT 1 FROM {self.q(plan.table)})"
                )[0][0]
            self._lift_foreign_keys()
            for plan in self.plans:
                self._stage(plan)
            self._decide_keys()
            self._check_dangling()
            for plan in self.plans:
                self._insert(plan)
            self._restore_foreign_keys()
            self._check_deferred()
            self._reset_sequences()
            if result.dry_run:
                transaction.set_rollback(True, using=self.alias)
                return
            result.load_id = self._record(result)

    def _lift_foreign_keys(self) -> None:
        # Dropping and re-adding a foreign key inside this transaction is atomic: a rollback (or
        # a killed client) restores it. Re-adding validates the whole table in one query.
        tables = [self.q(plan.table) for plan in self.plans]
        rows = self.fetch(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY(%s::regclass[]) "
            "ORDER BY conrelid::regclass::text, conname",
            [tables],
        )
        for table, name, definition in rows:
            self.execute(f"ALTER TABLE {table} DROP CONSTRAINT {self.q(name)}")
            self.dropped.append((table, name, definition))
        self.log(f"lifted {len(self.dropped)} foreign-key constraints for the load")

    def _stage(self, plan: _Plan) -> None:
        entry = plan.entry
        columns = ", ".join(self.q(name) for name in entry.column_names)
        self.execute(
            f"CREATE TEMPORARY TABLE {self.q(plan.stage)} ON COMMIT DROP AS "
            f"SELECT {columns} FROM {self.q(plan.table)} WITH NO DATA"
        )
        statement = (
            f"COPY {self.q(plan.stage)} ({columns}) FROM STDIN WITH (FORMAT csv, HEADER true)"
        )
        path = self.manifest.path(entry)
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
            with path.open("rb") as handle, transaction.atomic(using=self.alias):
                count = db.copy_from(self.wrapper, statement, handle, _progress_callback(bar))
        except DatabaseError as exc:
            raise self._copy_error(plan, exc) from exc
        except Exception as exc:
            if _diag(exc) is None:
                raise
            raise self._copy_error(plan, exc) from exc
        finally:
            if bar is not None:
                bar.close()
        if count != entry.rows:
            raise BadDataError(
                f"{entry.file} ({entry.label}): {count} rows read, the manifest says "
                f"{entry.rows}; {UNCHANGED}"
            )
        self.execute(f"ANALYZE {self.q(plan.stage)}")
        self.log(f"staged {count} rows of {entry.label} from {entry.file}")

    def _copy_error(self, plan: _Plan, exc: BaseException) -> LoadError:
        entry = plan.entry
        diag = _diag(exc)
        context = getattr(diag, "context", None) or ""
        match = _CONTEXT.search(context)
        where = ""
        if match:
            where = f", line {match.group(1)}"
            if match.group(2):
                where += f", column {match.group(2)}"
        return BadDataError(
            f"Could not load {entry.label} from {entry.file}{where}: {_primary(exc)}; {UNCHANGED}"
        )

    # -- keys ------------------------------------------------------------------------------

    def _create_map(self, plan: _Plan) -> None:
        self.execute(
            f"CREATE TEMPORARY TABLE {self.q(plan.map)} ON COMMIT DROP AS "
            f"SELECT {self.q(plan.pk)} AS old, {self.q(plan.pk)} AS new, ''::text AS action "
            f"FROM {self.q(plan.table)} WITH NO DATA"
        )

    def _index_map(self, plan: _Plan) -> None:
        self.execute(f"CREATE UNIQUE INDEX ON {self.q(plan.map)} (old)")
        self.execute(f"ANALYZE {self.q(plan.map)}")

    def _parent_joins(
        self, plan: _Plan, columns: list[str] | None = None
    ) -> tuple[dict[str, str], list[str]]:
        """Expressions giving each column's value in the target's key space, and the joins."""
        exprs: dict[str, str] = {}
        joins: list[str] = []
        wanted = columns if columns is not None else plan.entry.column_names
        for fk in plan.fks:
            if fk.column not in wanted:
                continue
            parent = self.by_label[fk.parent]
            if parent.map_kind != "rewrite":
                continue
            alias = f"p{len(joins)}"
            joins.append(
                f"LEFT JOIN {self.q(parent.map)} {alias} ON {alias}.old = s.{self.q(fk.column)}"
            )
            exprs[fk.column] = f"COALESCE({alias}.new, s.{self.q(fk.column)})"
        for name in wanted:
            exprs.setdefault(name, f"s.{self.q(name)}")
        return exprs, joins

    def _decide_keys(self) -> None:
        problems: list[str] = []
        # Export order puts parents first, so a merge's natural key can use the parents' maps.
        for plan in self.plans:
            if plan.table_was_empty:
                continue
            strategy = plan.strategy
            plan.report.keys = strategy
            if strategy == "error":
                problems.extend(self._pk_conflicts(plan))
            elif strategy in ("remap", "merge"):
                plan.map_kind = "rewrite"
                self._create_map(plan)
                if strategy == "merge" and plan.natural_key:
                    self._merge(plan)
                problems.extend(self._allocate(plan))
                self._index_map(plan)
            else:
                plan.map_kind = "identity"
                self._create_map(plan)
                problems.extend(self._same_key(plan))
                self._index_map(plan)
        if problems:
            raise KeyConflictError(
                "the target already has rows under these keys:\n  "
                + "\n  ".join(problems)
                + f"\nuse on_conflict='remap' (new keys), 'merge', 'skip' or 'update'; {UNCHANGED}"
            )

    def _pk_conflicts(self, plan: _Plan) -> list[str]:
        pk = self.q(plan.pk)
        rows = self.fetch(
            f"SELECT s.{pk}, count(*) OVER () FROM {self.q(plan.stage)} s "
            f"JOIN {self.q(plan.table)} t ON t.{pk} = s.{pk} ORDER BY 1 LIMIT %s",
            [EXAMPLES],
        )
        if not rows:
            return []
        keys = ", ".join(str(row[0]) for row in rows)
        more = f" and {rows[0][1] - len(rows)} more" if rows[0][1] > len(rows) else ""
        return [f"{plan.report.label} {plan.pk} {keys}{more} ({plan.entry.file})"]

    def _merge(self, plan: _Plan) -> None:
        exprs, joins = self._parent_joins(plan, list(plan.natural_key))
        condition = " AND ".join(f"t.{self.q(c)} = {exprs[c]}" for c in plan.natural_key)
        pk = self.q(plan.pk)
        count = self.execute(
            f"INSERT INTO {self.q(plan.map)} (old, new, action) "
            f"SELECT DISTINCT ON (s.{pk}) s.{pk}, t.{pk}, %s FROM {self.q(plan.stage)} s "
            f"{' '.join(joins)} JOIN {self.q(plan.table)} t ON {condition} "
            f"ORDER BY s.{pk}, t.{pk}",
            [KeyAction.MERGED.value],
        )
        plan.report.merged = count

    def _allocate(self, plan: _Plan) -> list[str]:
        pk_field = plan.model._meta.pk
        table, pk = self.q(plan.table), self.q(plan.pk)
        if isinstance(pk_field, models.UUIDField):
            new = "gen_random_uuid()"
        else:
            sequence = self.fetch("SELECT pg_get_serial_sequence(%s, %s)", [table, plan.pk])[0][0]
            if sequence is None:
                return [
                    f"{plan.report.label}: cannot remap, its primary key {plan.pk} has no "
                    f"sequence and is not a UUID (use 'merge', 'skip' or 'update' for it)"
                ]
            # A sequence left behind its table (a load that never reset it) would hand out
            # taken keys: move it past the table's largest key first.
            self.execute(
                f"SELECT setval(%s::regclass, GREATEST((SELECT COALESCE(max({pk}), 0) FROM "
                f"{table}), nextval(%s::regclass)))",
                [sequence, sequence],
            )
            new = "nextval(%s::regclass)"
            params: list[Any] = [sequence, KeyAction.REMAPPED.value]
        if isinstance(pk_field, models.UUIDField):
            params = [KeyAction.REMAPPED.value]
        count = self.execute(
            f"INSERT INTO {self.q(plan.map)} (old, new, action) "
            f"SELECT old, {new}, %s FROM (SELECT s.{pk} AS old FROM {self.q(plan.stage)} s "
            f"WHERE NOT EXISTS (SELECT 1 FROM {self.q(plan.map)} m WHERE m.old = s.{pk}) "
            f"ORDER BY 1) q",
            params,
        )
        plan.report.remapped = count
        return []

    def _same_key(self, plan: _Plan) -> list[str]:
        pk = self.q(plan.pk)
        same = (
            " AND ".join(
                f"t.{self.q(c)} IS NOT DISTINCT FROM s.{self.q(c)}" for c in plan.natural_key
            )
            or "true"
        )
        # Rows under a taken key whose natural key differs are a different entity: attaching
        # the export's children to them would corrupt the target.
        rows = self.fetch(
            f"SELECT s.{pk} FROM {self.q(plan.stage)} s JOIN {self.q(plan.table)} t "
            f"ON t.{pk} = s.{pk} WHERE NOT ({same}) ORDER BY 1 LIMIT %s",
            [EXAMPLES],
        )
        if rows:
            keys = ", ".join(str(row[0]) for row in rows)
            nk = ", ".join(plan.natural_key)
            return [
                f"{plan.report.label} {plan.pk} {keys}: the target's row under that key has a "
                f"different ({nk}), so it is another {plan.model.__name__}; use 'remap' or "
                f"'merge'"
            ]
        action = KeyAction.SKIPPED if plan.strategy == "skip" else KeyAction.UPDATED
        count = self.execute(
            f"INSERT INTO {self.q(plan.map)} (old, new, action) SELECT s.{pk}, s.{pk}, %s "
            f"FROM {self.q(plan.stage)} s JOIN {self.q(plan.table)} t ON t.{pk} = s.{pk}",
            [action.value],
        )
        setattr(plan.report, "skipped" if plan.strategy == "skip" else "updated", count)
        return []

    def _check_dangling(self) -> None:
        # A child pointing at a parent row that is not in the export would keep its old value;
        # when the parent's keys were rewritten that value means an unrelated target row.
        problems = []
        for plan in self.plans:
            for fk in plan.fks:
                parent = self.by_label[fk.parent]
                if parent.map_kind != "rewrite":
                    continue
                column, pk = self.q(fk.column), self.q(plan.pk)
                rows = self.fetch(
                    f"SELECT s.{pk}, s.{column} FROM {self.q(plan.stage)} s "
                    f"WHERE s.{column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                    f"{self.q(parent.map)} m WHERE m.old = s.{column}) ORDER BY 1 LIMIT %s",
                    [EXAMPLES],
                )
                for key, value in rows:
                    problems.append(
                        f"{plan.report.label}({plan.pk}={key}) {fk.column}={value}: "
                        f"{fk.parent} {value} is not in the export"
                    )
        if problems:
            raise IntegrityViolation(
                "rows reference parents that are not in the export, whose keys are being "
                "rewritten, so they cannot be attached:\n  "
                + "\n  ".join(problems)
                + f"\nexport the parents too, or load into an empty target; {UNCHANGED}"
            )

    # -- rows ------------------------------------------------------------------------------

    def _select(self, plan: _Plan, where: str) -> str:
        exprs, joins = self._parent_joins(plan)
        pk = plan.pk
        if plan.map_kind:
            joins.insert(0, f"LEFT JOIN {self.q(plan.map)} m ON m.old = s.{self.q(pk)}")
            if plan.map_kind == "rewrite":
                exprs[pk] = f"COALESCE(m.new, s.{self.q(pk)})"
        select = ", ".join(f"{exprs[name]} AS {self.q(name)}" for name in plan.entry.column_names)
        clause = f" WHERE {where}" if where else ""
        return f"SELECT {select} FROM {self.q(plan.stage)} s {' '.join(joins)}{clause}"

    def _insert(self, plan: _Plan) -> None:
        columns = ", ".join(self.q(name) for name in plan.entry.column_names)
        where = ""
        if plan.map_kind == "rewrite":
            where = "m.old IS NULL OR m.action = 'remapped'"
        elif plan.map_kind == "identity":
            where = "m.old IS NULL"
        try:
            with transaction.atomic(using=self.alias):
                count = self.execute(
                    f"INSERT INTO {self.q(plan.table)} ({columns}) {self._select(plan, where)}"
                )
                if plan.map_kind == "identity" and plan.strategy == "update":
                    self._update(plan)
        except IntegrityError as exc:
            raise self._unique_error(plan, where, exc) from exc
        if plan.map_kind != "rewrite":
            plan.report.inserted = count
        self.log(f"inserted {count} rows into {plan.table}")

    def _update(self, plan: _Plan) -> None:
        names = [name for name in plan.entry.column_names if name != plan.pk]
        if not names:
            return
        assignments = ", ".join(f"{self.q(n)} = x.{self.q(n)}" for n in names)
        pk = self.q(plan.pk)
        self.execute(
            f"UPDATE {self.q(plan.table)} t SET {assignments} FROM "
            f"({self._select(plan, 'm.action = ' + repr(KeyAction.UPDATED.value))}) x "
            f"WHERE t.{pk} = x.{pk}"
        )

    def _unique_sets(self, plan: _Plan) -> list[tuple[str, ...]]:
        opts = plan.model._meta
        sets: list[tuple[str, ...]] = [(plan.pk,)]
        sets += [(f.column,) for f in opts.concrete_fields if f.unique and not f.primary_key]
        for together in opts.unique_together:
            sets.append(tuple(_column(plan.model, n) for n in together))
        for constraint in opts.total_unique_constraints:
            sets.append(tuple(_column(plan.model, n) for n in constraint.fields))
        return [s for s in dict.fromkeys(sets) if all(c in plan.entry.column_names for c in s)]

    def _unique_error(self, plan: _Plan, where: str, exc: IntegrityError) -> LoadError:
        # The failed INSERT was rolled back to its savepoint; find every offending row with
        # set-based queries so the message names model, key, column and value.
        label, pk = plan.report.label, plan.pk
        select = self._select(plan, where)
        problems: list[str] = []
        for columns in self._unique_sets(plan):
            cols = ", ".join(self.q(c) for c in columns)
            for row in self.fetch(
                f"SELECT {cols}, count(*) FROM ({select}) n GROUP BY {cols} "
                f"HAVING count(*) > 1 ORDER BY 1 LIMIT %s",
                [EXAMPLES],
            ):
                values = ", ".join(f"{c}={v!r}" for c, v in zip(columns, row, strict=False))
                problems.append(f"{label}: {row[-1]} rows in {plan.entry.file} share {values}")
            condition = " AND ".join(f"t.{self.q(c)} = n.{self.q(c)}" for c in columns)
            for row in self.fetch(
                f"SELECT n.{self.q(pk)}, {', '.join('n.' + self.q(c) for c in columns)}, "
                f"t.{self.q(pk)} FROM ({select}) n JOIN {self.q(plan.table)} t ON {condition} "
                f"ORDER BY 1 LIMIT %s",
                [EXAMPLES],
            ):
                values = ", ".join(f"{c}={v!r}" for c, v in zip(columns, row[1:], strict=False))
                problems.append(
                    f"{label}({pk}={row[0]}): {values} already exists in the target "
                    f"({pk}={row[-1]})"
                )
        if not problems:
            detail = getattr(_diag(exc), "message_detail", None) or str(exc)
            problems.append(f"{label}: {detail}")
        return IntegrityViolation(
            f"Could not load {label} from {plan.entry.file}: unique constraint violated:\n  "
            + "\n  ".join(problems)
            + f"\n{UNCHANGED}"
        )

    # -- integrity, sequences, bookkeeping -------------------------------------------------

    def _restore_foreign_keys(self) -> None:
        problems: list[str] = []
        for table, name, definition in self.dropped:
            try:
                with transaction.atomic(using=self.alias):
                    self.execute(f"ALTER TABLE {table} ADD CONSTRAINT {self.q(name)} {definition}")
            except IntegrityError:
                problems.extend(self._fk_violations(table, name))
        if problems:
            raise IntegrityViolation(
                "foreign keys would point to missing rows:\n  "
                + "\n  ".join(problems)
                + f"\n{UNCHANGED}"
            )

    def _fk_violations(self, table: str, constraint: str) -> list[str]:
        info = self.fetch(
            "SELECT c.confrelid::regclass::text, "
            "(SELECT array_agg(a.attname ORDER BY k.n) FROM unnest(c.conkey) WITH ORDINALITY "
            " k(att, n) JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.att), "
            "(SELECT array_agg(a.attname ORDER BY k.n) FROM unnest(c.confkey) WITH ORDINALITY "
            " k(att, n) JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.att) "
            "FROM pg_constraint c WHERE c.conrelid = %s::regclass AND c.conname = %s",
            [table, constraint],
        )
        # The constraint is gone after the failed ADD; read its columns from the definition.
        definition = next(d for t, n, d in self.dropped if t == table and n == constraint)
        if info:
            parent, columns, parent_columns = info[0]
        else:
            match = re.match(r"FOREIGN KEY \((.+?)\) REFERENCES (.+?)\((.+?)\)", definition)
            if not match:
                return [f"{table}: constraint {constraint} ({definition})"]
            columns = [c.strip().strip('"') for c in match.group(1).split(",")]
            parent = match.group(2)
            parent_columns = [c.strip().strip('"') for c in match.group(3).split(",")]
        model_label = self.label_of_table(table.strip('"'))
        pk = next(
            (p.pk for p in self.plans if p.table == table.strip('"')),
            columns[0],
        )
        present = " AND ".join(f"c.{self.q(c)} IS NOT NULL" for c in columns)
        join = " AND ".join(
            f"p.{self.q(pc)} = c.{self.q(c)}"
            for c, pc in zip(columns, parent_columns, strict=True)
        )
        rows = self.fetch(
            f"SELECT c.{self.q(pk)}, {', '.join('c.' + self.q(c) for c in columns)} "
            f"FROM {table} c WHERE {present} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE "
            f"{join}) ORDER BY 1 LIMIT %s",
            [EXAMPLES],
        )
        parent_label = self.label_of_table(parent.strip('"'))
        return [
            f"{model_label}({pk}={row[0]}): "
            + ", ".join(f"{c}={v!r}" for c, v in zip(columns, row[1:], strict=True))
            + f" has no {parent_label} row"
            for row in rows
        ] or [f"{model_label}: constraint {constraint} ({definition})"]

    def _check_deferred(self) -> None:
        # Deferrable constraints the load did not lift (unique ones, FKs of other tables)
        # would only fire at COMMIT; fire them now, where a violation can still be named.
        try:
            with transaction.atomic(using=self.alias):
                self.execute("SET CONSTRAINTS ALL IMMEDIATE")
        except IntegrityError as exc:
            detail = getattr(_diag(exc), "message_detail", None) or _primary(exc)
            raise IntegrityViolation(
                f"a deferred constraint is violated: {detail}; {UNCHANGED}"
            ) from exc

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
