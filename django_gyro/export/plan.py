"""Compiling jobs for a source: querysets -> ``COPY (SELECT ...) TO STDOUT`` statements.

:func:`compile_job` turns an :class:`~django_gyro.ImportJob` into a SELECT of the model's columns
(explicit, deterministic order for slices) and its parameters; :func:`plan` shows what an export
would run, with the planner's row estimates, and writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.sql import Query
from django.db.models.sql.compiler import SQLCompiler

from django_gyro.backend.connection import compose, connect, transaction
from django_gyro.exceptions import JobError
from django_gyro.jobs import ImportJob, validate_jobs
from django_gyro.slicing import make_deterministic

if TYPE_CHECKING:
    from django_gyro.api import Postgres

__all__ = [
    "CompiledJob",
    "CopyToCompiler",
    "CopyToQuery",
    "PlannedJob",
    "compile_all",
    "compile_job",
    "connect_source",
    "copy_statement",
    "estimate_rows",
    "plan",
]


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
class PlannedJob:
    """One job of :func:`plan`: the compiled statement and the planner's row estimate."""

    index: int
    model: str
    file: str
    columns: list[str]
    sql: str
    estimated_rows: int


def estimate_rows(cursor: Any, bound_select: str) -> int:
    cursor.execute("EXPLAIN (FORMAT JSON) " + bound_select)
    document = cursor.fetchone()[0]
    if isinstance(document, str):
        document = json.loads(document)
    return int(document[0]["Plan"]["Plan Rows"])


def compile_all(jobs: list[ImportJob], wrapper: BaseDatabaseWrapper) -> list[CompiledJob]:
    return [compile_job(i, job, wrapper) for i, job in enumerate(jobs, start=1)]


def connect_source(source: Postgres) -> BaseDatabaseWrapper:
    """A new, connected connection to ``source`` (the caller closes it).

    Raises:
        SourceError: the source cannot be reached (URL shown with its password masked).
    """
    wrapper = source.connect()
    connect(wrapper, source.url_or_alias)
    return wrapper


def plan(source: Postgres, jobs: Iterable[ImportJob]) -> list[PlannedJob]:
    """Compile every job for ``source`` and ask the planner for its row estimate; write nothing.

    Raises:
        JobError, JobOrderError: bad jobs (see :func:`~django_gyro.jobs.validate_jobs`).
        SourceError: the source is not a reachable PostgreSQL database.
    """
    checked = validate_jobs(jobs)
    wrapper = connect_source(source)
    try:
        compiled = compile_all(checked, wrapper)
        planned = []
        with transaction(wrapper) as connection, connection.cursor() as cursor:
            for item in compiled:
                bound = compose(wrapper, item.select_sql, item.params)
                planned.append(
                    PlannedJob(
                        index=item.index,
                        model=item.job.label,
                        file=item.file_name,
                        columns=item.columns,
                        sql=compose(wrapper, item.copy_sql, item.params),
                        estimated_rows=estimate_rows(cursor, bound),
                    )
                )
        return planned
    finally:
        wrapper.close()
