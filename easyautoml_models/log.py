"""A ``logging.Handler`` that writes records into the ``EasyAutoMLLogger`` table.

Attach it in ``LOGGING``::

    LOGGING = {
        "version": 1,
        "handlers": {"db": {"class": "easyautoml_models.log.DatabaseLogHandler",
                            "level": "WARNING"}},
        "loggers": {"easyautoml": {"handlers": ["db"], "level": "INFO"}},
    }

A failing database never breaks the code that logs: the write runs in its own savepoint, errors
go to ``Handler.handleError`` (a message on stderr), and records logged while a record is being
written (e.g. Django's own SQL logging) are dropped instead of recursing.
"""

from __future__ import annotations

import logging
import socket
import threading
import traceback
from functools import lru_cache

__all__ = ["DatabaseLogHandler"]

_writing = threading.local()


@lru_cache(maxsize=1)
def _host() -> tuple[str, str]:
    name = socket.gethostname()
    try:
        ip = socket.gethostbyname(name)
    except OSError:
        ip = ""
    return name, ip


class DatabaseLogHandler(logging.Handler):
    """Store each record as an :class:`~easyautoml_models.models.EasyAutoMLLogger` row.

    Args:
        level: the handler's level.
        using: database alias; default ``EASYAUTOML_LOGGER_DATABASE`` (``"default"``).
    """

    def __init__(self, level: int | str = logging.NOTSET, using: str | None = None) -> None:
        super().__init__(level)
        self.using = using

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(_writing, "active", False):
            return  # a record logged by our own write: drop it rather than recurse
        _writing.active = True
        try:
            self._write(record)
        except Exception:
            self.handleError(record)
        finally:
            _writing.active = False

    def _write(self, record: logging.LogRecord) -> None:
        from django.apps import apps
        from django.db import transaction

        if not apps.ready:
            return
        from easyautoml_models.conf import app_settings
        from easyautoml_models.models import EasyAutoMLLogger

        using = self.using or app_settings.LOGGER_DATABASE
        text = ""
        if record.exc_info:
            text = "".join(traceback.format_exception(*record.exc_info))
        elif record.stack_info:
            text = record.stack_info
        host_name, ip = _host()
        with transaction.atomic(using=using):
            EasyAutoMLLogger.objects.using(using).create(
                traceback=text,
                level=record.levelname,
                logger=record.name,
                main_module=record.module,
                main_function=record.funcName or "",
                message=record.getMessage(),
                host_name=host_name,
                ip=ip,
            )
