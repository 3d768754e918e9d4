"""Export: querysets -> ``COPY (...) TO STDOUT WITH (FORMAT CSV, HEADER)`` -> one CSV per job.

All jobs run in one ``REPEATABLE READ, READ ONLY`` transaction on a dedicated connection, so the
files are one consistent snapshot of the source even while it is being written to. Each file is
written under a temporary name; only when every job (and, with ``strict=True``, the closure
check) has succeeded are the files renamed, and ``manifest.json`` is written last.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from django.db.backends.base.base import BaseDatabaseWrapper
from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]

from django_gyro import __version__, manifest
from django_gyro.backend import catalog
from django_gyro.backend.connection import (
    compose,
    driver_version,
    server_version,
    transaction,
)
from django_gyro.backend.copy import copy_to
from django_gyro.conf import settings
from django_gyro.exceptions import ClosureError, JobError, SourceError, TargetError
from django_gyro.export.closure import closure_issues, foreign_keys
from django_gyro.export.plan import (
    CompiledJob,
    compile_all,
    connect_source,
    estimate_rows,
    with_fakers,
)
from django_gyro.export.results import ClosureIssue, ExportResult, JobResult
from django_gyro.jobs import ImportJob, validate_jobs
from django_gyro.manifest import PARTIAL_SUFFIX
from django_gyro.mask import mask_key

if TYPE_CHECKING:
    from django_gyro.api import File, Postgres

__all__ = ["export"]


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
    mask_salt: str | None = None,
    log: Callable[[str], None] | None = None,
) -> ExportResult:
    """Export ``jobs`` from ``source`` into the directory ``target`` as one consistent snapshot.

    Args:
        source: the PostgreSQL database to read.
        target: the directory to write (``overwrite`` decides whether existing files may go).
        jobs: the jobs, in any order: they run parents first (see
            :func:`~django_gyro.jobs.order_jobs`).
        progress: show a tqdm bar per job; ``None`` shows them on a terminal or in a notebook.
        progress_file: the stream for the bars (default ``sys.stderr``).
        strict: raise :class:`ClosureError` (and write nothing) when exported rows reference
            parent rows that are not exported.
        closure: compute the closure report at all (it re-runs the job queries as anti-joins).
        on_job_done: called with each :class:`JobResult` right after its COPY finished, still
            inside the snapshot transaction.
        mask_salt: the secret the Importers' mask rules hash with (default:
            ``GYRO_MASK_SALT``); masking refuses to run without one.
        log: called with per-step messages (the job order; verbosity 2 of the command).

    Returns:
        The per-job results, the closure report and the manifest path.

    Raises:
        JobError, JobOrderError: bad jobs; nothing is touched.
        TargetError: files exist and ``overwrite`` is False; nothing is touched.
        SourceError: the source is not a reachable PostgreSQL database.
        ClosureError: ``strict=True`` and the closure report is not empty; no file is written.
    """
    from django_gyro.api import File, Postgres

    if not isinstance(source, Postgres):
        raise SourceError(f"export source must be DataSlicer.Postgres(...), got {source!r}")
    if not isinstance(target, File):
        raise TargetError(f"export target must be DataSlicer.File(...), got {target!r}")
    checked = validate_jobs(jobs, log)
    file_names = [job.get_importer().get_file_name() for job in checked]
    target.prepare(file_names)
    stream = progress_file if progress_file is not None else sys.stderr
    show = _want_progress(stream) if progress is None else bool(progress)
    buffer_size = int(settings.WRITE_BUFFER)
    started = time.perf_counter()
    partials: list[Path] = []
    results: list[JobResult] = []
    manifest_jobs: list[dict[str, Any]] = []
    wrapper = connect_source(source)
    try:
        compiled = compile_all(checked, wrapper, mask_key(mask_salt or settings.MASK_SALT))
        with transaction(wrapper, "REPEATABLE READ", read_only=True) as connection:
            compiled = [with_fakers(connection, wrapper, item) for item in compiled]
            with connection.cursor() as cursor:
                version = server_version(wrapper)
                migrations = catalog.applied_migrations(cursor)
                cursor.execute("SELECT current_database(), pg_current_snapshot()::text")
                database, snapshot = cursor.fetchone()
            for item in compiled:
                partial = target.path / f".{item.file_name}{PARTIAL_SUFFIX}"
                partials.append(partial)
                statement = compose(wrapper, item.copy_sql, item.params)
                job_started = time.perf_counter()
                bar = None
                with open(partial, "wb", buffering=buffer_size) as handle:
                    if show:
                        with connection.cursor() as cursor:
                            total = estimate_rows(
                                cursor, compose(wrapper, item.select_sql, item.params)
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
                        rows = copy_to(wrapper, statement, sink)
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
                    table = wrapper.ops.quote_name(item.job.model._meta.db_table)
                    types = {name: c.type for name, c in catalog.columns(cursor, table).items()}
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
                    issues = closure_issues(cursor, wrapper, compiled)
        if strict and issues:
            raise ClosureError(
                f"strict export refused: {len(issues)} foreign key column(s) point outside the "
                f"export; nothing was written. " + "; ".join(str(issue) for issue in issues)
            )
        document = manifest.build(
            gyro_version=__version__,
            source={
                "vendor": "postgresql",
                "server_version": version["version"],
                "server_version_num": version["version_num"],
                "database": database,
                "driver": driver_version(),
                "snapshot": snapshot,
                "isolation": "repeatable read, read only",
            },
            migrations=migrations,
            jobs=manifest_jobs,
            closure=[asdict(issue) for issue in issues],
        )
        _publish(target, partials, results, document)
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
    return manifest.job_entry(
        order=item.index,
        model=model._meta.label,
        table=model._meta.db_table,
        file=item.file_name,
        pk=pk.column,
        columns=[
            {"name": f.column, "field": f.name, "type": types[f.column], "nullable": f.null}
            # the rule, never the salt: a reader sees the column is masked and how
            | ({"mask": item.masks[f.column].describe()} if f.column in item.masks else {})
            for f in item.fields
        ],
        foreign_keys=foreign_keys(item),
        exclude=item.job.exclude,
        rows=result.rows,
        size=result.bytes,
        sha256=result.sha256,
        seconds=result.seconds,
        sql=compose(wrapper, item.select_sql, item.display_params),
    )


def _publish(
    target: File, partials: list[Path], results: list[JobResult], document: dict[str, Any]
) -> None:
    # An old manifest must not describe the new files while they are being renamed.
    _remove([target.manifest_path])
    for partial, result in zip(partials, results, strict=True):
        os.replace(partial, result.path)
    manifest.write(target.path, document)
    try:
        directory = os.open(target.path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
