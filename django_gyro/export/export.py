"""Export: querysets -> ``COPY (...) TO STDOUT WITH (FORMAT CSV, HEADER)`` -> one CSV per job.

All jobs run in one ``REPEATABLE READ, READ ONLY`` snapshot: on one dedicated connection, or with
``workers=N`` on N more connections that import the first one's snapshot
(:mod:`django_gyro.export.parallel`), so the files are one consistent snapshot of the source even
while it is being written to. Each file is written under a temporary name; only when every job
(and, with ``strict=True``, the closure check) has succeeded are the files renamed, and
``manifest.json`` is written last.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db.backends.base.base import BaseDatabaseWrapper
from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]

from django_gyro import __version__, manifest
from django_gyro.backend import catalog
from django_gyro.backend.compression import suffix
from django_gyro.backend.connection import (
    compose,
    driver_version,
    raw,
    server_version,
    transaction,
)
from django_gyro.backend.copy import copy_to
from django_gyro.conf import settings
from django_gyro.exceptions import ClosureError, JobError, SourceError, TargetError
from django_gyro.export.closure import (
    ClosurePlan,
    closure_issues,
    closure_plan,
    foreign_keys,
    in_file_order,
    scanned_issues,
)
from django_gyro.export.parallel import run_parallel
from django_gyro.export.plan import (
    CompiledJob,
    compile_all,
    connect_source,
    estimate_rows,
    with_fakers,
)
from django_gyro.export.results import ClosureIssue, ExportResult, JobResult
from django_gyro.export.sink import KeyScanner, open_sink
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


def _remove(paths: Iterable[Path]) -> None:
    for path in paths:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


@dataclass
class _Run:
    """What every job of one export shares."""

    target: File
    compiled: list[CompiledJob]
    statements: dict[int, str]
    estimates: dict[int, int]
    names: dict[int, str]
    plan: ClosurePlan | None
    show: bool
    stream: Any
    buffer_size: int
    scanners: dict[int, KeyScanner | None] = field(default_factory=dict)
    partials: list[Path] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def partial(self, item: CompiledJob) -> Path:
        return self.target.path / f".{self.names[item.index]}{PARTIAL_SUFFIX}"


def _bar(run: _Run, item: CompiledJob, total: int, position: int | None) -> Any:
    return tqdm(
        total=total,
        desc=f"{item.index}/{len(run.compiled)} {item.job.label}",
        unit=" rows",
        unit_scale=True,
        file=run.stream,
        leave=position is None,
        position=position,
        dynamic_ncols=True,
    )


def _run_job(
    run: _Run, wrapper: BaseDatabaseWrapper, item: CompiledJob, position: int | None = None
) -> JobResult:
    """COPY one job into its partial file on ``wrapper`` (inside its snapshot transaction)."""
    partial = run.partial(item)
    with run.lock:
        run.partials.append(partial)
    scanner = run.plan.scanner(item) if run.plan is not None else None
    started = time.perf_counter()
    bar = None
    if run.show:
        total = run.estimates.get(item.index)
        if total is None:
            with raw(wrapper).cursor() as cursor:
                total = estimate_rows(cursor, compose(wrapper, item.select_sql, item.params))
        bar = _bar(run, item, total, position)
    try:
        writer, sink = open_sink(partial, run.buffer_size, run.target.compress, scanner, bar)
        with writer:
            rows = copy_to(wrapper, run.statements[item.index], writer)
            writer.flush()
            sink.finish()
        if bar is not None:  # the estimate was only an estimate
            bar.total = rows
            bar.n = rows
            bar.refresh()
    finally:
        if bar is not None:
            bar.close()
    with run.lock:
        run.scanners[item.index] = scanner
    return JobResult(
        index=item.index,
        model=item.job.label,
        file=run.names[item.index],
        path=run.target.path / run.names[item.index],
        rows=rows,
        bytes=sink.size,
        seconds=time.perf_counter() - started,
        sha256=sink.digest.hexdigest(),
    )


def _check_workers(workers: Any) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise JobError(f"workers must be a positive integer, got {workers!r}")
    return workers


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
    workers: int = 1,
) -> ExportResult:
    """Export ``jobs`` from ``source`` into the directory ``target`` as one consistent snapshot.

    Args:
        source: the PostgreSQL database to read.
        target: the directory to write (``overwrite`` decides whether existing files may go,
            ``compress`` how they are stored).
        jobs: the jobs, in any order: they run parents first (see
            :func:`~django_gyro.jobs.order_jobs`).
        progress: show a tqdm bar per running job; ``None`` shows them on a terminal or in a
            notebook.
        progress_file: the stream for the bars (default ``sys.stderr``).
        strict: raise :class:`ClosureError` (and write nothing) when exported rows reference
            parent rows that are not exported.
        closure: compute the closure report at all (see :mod:`django_gyro.export.closure`:
            mostly free, from the rows already streaming).
        on_job_done: called with each :class:`JobResult` right after its COPY finished, still
            inside the snapshot transaction (with ``workers > 1`` in the order jobs finish, from
            the calling thread).
        mask_salt: the secret the Importers' mask rules hash with (default:
            ``GYRO_MASK_SALT``); masking refuses to run without one.
        log: called with per-step messages (the job order; verbosity 2 of the command).
        workers: run the jobs on this many connections at once, all on the snapshot of the
            first one (``pg_export_snapshot()``); the files are the same as with 1, the
            default, which runs the jobs one after the other on one connection.

    Returns:
        The per-job results, the closure report and the manifest path.

    Raises:
        JobError, JobOrderError: bad jobs; nothing is touched.
        TargetError: files exist and ``overwrite`` is False; nothing is touched.
        SourceError: the source is not a reachable PostgreSQL database, or (``workers > 1``) its
            snapshot cannot be shared between connections.
        ClosureError: ``strict=True`` and the closure report is not empty; no file is written.
    """
    from django_gyro.api import File, Postgres

    if not isinstance(source, Postgres):
        raise SourceError(f"export source must be DataSlicer.Postgres(...), got {source!r}")
    if not isinstance(target, File):
        raise TargetError(f"export target must be DataSlicer.File(...), got {target!r}")
    workers = _check_workers(workers)
    checked = validate_jobs(jobs, log)
    extension = suffix(target.compress)
    names = {i: job.get_importer().get_file_name() + extension for i, job in enumerate(checked, 1)}
    target.prepare(list(names.values()))
    stream = progress_file if progress_file is not None else sys.stderr
    show = _want_progress(stream) if progress is None else bool(progress)
    started = time.perf_counter()
    results: list[JobResult] = []
    wrapper = connect_source(source)
    run: _Run | None = None
    try:
        compiled = compile_all(checked, wrapper, mask_key(mask_salt or settings.MASK_SALT))
        with transaction(wrapper, "REPEATABLE READ", read_only=True) as connection:
            compiled = [with_fakers(connection, wrapper, item) for item in compiled]
            with connection.cursor() as cursor:
                version = server_version(wrapper)
                migrations = catalog.applied_migrations(cursor)
                cursor.execute("SELECT current_database(), pg_current_snapshot()::text")
                database, snapshot = cursor.fetchone()
            run = _Run(
                target=target,
                compiled=compiled,
                statements={
                    item.index: compose(wrapper, item.copy_sql, item.params) for item in compiled
                },
                estimates={},
                names=names,
                plan=closure_plan(compiled, wrapper) if closure else None,
                show=show,
                stream=stream,
                buffer_size=int(settings.WRITE_BUFFER),
            )
            if workers == 1:
                for item in compiled:
                    result = _run_job(run, wrapper, item)
                    results.append(result)
                    if on_job_done is not None:
                        on_job_done(result)
            else:
                results = run_parallel(run, source, wrapper, workers, _run_job, on_job_done)
            manifest_jobs = []
            with connection.cursor() as cursor:
                for item, result in zip(compiled, results, strict=True):
                    table = wrapper.ops.quote_name(item.job.model._meta.db_table)
                    types = {name: c.type for name, c in catalog.columns(cursor, table).items()}
                    manifest_jobs.append(
                        _manifest_job(item, result, types, wrapper, target.compress)
                    )
            issues: list[ClosureIssue] = []
            if run.plan is not None:
                issues, left = scanned_issues(run.plan, run.scanners)
                if left:
                    with connection.cursor() as cursor:
                        work_mem = settings.CLOSURE_WORK_MEM
                        if work_mem:
                            # Only for this transaction: the anti-joins hash whole key sets.
                            cursor.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
                        issues += closure_issues(cursor, wrapper, compiled, only=left)
                issues = in_file_order(compiled, issues)
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
        _publish(target, [run.partial(item) for item in compiled], results, document)
    except BaseException:
        if run is not None:
            _remove(run.partials)
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
    item: CompiledJob,
    result: JobResult,
    types: dict[str, str],
    wrapper: BaseDatabaseWrapper,
    compression: str | None,
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
        file=result.file,
        compression=compression,
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
