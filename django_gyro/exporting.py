"""Export: querysets -> ``COPY (...) TO STDOUT WITH (FORMAT CSV, HEADER)`` -> one CSV per job.

All jobs run in one ``REPEATABLE READ, READ ONLY`` transaction on a dedicated connection, so the
files are one consistent snapshot of the source even while it is being written to. Each file is
written under a temporary name; only when every job (and, with ``strict=True``, the closure
check) has succeeded are the files renamed, and ``manifest.json`` is written last.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.sql import Query
from django.db.models.sql.compiler import SQLCompiler
from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]

from django_gyro import __version__, db
from django_gyro.conf import settings
from django_gyro.endpoints import MANIFEST_NAME, File, Postgres
from django_gyro.exceptions import ClosureError, JobError, SourceError, TargetError
from django_gyro.jobs import ImportJob, validate_jobs
from django_gyro.slicing import make_deterministic

__all__ = [
    "ClosureIssue",
    "CompiledJob",
    "CopyToCompiler",
    "CopyToQuery",
    "ExportResult",
    "JobResult",
    "PlannedJob",
    "compile_job",
    "copy_statement",
    "export",
    "plan",
]

#: Version of the manifest layout (see docs/gyro.md, "Manifest format").
MANIFEST_FORMAT = 1
PARTIAL_SUFFIX = ".gyro-partial"


class CopyToCompiler(SQLCompiler):
    """Compiles a :class:`CopyToQuery` into a ``COPY (SELECT ...) TO STDOUT`` statement.

    The SELECT list is the given model fields; each output column is named after the field's
    database column (``db_column``), so the CSV header matches the table.
    """

    def as_select_sql(
        self, fields: Sequence[models.Field[Any, Any]]
    ) -> tuple[str, tuple[Any, ...]]:
        """The SELECT with ``%s`` placeholders and its parameters, columns named as the table's."""
        sql, params = self.as_sql()
        if self.col_count != len(fields):
            raise JobError(
                f"the query of {self.query.model._meta.label if self.query.model else '?'} "
                f"selects {self.col_count} columns instead of the model's {len(fields)} "
                f"(distinct() with order_by() on other fields adds columns); drop that ordering"
            )
        if any(f.column != f.attname for f in fields):
            # values_list() names each output column after the attname; rename to the column.
            quote = self.connection.ops.quote_name
            outer = ", ".join(f"gyro_rows.{quote(f.attname)} AS {quote(f.column)}" for f in fields)
            sql = f"SELECT {outer} FROM ({sql}) AS gyro_rows"
        return sql, tuple(params)

    def as_copy_sql(self, fields: Sequence[models.Field[Any, Any]]) -> tuple[str, tuple[Any, ...]]:
        """The COPY statement with ``%s`` placeholders, and its parameters."""
        sql, params = self.as_select_sql(fields)
        return copy_statement(sql), params


def copy_statement(select_sql: str) -> str:
    """``COPY (<select_sql>) TO STDOUT WITH (FORMAT CSV, HEADER)``."""
    return f"COPY ({select_sql}) TO STDOUT WITH (FORMAT CSV, HEADER)"


class CopyToQuery(Query):
    """A ``Query`` whose compiler is :class:`CopyToCompiler`."""

    def get_compiler(
        self,
        using: str | None = None,
        connection: BaseDatabaseWrapper | None = None,
        elide_empty: bool = True,
    ) -> CopyToCompiler:
        if connection is None:
            from django.db import connections

            assert using is not None
            connection = connections[using]
        return CopyToCompiler(self, connection, using, elide_empty)  # type: ignore[call-arg]


@dataclass
class CompiledJob:
    """A job compiled for one source connection.

    Attributes:
        index: 1-based position in the run.
        job: the job.
        file_name: the CSV file name (from the Importer).
        fields: the model fields written, in column order.
        select_sql: the SELECT with ``%s`` placeholders.
        params: its parameters.
        copy_sql: the COPY statement with ``%s`` placeholders.
    """

    index: int
    job: ImportJob
    file_name: str
    fields: list[models.Field[Any, Any]]
    select_sql: str
    params: tuple[Any, ...]
    copy_sql: str

    @property
    def columns(self) -> list[str]:
        """The database column names, in file order."""
        return [f.column for f in self.fields]


