"""A ``logging.Handler`` that stores records in the ``EasyAutoMLLogger`` table, off the caller.

Attach it in ``LOGGING`` (or with ``logger.addHandler(DatabaseLogHandler())``)::

    LOGGING = {
        "version": 1,
        "handlers": {"db": {"class": "easyautoml_models.log.DatabaseLogHandler",
                            "level": "WARNING"}},
        "loggers": {"easyautoml": {"handlers": ["db"], "level": "INFO"}},
    }

The handler is the standard library's ``QueueHandler``: logging only puts the record on a
bounded queue. A ``QueueListener`` thread stores the records on **its own** database connection,
opened with connect and statement timeouts. So:

- code in an event loop can log (the caller never touches the database, so Django's
  async-safety check never fires);
- a record logged inside a transaction that later rolls back is still stored (the writer's
  connection commits on its own);
- a log database that is down, or that accepts connections and never answers, never blocks or
  breaks the caller: the writer gives up after its timeouts, waits ``retry_after`` seconds
  before trying again, and drops records meanwhile;
- a full queue drops the record instead of waiting.

Dropped records are counted in :attr:`DatabaseLogHandler.dropped`; the first drop of an outage
writes one warning line on stderr, and the line saying the database answers again gives the
count. ``logging.shutdown()`` (run at interpreter exit) flushes the queue, then stops the writer.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import queue
import socket
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from functools import lru_cache
from logging.handlers import QueueHandler, QueueListener
from typing import Any

__all__ = ["DatabaseLogHandler"]


@lru_cache(maxsize=1)
def _host() -> tuple[str, str]:
    name = socket.gethostname()
    try:
        ip = socket.gethostbyname(name)
    except OSError:
        ip = ""
    return name, ip


class DatabaseLogHandler(QueueHandler):
    """Store each record as an :class:`~easyautoml_models.models.EasyAutoMLLogger` row.

    Args:
        level: the handler's level.
        using: database alias; default ``EASYAUTOML_LOGGER_DATABASE`` (``"default"``). The
            writer opens its own connection with that alias's settings.
        database: a ``DATABASES``-style dict to use instead of the alias's settings (a separate
            log server, say).
        queue_size: records kept waiting for the writer; more are dropped.
        connect_timeout: seconds the writer waits for a connection.
        statement_timeout: seconds one INSERT may take.
        retry_after: seconds the writer drops records after a failure before trying again.
        flush_timeout: the longest :meth:`flush` (and so ``logging.shutdown()``) waits.

    Attributes:
        dropped: how many records were not stored (full queue or failing database).
    """

    def __init__(
        self,
        level: int | str = logging.NOTSET,
        using: str | None = None,
        *,
        database: dict[str, Any] | None = None,
        queue_size: int = 10_000,
        connect_timeout: float = 2.0,
        statement_timeout: float = 5.0,
        retry_after: float = 5.0,
        flush_timeout: float = 10.0,
    ) -> None:
        super().__init__(queue.Queue(maxsize=queue_size))
        self.setLevel(level)
        self.queue_size = queue_size
        self.using = using
        self.database = database
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self.retry_after = retry_after
        self.flush_timeout = flush_timeout
        self.dropped = 0
        self._outage = False  # a warning was written and no record was stored since
        self._drops_lock = threading.Lock()
        self._writer = _Writer(self)
        self._listener: QueueListener | None = None
        self._pid = os.getpid()
        self._start_lock = threading.Lock()

    # The caller's side: never blocks, never raises ----------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        listener = self._listener
        thread = getattr(listener, "_thread", None)
        if thread is not None and threading.current_thread() is thread:
            return  # logged by our own write (e.g. Django's SQL logging): drop, never recurse
        try:
            self._start()
            self.enqueue(self.prepare(record))
        except Exception:
            self.handleError(record)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """A copy of ``record`` with its message and traceback rendered as text.

        Rendered in the caller's thread: arguments and tracebacks may change later.
        """
        prepared = copy.copy(record)
        prepared.message = record.getMessage()
        prepared.msg, prepared.args = prepared.message, None
        text = ""
        if record.exc_info:
            text = "".join(traceback.format_exception(*record.exc_info))
        elif record.exc_text:
            text = record.exc_text
        elif record.stack_info:
            text = record.stack_info
        prepared.eaml_traceback = text
        prepared.exc_info, prepared.exc_text, prepared.stack_info = None, None, None
        return prepared

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self._drop("the log queue is full")

    def _start(self) -> None:
        if self._pid != os.getpid():  # a forked child (a pre-forking server): its own writer
            self._pid = os.getpid()
            self._start_lock = threading.Lock()
            self.queue = queue.Queue(maxsize=self.queue_size)
            self._writer = _Writer(self)  # the parent's connection is not ours to use
            self._listener = None
        if self._listener is not None:
            return
        with self._start_lock:
            if self._listener is None:
                listener = QueueListener(self.queue, self._writer)
                listener.start()
                self._listener = listener

    # Bookkeeping of dropped records ------------------------------------------------------

    def _drop(self, reason: str) -> None:
        with self._drops_lock:
            self.dropped += 1
            if self._outage:
                return
            self._outage = True
        sys.stderr.write(
            f"easyautoml_models.log: cannot store log records in {self._writer.describe()} "
            f"({reason}); dropping them until it works again (DatabaseLogHandler.dropped "
            "counts them)\n"
        )

    def _stored(self) -> None:
        if not self._outage:
            return
        with self._drops_lock:
            self._outage, dropped = False, self.dropped
        sys.stderr.write(
            f"easyautoml_models.log: storing log records in {self._writer.describe()} again; "
            f"{dropped} record(s) were dropped so far\n"
        )

    # Flush and close ---------------------------------------------------------------------

    def flush(self) -> None:
        """Wait (at most ``flush_timeout`` seconds) until every queued record is handled."""
        if self._listener is None:
            return
        deadline = time.monotonic() + self.flush_timeout
        work: Any = self.queue
        with work.all_tasks_done:
            while work.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                work.all_tasks_done.wait(remaining)

    def close(self) -> None:
        """Store what is queued (see :meth:`flush`), stop the writer, close its connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            deadline = time.monotonic() + self.flush_timeout + self._writer.longest_write()
            while True:
                try:
                    self.queue.put_nowait(listener._sentinel)  # type: ignore[attr-defined]
                    break
                except queue.Full:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.01)
            thread = listener._thread
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
                listener._thread = None
            self._writer.disconnect()
        super().close()


