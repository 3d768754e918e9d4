"""Servers, data-line bookkeeping and table write locks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone

__all__ = ["DataLinesOperation", "MachineTableLockWrite", "Server", "TableLockQuerySet"]


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


class TableLockQuerySet(models.QuerySet["MachineTableLockWrite"]):
    """Advisory locks with an owner and an expiry (the original had neither)."""

    def expired(self) -> TableLockQuerySet:
        """Locks whose expiry has passed."""
        return self.filter(expires_at__lt=timezone.now())

    def acquire(self, table_name: str, owner: str, ttl: float = 180) -> bool:
        """Take the lock on ``table_name`` for ``owner`` for ``ttl`` seconds.

        Returns True when ``owner`` now holds it: it was free, already ``owner``'s (the expiry is
        renewed) or expired. Returns False while another owner holds it.

        Raises:
            ValueError: empty table name or owner, or a non-positive ``ttl``.
        """
        if not table_name or not owner:
            raise ValueError("a table lock needs a table name and an owner")
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
            raise ValueError(f"ttl must be a positive number of seconds, not {ttl!r}")
        now = timezone.now()
        values = {"locked_by": owner, "locked_at": now, "expires_at": now + timedelta(seconds=ttl)}
        try:
            with transaction.atomic(using=self.db):
                self.create(table_name=table_name, **values)
            return True
        except IntegrityError:
            pass
        mine_or_expired = models.Q(locked_by=owner) | models.Q(expires_at__lt=now)
        return bool(self.filter(mine_or_expired, table_name=table_name).update(**values))

    def release(self, table_name: str, owner: str) -> bool:
        """Release ``owner``'s lock on ``table_name``; False if ``owner`` did not hold it."""
        deleted, _ = self.filter(table_name=table_name, locked_by=owner).delete()
        return bool(deleted)


class MachineTableLockWrite(models.Model):
    """An advisory write lock on a per-machine data table: one row per locked table.

    Use :meth:`TableLockQuerySet.acquire` / :meth:`~TableLockQuerySet.release`: a lock belongs
    to its owner and expires, so a crashed writer cannot block a table forever and nobody
    releases another owner's lock.
    """

    table_name = models.CharField(max_length=255, unique=True)
    locked_at = models.DateTimeField(default=timezone.now)
    locked_by = models.CharField(max_length=255, default="", blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    objects: Any = TableLockQuerySet.as_manager()

    class Meta:
        db_table = "machine_table_lock_write"

    def __str__(self) -> str:
        return f"{self.table_name} locked by {self.locked_by or '?'} at {self.locked_at}"