def compile_job(index: int, job: ImportJob, wrapper: BaseDatabaseWrapper) -> CompiledJob:
    """Compile ``job`` for ``wrapper``: explicit columns, deterministic slices, bound later.

    Raises:
        JobError: the queryset cannot be exported as one row per model instance.
    """
    fields = job.fields()
    queryset = job.query.values_list(*[f.attname for f in fields])
    query = queryset.query.chain(klass=CopyToQuery)
    make_deterministic(query)
    # elide_empty=False: an empty queryset (.none(), pk__in=[]) compiles to a query returning no
    # rows instead of raising EmptyResultSet, so its file still gets the header line.
    compiler = query.get_compiler(connection=wrapper, elide_empty=False)
    assert isinstance(compiler, CopyToCompiler)
    select_sql, params = compiler.as_select_sql(fields)
    copy_sql = copy_statement(select_sql)
    return CompiledJob(
        index=index,
        job=job,
        file_name=job.get_importer().get_file_name(),
        fields=fields,
        select_sql=select_sql,
        params=tuple(params),
        copy_sql=copy_sql,
    )


@dataclass
class JobResult:
    """What one job wrote."""

    index: int
    model: str
    file: str
    path: Path
    rows: int
    bytes: int
    seconds: float
    sha256: str


@dataclass
class ClosureIssue:
    """Exported rows whose foreign key points to a parent row that is not in the export.

    Attributes:
        job: label of the model whose rows hold the foreign key.
        column: the foreign key column.
        parent: label of the referenced model.
        parent_exported: whether the parent model has a job in the run at all.
        rows: how many exported rows hold such a value.
        keys: how many distinct missing parent keys.
        examples: a few of the missing keys (as text).
    """

    job: str
    column: str
    parent: str
    parent_exported: bool
    rows: int
    keys: int
    examples: list[str]

    def __str__(self) -> str:
        where = "the parent file" if self.parent_exported else "the export (no job)"
        return (
            f"{self.job}.{self.column}: {self.rows} row(s) reference {self.keys} "
            f"{self.parent} key(s) absent from {where}, e.g. {', '.join(self.examples)}"
        )


@dataclass
class ExportResult:
    """The outcome of an export: one :class:`JobResult` per job, the closure report, timings."""

    directory: Path
    manifest: Path
    jobs: list[JobResult]
    closure: list[ClosureIssue] = field(default_factory=list)
    seconds: float = 0.0

    def __iter__(self) -> Any:
        return iter(self.jobs)

    def table(self) -> str:
        """The per-job results as an aligned text table."""
        header = ("#", "model", "rows", "bytes", "seconds", "file")
        rows = [
            (
                str(r.index),
                r.model,
                f"{r.rows:,}",
                f"{r.bytes:,}",
                f"{r.seconds:.2f}",
                str(r.path),
            )
            for r in self.jobs
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        right = {0, 2, 3, 4}

        def fmt(row: Sequence[str]) -> str:
            cells = [
                cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                for i, cell in enumerate(row)
            ]
            return "  ".join(cells).rstrip()

        lines = [fmt(header), fmt(["-" * w for w in widths]), *(fmt(row) for row in rows)]
        return "\n".join(lines)

    def closure_report(self) -> str:
        """The closure issues, one per line, or a line saying there are none."""
        if not self.closure:
            return "closure: every exported foreign key points to an exported row"
        return "\n".join(
            ["closure: foreign keys pointing outside the export:"]
            + [f"  {issue}" for issue in self.closure]
        )


@dataclass
class PlannedJob:
    """One job of :func:`plan`: the compiled statement and the planner's row estimate."""

    index: int
    model: str
    file: str
    columns: list[str]
    sql: str
    estimated_rows: int


def _want_progress(stream: Any) -> bool:
    try:
        from IPython import get_ipython  # type: ignore[import-not-found,unused-ignore]

        shell = get_ipython()
        if shell is not None and type(shell).__name__ == "ZMQInteractiveShell":
            return True
    except ImportError:
        pass
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _estimate(cursor: Any, bound_select: str) -> int:
    cursor.execute("EXPLAIN (FORMAT JSON) " + bound_select)
    document = cursor.fetchone()[0]
    if isinstance(document, str):
        document = json.loads(document)
    return int(document[0]["Plan"]["Plan Rows"])


def _compile_all(jobs: list[ImportJob], wrapper: BaseDatabaseWrapper) -> list[CompiledJob]:
    return [compile_job(i, job, wrapper) for i, job in enumerate(jobs, start=1)]


def plan(source: Postgres, jobs: Iterable[ImportJob]) -> list[PlannedJob]:
    """Compile every job for ``source`` and ask the planner for its row estimate; write nothing.

    Raises:
        JobError, JobOrderError: bad jobs (see :func:`~django_gyro.jobs.validate_jobs`).
        SourceError: the source is not a reachable PostgreSQL database.
    """
    checked = validate_jobs(jobs)
    wrapper = _connect(source)
    try:
        compiled = _compile_all(checked, wrapper)
        planned = []
        with db.transaction(wrapper) as connection, connection.cursor() as cursor:
            for item in compiled:
                bound = db.bind(wrapper, item.select_sql, item.params)
                planned.append(
                    PlannedJob(
                        index=item.index,
                        model=item.job.label,
                        file=item.file_name,
                        columns=item.columns,
                        sql=db.bind(wrapper, item.copy_sql, item.params),
                        estimated_rows=_estimate(cursor, bound),
                    )
                )
        return planned
    finally:
        wrapper.close()


def _connect(source: Postgres) -> BaseDatabaseWrapper:
    wrapper = source.connect()
    try:
        wrapper.ensure_connection()
    except Exception as exc:
        wrapper.close()
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError(f"cannot connect to {source}: {reason}") from exc
    return wrapper


class _ProgressSink:
    """A file wrapper that advances a tqdm bar; the driver writes about one row per call."""

    __slots__ = ("_bar", "_file", "_pending")

    def __init__(self, file: IO[bytes], bar: Any) -> None:
        self._file = file
        self._bar = bar
        self._pending = -1  # the first write is the CSV header

    def write(self, data: bytes) -> int:
        self._pending += 1
        if self._pending >= 5000:
            self._bar.update(self._pending)
            self._pending = 0
        return self._file.write(data)


def _column_types(cursor: Any, wrapper: BaseDatabaseWrapper, table: str) -> dict[str, str]:
    cursor.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped",
        [wrapper.ops.quote_name(table)],
    )
    return dict(cursor.fetchall())