class _Writer(logging.Handler):
    """The listener's handler: INSERTs records on a private connection, in its own thread."""

    def __init__(self, owner: DatabaseLogHandler) -> None:
        super().__init__()
        self.owner = owner
        self.connection: Any = None
        self.down_until = 0.0

    def longest_write(self) -> float:
        return self.owner.connect_timeout + self.owner.statement_timeout

    def _settings(self) -> tuple[str, dict[str, Any]]:
        from django.db import connections

        from easyautoml_models.conf import app_settings

        if self.owner.database is not None:
            return "log", copy.deepcopy(self.owner.database)
        alias = self.owner.using or app_settings.LOGGER_DATABASE
        return alias, copy.deepcopy(connections.settings[alias])

    def describe(self) -> str:
        """``'default' at 127.0.0.1:5432/easyautoml`` (no credentials)."""
        try:
            alias, config = self._settings()
        except Exception:  # noqa: BLE001 - only for a message
            return "the log database"
        if not config.get("HOST"):
            return f"{alias!r} ({config.get('NAME')})"
        return f"{alias!r} at {config.get('HOST')}:{config.get('PORT') or ''}/{config.get('NAME')}"

    def _connect(self) -> Any:
        """A new ``DatabaseWrapper`` of its own, with connect and statement timeouts."""
        from django.db.utils import load_backend

        alias, config = self._settings()
        options = config.setdefault("OPTIONS", {})
        engine = config.get("ENGINE", "")
        statement_ms = int(self.owner.statement_timeout * 1000)
        if "postgresql" in engine:
            options["connect_timeout"] = max(2, math.ceil(self.owner.connect_timeout))
            extra = f"-c statement_timeout={statement_ms} -c lock_timeout={statement_ms}"
            options["options"] = f"{options.get('options', '')} {extra}".strip()
        elif "sqlite" in engine:
            options["timeout"] = self.owner.statement_timeout
        elif "mysql" in engine:
            options["connect_timeout"] = max(1, math.ceil(self.owner.connect_timeout))
            options["read_timeout"] = options["write_timeout"] = max(
                1, math.ceil(self.owner.statement_timeout)
            )
        config["CONN_MAX_AGE"] = None
        backend = load_backend(engine)
        wrapper = backend.DatabaseWrapper(config, f"{alias}__log_writer")
        wrapper.inc_thread_sharing()  # so close() may close it from the closing thread
        wrapper.ensure_connection()
        return wrapper

    def disconnect(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001, S110 - closing a broken connection
                pass

    def emit(self, record: logging.LogRecord) -> None:
        from django.apps import apps

        if not apps.ready:
            self.owner._drop("Django's apps are not loaded yet")
            return
        if time.monotonic() < self.down_until:
            self.owner._drop("it failed a moment ago")
            return
        try:
            if self.connection is None:
                self.connection = self._connect()
            self._insert(record)
        except Exception as exc:  # noqa: BLE001 - a log write must never propagate
            self.disconnect()
            self.down_until = time.monotonic() + self.owner.retry_after
            first_line = (str(exc).strip().splitlines() or [""])[0]
            self.owner._drop(f"{type(exc).__name__}: {first_line}")
        else:
            self.owner._stored()

    def _insert(self, record: logging.LogRecord) -> None:
        from django.db.models import sql

        from easyautoml_models.models import EasyAutoMLLogger

        host_name, ip = _host()
        row = EasyAutoMLLogger(
            timestamp=datetime.fromtimestamp(record.created, tz=UTC),
            traceback=getattr(record, "eaml_traceback", ""),
            level=record.levelname,
            logger=record.name,
            main_module=record.module,
            main_function=record.funcName or "",
            message=record.getMessage(),
            host_name=host_name,
            ip=ip,
        )
        fields = [f for f in EasyAutoMLLogger._meta.local_concrete_fields if not f.primary_key]
        query = sql.InsertQuery(EasyAutoMLLogger)
        query.insert_values(fields, [row], raw=True)  # raw: keep the record's own time
        query.get_compiler(connection=self.connection).execute_sql()
