"""``workers=N``: the jobs of one export on N connections that share one snapshot.

The export's own connection opens its ``REPEATABLE READ, READ ONLY`` transaction and publishes
its snapshot with ``pg_export_snapshot()``; each worker opens a connection, starts the same kind
of transaction and adopts that snapshot with ``SET TRANSACTION SNAPSHOT`` before its first query
(as ``pg_dump -j`` does). Every COPY therefore sees exactly the rows the sequential export would
see, whatever is committed on the source meanwhile, and each file is byte for byte the file of a
``workers=1`` run. The first connection keeps its transaction open until the last worker is done,
which keeps the snapshot importable.

Jobs are handed out largest first (the planner's estimate), so the big files start early. A
failing job stops the others (their running COPY is cancelled) and the export fails as a whole.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from django.db.backends.base.base import BaseDatabaseWrapper

from django_gyro.backend.connection import compose, raw, transaction
from django_gyro.exceptions import SourceError
from django_gyro.export.plan import CompiledJob, connect_source, estimate_rows
from django_gyro.export.results import JobResult

if TYPE_CHECKING:
    from django_gyro.api import Postgres

__all__ = ["export_snapshot", "import_snapshot", "run_parallel"]

_ADVICE = "export with workers=1 (gyro_export --workers 1), which needs no shared snapshot"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _driver_error(wrapper: BaseDatabaseWrapper) -> type[Exception]:
    """The driver's base exception class (``psycopg2.Error`` / ``psycopg.Error``)."""
    error: type[Exception] = wrapper.Database.Error  # type: ignore[attr-defined]
    return error


def export_snapshot(wrapper: BaseDatabaseWrapper) -> str:
    """``pg_export_snapshot()`` of the transaction open on ``wrapper``.

    Raises:
        SourceError: the server refused (a standby in some versions, a pooler), saying to use
            ``workers=1``.
    """
    try:
        with raw(wrapper).cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            return str(cursor.fetchone()[0])
    except _driver_error(wrapper) as exc:
        raise SourceError(
            f"cannot export the snapshot of the export's transaction for other connections "
            f"({_reason(exc)}); {_ADVICE}"
        ) from exc


def import_snapshot(wrapper: BaseDatabaseWrapper, snapshot: str) -> None:
    """Adopt ``snapshot`` as the snapshot of the transaction just begun on ``wrapper``.

    Raises:
        SourceError: the snapshot cannot be imported (another server or database behind the
            same address, a pooler in transaction mode, the exporting transaction ended),
            saying to use ``workers=1``.
    """
    try:
        with raw(wrapper).cursor() as cursor:
            cursor.execute(compose(wrapper, "SET TRANSACTION SNAPSHOT %s", [snapshot]))
    except _driver_error(wrapper) as exc:
        raise SourceError(
            f"a worker connection cannot import the export's snapshot {snapshot!r} "
            f"({_reason(exc)}); {_ADVICE}"
        ) from exc


def run_parallel(
    run: Any,
    source: Postgres,
    wrapper: BaseDatabaseWrapper,
    workers: int,
    run_job: Callable[[Any, BaseDatabaseWrapper, CompiledJob, int | None], JobResult],
    on_job_done: Callable[[JobResult], None] | None,
) -> list[JobResult]:
    """Run ``run.compiled`` on ``workers`` connections sharing the snapshot of ``wrapper``.

    ``wrapper`` must be inside its ``REPEATABLE READ`` transaction; it stays there. Returns the
    results in job order; ``on_job_done`` is called from this thread as jobs finish.
    """
    workers = min(workers, len(run.compiled))  # an idle worker would only hold a connection
    snapshot = export_snapshot(wrapper)
    with raw(wrapper).cursor() as cursor:
        for item in run.compiled:
            run.estimates[item.index] = estimate_rows(
                cursor, compose(wrapper, item.select_sql, item.params)
            )
    todo: queue.Queue[CompiledJob] = queue.Queue()
    for item in sorted(run.compiled, key=lambda item: (-run.estimates[item.index], item.index)):
        todo.put(item)
    done: queue.Queue[JobResult] = queue.Queue()
    stop = threading.Event()
    lock = threading.Lock()
    opened: list[BaseDatabaseWrapper] = []

    def work(slot: int) -> None:
        try:
            worker = connect_source(source)
        except SourceError as exc:
            raise SourceError(f"worker {slot + 1} of {workers}: {exc}; {_ADVICE}") from exc
        with lock:
            opened.append(worker)
        try:
            with transaction(worker, "REPEATABLE READ", read_only=True):
                import_snapshot(worker, snapshot)
                while not stop.is_set():
                    try:
                        item = todo.get_nowait()
                    except queue.Empty:
                        return
                    done.put(run_job(run, worker, item, slot))
        finally:
            with lock:
                opened.remove(worker)
            worker.close()

    def cancel_all() -> None:
        stop.set()
        with lock:
            for worker in opened:
                connection = worker.connection
                if connection is not None:
                    try:
                        connection.cancel()
                    except Exception:  # already closed or finished: nothing to cancel
                        pass

    results: dict[int, JobResult] = {}
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gyro-export") as pool:
        futures: list[Future[None]] = [pool.submit(work, slot) for slot in range(workers)]
        try:
            while True:
                try:
                    result: JobResult | None = done.get(timeout=0.05)
                except queue.Empty:
                    result = None
                if result is not None:
                    results[result.index] = result
                    if on_job_done is not None:
                        on_job_done(result)
                    continue
                errors = [f.exception() for f in futures if f.done()]
                error = next((e for e in errors if e is not None), None)
                if error is not None:
                    raise error
                if all(f.done() for f in futures) and done.empty():
                    break
        except BaseException:
            cancel_all()
            raise
    return [results[item.index] for item in run.compiled]