def _applied_migrations(cursor: Any) -> dict[str, list[str]]:
    cursor.execute("SELECT to_regclass('django_migrations') IS NOT NULL")
    if not cursor.fetchone()[0]:
        return {}
    cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, id")
    applied: dict[str, list[str]] = {}
    for app, name in cursor.fetchall():
        applied.setdefault(app, []).append(name)
    return applied


def _foreign_keys(item: CompiledJob) -> list[dict[str, Any]]:
    declared = item.job.get_importer().declared_foreign_keys()
    result = []
    for f in item.fields:
        if not (f.many_to_one or f.one_to_one):
            continue
        related = f.related_model
        assert related is not None and not isinstance(related, str)
        target_field = f.target_field  # type: ignore[attr-defined]
        result.append(
            {
                "field": f.name,
                "column": f.column,
                "target": related._meta.label,
                "target_table": related._meta.db_table,
                "target_column": target_field.column,
                "nullable": f.null,
                "declared": f.name in declared,
            }
        )
    return result


def _closure(
    cursor: Any, wrapper: BaseDatabaseWrapper, compiled: list[CompiledJob]
) -> list[ClosureIssue]:
    """One statement per job: its rows run once, each referenced parent's keys once."""
    by_model = {item.job.model._meta.label: item for item in compiled}
    examples = int(settings.CLOSURE_EXAMPLES)
    quote = wrapper.ops.quote_name
    issues = []
    for item in compiled:
        checked = []
        for fk in _foreign_keys(item):
            parent = by_model.get(fk["target"])
            if parent is None and not fk["declared"]:
                continue  # an undeclared FK to a model outside the export: not this run's concern
            if parent is not None and fk["target_column"] not in parent.columns:
                parent = None  # the parent file lacks the referenced column (excluded)
            checked.append((fk, parent))
        if not checked:
            continue
        needed = {fk["column"] for fk, _ in checked}
        needed |= {fk["target_column"] for fk, parent in checked if parent is item}
        child_columns = ", ".join(quote(column) for column in sorted(needed))
        ctes = [
            f"gyro_child AS MATERIALIZED (SELECT {child_columns} FROM ({item.select_sql}) AS c)"
        ]
        params: list[Any] = list(item.params)
        parent_cte: dict[tuple[str, str], str] = {}
        selects = []
        for n, (fk, parent) in enumerate(checked):
            column = quote(fk["column"])
            condition = f"c.{column} IS NOT NULL"
            if parent is not None:
                key = (parent.job.model._meta.label, fk["target_column"])
                if key not in parent_cte:
                    name = f"gyro_parent_{len(parent_cte)}"
                    parent_cte[key] = name
                    target = quote(fk["target_column"])
                    if parent is item:
                        ctes.append(f"{name} AS (SELECT {target} AS k FROM gyro_child)")
                    else:
                        ctes.append(
                            f"{name} AS MATERIALIZED (SELECT {target} AS k FROM "
                            f"({parent.select_sql}) AS p)"
                        )
                        params += list(parent.params)
                parent_keys = parent_cte[key]
                condition += (
                    f" AND NOT EXISTS (SELECT 1 FROM {parent_keys} AS p WHERE p.k = c.{column})"
                )
            missing = f"SELECT c.{column} AS k FROM gyro_child AS c WHERE {condition}"
            ctes.append(f"gyro_missing_{n} AS ({missing})")
            selects.append(
                f"SELECT {n:d}, count(*), count(DISTINCT k), (SELECT array_agg(k::text) FROM "
                f"(SELECT DISTINCT k FROM gyro_missing_{n} ORDER BY k LIMIT {examples:d}) AS e) "
                f"FROM gyro_missing_{n}"
            )
        cursor.execute("WITH " + ", ".join(ctes) + " " + " UNION ALL ".join(selects), params)
        for n, rows, keys, sample in sorted(cursor.fetchall()):
            if not rows:
                continue
            fk, parent = checked[n]
            issues.append(
                ClosureIssue(
                    job=item.job.label,
                    column=fk["column"],
                    parent=fk["target"],
                    parent_exported=fk["target"] in by_model,
                    rows=int(rows),
                    keys=int(keys),
                    examples=list(sample or []),
                )
            )
    return issues


