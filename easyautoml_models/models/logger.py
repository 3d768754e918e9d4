"""``EasyAutoMLLogger``: the log table, and the logger EasyAutoML's ML code calls.

One class serves both uses:

- as a model it is the table :class:`easyautoml_models.log.DatabaseLogHandler` writes into
  (``EasyAutoMLLogger.objects.filter(level="ERROR")``);
- as EasyAutoML-Core's logger, ``EasyAutoMLLogger().error("...")`` (and ``debug``, ``info``,
  ``warning``, ``critical``, ``exception``, ``log``) sends the record through Python's
  ``logging`` machinery: the logger ``EasyAutoMLLogger.<calling module>``, whose parent
  ``EasyAutoMLLogger`` prints to stderr (level ``GLOBAL_LOGGER_CONSOLE_LEVEL``, default DEBUG,
  as EasyAutoML-Core did) and stores rows through ``DatabaseLogHandler`` (level
  ``EASYAUTOML_LOGGER_DATABASE_LEVEL``, default WARNING). These calls never raise.

The two handlers are attached once, and only if the project's ``LOGGING`` did not configure the
``EasyAutoMLLogger`` logger itself.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

from django.db import models

__all__ = ["ROOT_LOGGER_NAME", "EasyAutoMLLogger", "StderrHandler"]

#: Parent of every logger ``EasyAutoMLLogger()`` instances log through.
ROOT_LOGGER_NAME = "EasyAutoMLLogger"
_FORMAT = "%(levelname)-8s|%(name)s|%(message)s"
_setup_lock = threading.Lock()


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """A ``StreamHandler`` on whatever ``sys.stderr`` is at the time of each record."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _root_logger() -> logging.Logger:
    root = logging.getLogger(ROOT_LOGGER_NAME)
    if root.handlers or getattr(root, "_easyautoml_configured", False):
        return root
    with _setup_lock:
        if root.handlers or getattr(root, "_easyautoml_configured", False):
            return root
        from easyautoml_models.conf import app_settings
        from easyautoml_models.log import DatabaseLogHandler

        console = StderrHandler()
        console.setLevel(os.environ.get("GLOBAL_LOGGER_CONSOLE_LEVEL", "DEBUG").upper())
        console.setFormatter(logging.Formatter(_FORMAT))
        database = DatabaseLogHandler(level=app_settings.LOGGER_DATABASE_LEVEL)
        root.addHandler(console)
        root.addHandler(database)
        root.setLevel(logging.DEBUG)
        root.propagate = False  # EasyAutoML-Core's logger had its own handlers only
        root._easyautoml_configured = True  # type: ignore[attr-defined]
    return root


class EasyAutoMLLogger(models.Model):
    """One log record (when, where, level, message), and EasyAutoML-Core's logger interface.

    ``EasyAutoMLLogger()`` created by the calling code logs through
    ``logging.getLogger("EasyAutoMLLogger.<caller's module>")``; rows loaded from the table are
    plain model instances (their log methods work too).
    """

    timestamp = models.DateTimeField(auto_now_add=True)
    traceback = models.TextField(blank=True)
    level = models.TextField()
    logger = models.TextField()
    main_module = models.TextField()
    main_function = models.TextField()
    message = models.TextField(blank=True)
    host_name = models.TextField()
    ip = models.TextField()

    class Meta:
        db_table = "EasyAutoMLLogger"
        verbose_name = "log record"
        indexes = [models.Index(fields=["timestamp"], name="eaml_logger_ts_idx")]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        caller = "EasyAutoML"
        if not args:  # created by code, not loaded from a row: name it after the caller
            try:
                caller = str(sys._getframe(1).f_globals.get("__name__") or caller)
            except ValueError:
                pass
        self._logger_name = f"{ROOT_LOGGER_NAME}.{caller}"

    def __str__(self) -> str:
        return f"{self.timestamp} {self.level} {self.logger}: {(self.message or '')[:80]}"

    # The logging.Logger interface EasyAutoML's ML code uses ------------------------------

    @property
    def python_logger(self) -> logging.Logger:
        """The ``logging.Logger`` this object's log calls go through."""
        _root_logger()
        return logging.getLogger(getattr(self, "_logger_name", ROOT_LOGGER_NAME))

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        """Log ``msg % args`` at ``level``; never raises (a failure is printed on stderr)."""
        try:
            kwargs.setdefault("stacklevel", 3)
            self.python_logger.log(level, msg, *args, **kwargs)
        except Exception as exc:  # a logging call must never stop the ML code
            try:
                print(f"EasyAutoMLLogger could not log {msg!r}: {exc!r}", file=sys.stderr)
            except Exception:
                pass

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        """Log at DEBUG."""
        self.log(logging.DEBUG, msg, *args, **kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        """Log at INFO."""
        self.log(logging.INFO, msg, *args, **kwargs)

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        """Log at WARNING."""
        self.log(logging.WARNING, msg, *args, **kwargs)

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        """Log at ERROR. Does not raise: EasyAutoML's ML code carries on after it."""
        self.log(logging.ERROR, msg, *args, **kwargs)

    def critical(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        """Log at CRITICAL. Does not raise."""
        self.log(logging.CRITICAL, msg, *args, **kwargs)

    def exception(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        """Log at ERROR with the current exception's traceback."""
        kwargs.setdefault("exc_info", True)
        self.log(logging.ERROR, msg, *args, **kwargs)

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging.Logger's name
        return self.python_logger.isEnabledFor(level)

    def setLevel(self, level: int | str) -> None:  # noqa: N802 - logging.Logger's name
        self.python_logger.setLevel(level)
