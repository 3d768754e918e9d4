"""The log table that :class:`easyautoml_models.log.DatabaseLogHandler` writes into."""

from __future__ import annotations

from django.db import models

__all__ = ["EasyAutoMLLogger"]


class EasyAutoMLLogger(models.Model):
    """One log record: when, where (host, module, function), level and message."""

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

    def __str__(self) -> str:
        return f"{self.timestamp} {self.level} {self.logger}: {self.message[:80]}"