def _remove(paths: Iterable[Path]) -> None:
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def export(
    source: Postgres,
    target: File,
    jobs: Iterable[ImportJob],
    *,
    progress: bool | None = None,
    progress_file: Any = None,
    strict: bool = False,
    closure: bool = True,
    on_job_done: Callable[[JobResult], None] | None = None,
) -> ExportResult:
    """Export ``jobs`` from ``source`` into the directory ``target`` as one consistent snapshot.

    Args:
        source: the PostgreSQL database to read.
        target: the directory to write (``overwrite`` decides whether existing files may go).
        jobs: the jobs, parents before children.
        progress: show a tqdm bar per job; ``None`` shows them on a terminal or in a notebook.
        progress_file: the stream for the bars (default ``sys.stderr``).
        strict: raise :class:`ClosureError` (and write nothing) when exported rows reference
            parent rows that are not exported.
        closure: compute the closure report at all (it re-runs the job queries as anti-joins).
        on_job_done: called with each :class:`JobResult` right after its COPY finished, still
            inside the snapshot transaction.

    Returns:
        The per-job results, the closure report and the manifest path.

    Raises:
        JobError, JobOrderError: bad jobs; nothing is touched.
        TargetError: files exist and ``overwrite`` is False; nothing is touched.
        SourceError: the source is not a reachable PostgreSQL database.
        ClosureError: ``strict=True`` and the closure report is not empty; no file is written.
    """
    if not isinstance(source, Postgres):
        raise SourceError(f"export source must be DataSlicer.Postgres(...), got {source!r}")
    if not isinstance(target, File):
        raise TargetError(f"export target must be DataSlicer.File(...), got {target!r}")
    checked = validate_jobs(jobs)
    file_names = [job.get_importer().get_file_name() for job in checked]
    target.prepare(file_names)
    stream = progress_file if progress_file is not None else sys.stderr
    show = _want_progress(stream) if progress is None else bool(progress)
    buffer_size = int(settings.WRITE_BUFFER)
    started = time.perf_counter()
    partials: list[Path] = []
    results: list[JobResult] = []
    manifest_jobs: list[dict[str, Any]] = []
    wrapper = _connect(source)
    try:
        compiled = _compile_all(checked, wrapper)
        with db.transaction(wrapper, "REPEATABLE READ", read_only=True) as connection:
            with connection.cursor() as cursor:
                version = db.server_version(wrapper)
                migrations = _applied_migrations(cursor)
                cursor.execute("SELECT current_database(), pg_current_snapshot()::text")
                database, snapshot = cursor.fetchone()
            for item in compiled:
                partial = target.path / f".{item.file_name}{PARTIAL_SUFFIX}"
                partials.append(partial)
                statement = db.bind(wrapper, item.copy_sql, item.params)
                job_started = time.perf_counter()
                bar = None
                with open(partial, "wb", buffering=buffer_size) as handle:
                    if show:
                        with connection.cursor() as cursor:
                            total = _estimate(
                                cursor, db.bind(wrapper, item.select_sql, item.params)
                            )
                        bar = tqdm(
                            total=total,
                            desc=f"{item.index}/{len(compiled)} {item.job.label}",
                            unit=" rows",
                            unit_scale=True,
                            file=stream,
                            leave=True,
                            dynamic_ncols=True,
                        )
                        sink: Any = _ProgressSink(handle, bar)
                    else:
                        sink = handle
                    try:
                        rows = db.copy_to(wrapper, statement, sink)
                        if bar is not None:  # the estimate was only an estimate
                            bar.total = rows
                            bar.n = rows
                            bar.refresh()
                    finally:
                        if bar is not None:
                            bar.close()
                    size = handle.tell()
                with open(partial, "rb") as handle:
                    digest = hashlib.file_digest(handle, "sha256").hexdigest()
                result = JobResult(
                    index=item.index,
                    model=item.job.label,
                    file=item.file_name,
                    path=target.path / item.file_name,
                    rows=rows,
                    bytes=size,
                    seconds=time.perf_counter() - job_started,
                    sha256=digest,
                )
                results.append(result)
                with connection.cursor() as cursor:
                    types = _column_types(cursor, wrapper, item.job.model._meta.db_table)
                manifest_jobs.append(_manifest_job(item, result, types, wrapper))
                if on_job_done is not None:
                    on_job_done(result)
            issues: list[ClosureIssue] = []
            if closure:
                with connection.cursor() as cursor:
                    work_mem = settings.CLOSURE_WORK_MEM
                    if work_mem:
                        # Only for this transaction: the anti-joins hash whole key sets.
                        cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
                    issues = _closure(cursor, wrapper, compiled)
        if strict and issues:
            raise ClosureError(
                f"strict export refused: {len(issues)} foreign key column(s) point outside the "
                f"export; nothing was written. " + "; ".join(str(issue) for issue in issues)
            )
        manifest = {
            "format": "django-gyro-export",
            "format_version": MANIFEST_FORMAT,
            "gyro_version": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": {
                "vendor": "postgresql",
                "server_version": version["version"],
                "server_version_num": version["version_num"],
                "database": database,
                "driver": db.driver_version(),
                "snapshot": snapshot,
                "isolation": "repeatable read, read only",
            },
            "migrations": migrations,
            "jobs": manifest_jobs,
            "closure": [asdict(issue) for issue in issues],
        }
        _publish(target, partials, results, manifest)
    except BaseException:
        _remove(partials)
        raise
    finally:
        wrapper.close()
    return ExportResult(
        directory=target.path,
        manifest=target.manifest_path,
        jobs=results,
        closure=issues,
        seconds=time.perf_counter() - started,
    )


