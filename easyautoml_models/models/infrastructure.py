"""Servers, data-line bookkeeping and table write locks."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

__all__ = ["DataLinesOperation", "MachineTableLockWrite", "Server"]


class Server(models.Model):
    """A worker that processes :class:`~easyautoml_models.models.work.Work` items."""

    server_name = models.CharField(max_length=50, unique=True)
    server_date_time = models.DateTimeField(auto_now_add=True)
    server_info_ready = models.BooleanField(null=True, blank=True)
    server_gpu_ram = models.JSONField(default=list, blank=True)

    class Meta:
        db_table = "server"
        indexes = [models.Index(fields=["server_info_ready"], name="server_info_ready_idx")]

    def __str__(self) -> str:
        return self.server_name


class DataLinesOperation(models.Model):
    """A batch of data lines added to a machine, for learning or for solving.

    ``machine_id`` is a real foreign key here (the original stored a bare integer); the column
    name is unchanged.
    """

    machine = models.ForeignKey(
        "easyautoml_models.Machine", on_delete=models.CASCADE, db_column="machine_id"
    )
    date_time = models.DateTimeField(auto_now_add=True)
    is_added_for_learning = models.BooleanField(null=True, blank=True)
    is_added_for_solving = models.BooleanField(null=True, blank=True)

    class Meta:
        db_table = "DataLinesOperation"
        indexes = [models.Index(fields=["machine"], name="datalinesop_machine_idx")]

    def __str__(self) -> str:
        return f"data lines of machine {self.machine_id} at {self.date_time}"


class MachineTableLockWrite(models.Model):
    """An advisory write lock on a per-machine data table: one row per locked table."""

    table_name = models.CharField(max_length=255, unique=True)
    locked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "machine_table_lock_write"

    def __str__(self) -> str:
        return f"{self.table_name} locked at {self.locked_at}"
