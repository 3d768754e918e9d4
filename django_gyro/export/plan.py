"""Compiling jobs for a source: querysets -> ``COPY (SELECT ...) TO STDOUT`` statements.

:func:`compile_job` turns an :class:`~django_gyro.ImportJob` into a SELECT of the model's columns
(explicit, deterministic order for slices) and its parameters; :func:`plan` shows what an export
would run, with the planner's row estimates, and writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.sql import Query
from django.db.models.sql.compiler import SQLCompiler

from django_gyro.backend.connection import compose, connect, transaction
from django_gyro.conf import settings
from django_gyro.exceptions import JobError
from django_gyro.jobs import ImportJob, validate_jobs
from django_gyro.mask import (
    FakerRule,
    FakerValues,
    MaskError,
    MaskKey,
    MaskRule,
    displayable,
    job_rules,
    mask_key,
    unmasked_personal,
)
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
    "with_fakers",
]


class CopyToCompiler(SQLCompiler):
    """Compiles a :class:`CopyToQuery` into a ``COPY (SELECT ...) TO STDOUT`` statement.

    The SELECT list is the given model fields; each output column is named after the field's
    database column (``db_column``), so the CSV header matches the table.
    """

    def as_select_sql(
        self, fields: Sequence[models.Field[Any, Any]], names: Sequence[str] | None = None
    ) -> tuple[str, tuple[Any, ...]]:
        """The SELECT with ``%s`` placeholders and its parameters, columns named as the table's.

        ``names`` are the output names of the inner SELECT (default: the attnames; a masked
        column is an annotation with a name of its own).
        """
        sql, params = self.as_sql()
        if self.col_count != len(fields):
            raise JobError(
                f"the query of {self.query.model._meta.label if self.query.model else '?'} "
                f"selects {self.col_count} columns instead of the model's {len(fields)} "
                f"(distinct() with order_by() on other fields adds columns); drop that ordering"
            )
        inner = list(names) if names is not None else [f.attname for f in fields]
        if any(f.column != name for f, name in zip(fields, inner, strict=True)):
            # values_list() names each output column after the attname; rename to the column.
            quote = self.connection.ops.quote_name
            outer = ", ".join(
                f"gyro_rows.{quote(name)} AS {quote(f.column)}"
                for f, name in zip(fields, inner, strict=True)
            )
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
    #: ``{column: rule}`` of the masked columns (see :mod:`django_gyro.mask`).
    masks: dict[str, MaskRule] = field(default_factory=dict)
    #: The salt-derived key the rules hash with (``None``: no salt given).
    mask_key: MaskKey | None = None

    @property
    def columns(self) -> list[str]:
        """The database column names, in file order."""
        return [f.column for f in self.fields]

    @property
    def display_params(self) -> tuple[Any, ...]:
        """:attr:`params` with the mask key shown as ``<GYRO_MASK_SALT>`` (for printed SQL)."""
        return displayable(self.params)


def compile_job(
    index: int, job: ImportJob, wrapper: BaseDatabaseWrapper, key: MaskKey | None = None
) -> CompiledJob:
    """Compile ``job`` for ``wrapper``: explicit columns, deterministic slices, bound later.

    Masked columns (the Importer's mask rules) are computed in the SELECT itself, so PostgreSQL
    masks at COPY speed and no original value of them leaves the database.

    Raises:
        JobError: the queryset cannot be exported as one row per model instance.
        MaskError: a rule needs a salt and ``key`` is None; with ``GYRO_REQUIRE_MASKS`` a column
            that looks personal is exported without a rule.
    """
    fields = job.fields()
    if settings.REQUIRE_MASKS:
        bare = unmasked_personal(job)
        if bare:
            listed = ", ".join(f"{f.name} ({reason})" for f, reason in bare)
            raise MaskError(
                f"ImportJob({job.label}) would export personal-looking column(s) unmasked "
                f"and GYRO_REQUIRE_MASKS is on: {listed}; add a mask rule to the Importer's "
                f"Columns, exclude them, or pass ImportJob(..., unmasked=(...)) after review"
            )
    rules = job_rules(job)
    queryset = job.query
    names = []
    for f in fields:
        rule = rules.get(f.column)
        if rule is None:
            names.append(f.attname)
            continue
        alias = f"gyro_mask_{f.attname}"
        queryset = queryset.annotate(**{alias: rule.expression(f, key)})
        names.append(alias)
    queryset = queryset.values_list(*names)
    query = queryset.query.chain(klass=CopyToQuery)
    make_deterministic(query)
    # elide_empty=False: an empty queryset (.none(), pk__in=[]) compiles to a query returning no
    # rows instead of raising EmptyResultSet, so its file still gets the header line.
    compiler = query.get_compiler(connection=wrapper, elide_empty=False)
    assert isinstance(compiler, CopyToCompiler)
    select_sql, params = compiler.as_select_sql(fields, names)
    copy_sql = copy_statement(select_sql)
    return CompiledJob(
        index=index,
        job=job,
        file_name=job.get_importer().get_file_name(),
        fields=fields,
        select_sql=select_sql,
        params=tuple(params),
        copy_sql=copy_sql,
        masks=rules,
        mask_key=key,
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


def with_fakers(connection: Any, wrapper: BaseDatabaseWrapper, item: CompiledJob) -> CompiledJob:
    """``item`` with its Faker columns replaced by fake values (the slow path).

    For each Faker column, the distinct original values of the job's rows are read (inside the
    export's snapshot), faked in Python once each, and joined back into the SELECT as two
    ``text[]`` parameters, so the COPY itself still streams at database speed.
    """
    fakers = {c: r for c, r in item.masks.items() if isinstance(r, FakerRule)}
    if not fakers:
        return item
    quote = wrapper.ops.quote_name
    by_column = {f.column: f for f in item.fields}
    select = []
    joins = []
    params: list[Any] = list(item.params)
    for n, (column, rule) in enumerate(fakers.items()):
        name = quote(column)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT gyro_rows.{name}::text FROM ({item.select_sql}) AS gyro_rows "
                f"WHERE gyro_rows.{name} IS NOT NULL",
                item.params,
            )
            originals = FakerValues(row[0] for row in cursor.fetchall())
        fakes = FakerValues(rule.fake_values(by_column[column], item.mask_key, originals))
        joins.append(
            f"LEFT JOIN unnest(%s::text[], %s::text[]) AS gyro_fake_{n:d}(original, fake) "
            f"ON gyro_fake_{n:d}.original = gyro_rows.{name}::text"
        )
        params += [originals, fakes]
    position = {column: n for n, column in enumerate(fakers)}
    for f in item.fields:
        name = quote(f.column)
        fake = position.get(f.column)
        select.append(
            f"gyro_fake_{fake:d}.fake AS {name}" if fake is not None else f"gyro_rows.{name}"
        )
    select_sql = (
        f"SELECT {', '.join(select)} FROM ({item.select_sql}) AS gyro_rows {' '.join(joins)}"
    )
    return replace(
        item, select_sql=select_sql, params=tuple(params), copy_sql=copy_statement(select_sql)
    )


def compile_all(
    jobs: list[ImportJob], wrapper: BaseDatabaseWrapper, key: MaskKey | None = None
) -> list[CompiledJob]:
    return [compile_job(i, job, wrapper, key) for i, job in enumerate(jobs, start=1)]


def connect_source(source: Postgres) -> BaseDatabaseWrapper:
    """A new, connected connection to ``source`` (the caller closes it).

    Raises:
        SourceError: the source cannot be reached (URL shown with its password masked).
    """
    wrapper = source.connect()
    connect(wrapper, source.url_or_alias)
    return wrapper


def plan(
    source: Postgres, jobs: Iterable[ImportJob], *, mask_salt: str | None = None
) -> list[PlannedJob]:
    """Compile every job for ``source`` and ask the planner for its row estimate; write nothing.

    Masked columns show their SQL, with the salt-derived key printed as ``<GYRO_MASK_SALT>``.

    Raises:
        JobError, JobOrderError: bad jobs (see :func:`~django_gyro.jobs.validate_jobs`).
        SourceError: the source is not a reachable PostgreSQL database.
    """
    checked = validate_jobs(jobs)
    wrapper = connect_source(source)
    try:
        compiled = compile_all(checked, wrapper, mask_key(mask_salt or settings.MASK_SALT))
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
                        sql=compose(wrapper, item.copy_sql, item.display_params),
                        estimated_rows=estimate_rows(cursor, bound),
                    )
                )
        return planned
    finally:
        wrapper.close()