def _manifest_job(
    item: CompiledJob, result: JobResult, types: dict[str, str], wrapper: BaseDatabaseWrapper
) -> dict[str, Any]:
    model = item.job.model
    pk = model._meta.pk
    assert pk is not None
    missing = [column for column in item.columns if column not in types]
    if missing:
        raise JobError(
            f"ImportJob({item.job.label}): table {model._meta.db_table} in the source has no "
            f"column(s) {', '.join(missing)}; is the source migrated?"
        )
    return {
        "order": item.index,
        "model": model._meta.label,
        "table": model._meta.db_table,
        "file": item.file_name,
        "pk": pk.column,
        "columns": [
            {"name": f.column, "field": f.name, "type": types[f.column], "nullable": f.null}
            for f in item.fields
        ],
        "foreign_keys": _foreign_keys(item),
        "exclude": list(item.job.exclude),
        "rows": result.rows,
        "bytes": result.bytes,
        "sha256": result.sha256,
        "seconds": round(result.seconds, 3),
        "sql": db.bind(wrapper, item.select_sql, item.params),
    }


def _publish(
    target: File, partials: list[Path], results: list[JobResult], manifest: dict[str, Any]
) -> None:
    # An old manifest must not describe the new files while they are being renamed.
    _remove([target.manifest_path])
    for partial, result in zip(partials, results, strict=True):
        os.replace(partial, result.path)
    temporary = target.path / f".{MANIFEST_NAME}{PARTIAL_SUFFIX}"
    partials.append(temporary)
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2, sort_keys=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target.manifest_path)
    try:
        directory = os.open(target.path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
