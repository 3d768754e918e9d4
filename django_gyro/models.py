"""Bookkeeping tables Django Gyro keeps in a *target* database.

Every committed reload (:func:`django_gyro.load.loader.load_export`) writes one :class:`Load`
row and, for each row whose key changed or that was matched to an existing row, one
:class:`KeyMap` row
(``old key -> new key``). They live in the target because they describe the target: a second load
of the same export finds its :class:`Load` and does not duplicate anything, and ``gyro_verify``
reads the map to compare the export with the loaded rows while ignoring remapped keys.

The target must have run ``manage.py migrate django_gyro``; the loader checks this before it
touches anything and otherwise stops with a message that says so (it does not create the tables
itself: a table created outside the migration would make a later ``migrate`` fail).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

__all__ = ["KeyAction", "KeyMap", "KeyMapQuerySet", "Load", "LoadQuerySet"]


class LoadQuerySet(models.QuerySet["Load"]):
    """Queries on :class:`Load` rows."""

    def for_export(self, fingerprint: str) -> LoadQuerySet:
        """Loads of the export whose manifest fingerprint is ``fingerprint``, newest first."""
        return self.filter(fingerprint=fingerprint).order_by("-loaded_at", "-pk")


class Load(models.Model):
    """One committed load of an export into this database.

    Attributes:
        fingerprint: sha256 over the manifest's per-file checksums; identifies the export.
        directory: the export directory the load read, for people reading the table.
        on_conflict: the run's default strategy (``error``, ``remap``, ``merge``, ``skip``,
            ``update``).
        kept_models: labels of the models whose rows kept their primary keys (a missing
            :class:`KeyMap` row means "same key" for those).
        summary: per-model counts (``inserted``, ``remapped``, ``merged``, ...).
    """

    fingerprint = models.CharField(max_length=64, db_index=True)
    directory = models.TextField(blank=True)
    on_conflict = models.CharField(max_length=16)
    kept_models = models.JSONField(default=list)
    summary = models.JSONField(default=dict)
    gyro_version = models.CharField(max_length=50, blank=True)
    loaded_at = models.DateTimeField(default=timezone.now)

    objects = LoadQuerySet.as_manager()

    class Meta:
        db_table = "django_gyro_load"
        verbose_name = "Gyro load"

    def __str__(self) -> str:
        return f"load {self.pk} of {self.fingerprint[:12]} at {self.loaded_at:%Y-%m-%d %H:%M}"


class KeyAction(models.TextChoices):
    """What the loader did with an exported row whose key is recorded in the map."""

    REMAPPED = "remapped", "inserted under a new key"
    MERGED = "merged", "matched to an existing row by natural key"
    SKIPPED = "skipped", "already present under the same key; left as it was"
    UPDATED = "updated", "already present under the same key; overwritten"


class KeyMapQuerySet(models.QuerySet["KeyMap"]):
    """Queries on :class:`KeyMap` rows."""

    def for_model(self, label: str) -> KeyMapQuerySet:
        """Map rows of the model ``label`` (``app_label.ModelName``)."""
        return self.filter(model=label)


class KeyMap(models.Model):
    """``old key -> new key`` of one exported row in one :class:`Load`.

    Keys are stored as text so that one table serves integer and UUID keys alike.
    """

    # No database constraint and no index of its own: a load writes one row per remapped row
    # (millions), and a foreign-key trigger call per row would dominate a remap. The rows are
    # written in the transaction that creates their Load; the unique index below starts with
    # load_id and serves the lookups. Deleting a Load still deletes its rows (Django cascades).
    load = models.ForeignKey(
        Load, on_delete=models.CASCADE, related_name="keys", db_constraint=False, db_index=False
    )
    model = models.CharField(max_length=200)
    old_key = models.TextField()
    new_key = models.TextField()
    action = models.CharField(max_length=10, choices=KeyAction.choices)

    objects = KeyMapQuerySet.as_manager()

    class Meta:
        db_table = "django_gyro_keymap"
        verbose_name = "Gyro key map entry"
        verbose_name_plural = "Gyro key map"
        constraints = [
            models.UniqueConstraint(
                fields=["load", "model", "old_key"], name="django_gyro_keymap_unique_old_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model}: {self.old_key} -> {self.new_key} ({self.action})"
