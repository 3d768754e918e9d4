"""What a load returns: one :class:`ModelLoadReport` per file, in a :class:`LoadResult`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["LoadResult", "ModelLoadReport"]


@dataclass
class ModelLoadReport:
    """What the load did (or, in a dry run, would do) with one model's file.

    Attributes:
        label: ``app_label.ModelName``.
        file: the file name in the export.
        rows: rows in the file.
        keys: ``"kept"`` (primary keys as exported) or the strategy used for this model.
        inserted: rows inserted under their exported key.
        remapped: rows inserted under a new key.
        merged: rows matched to an existing row by natural key (not inserted).
        skipped: rows already present under the same key, left alone.
        updated: rows already present under the same key, overwritten.
        natural_key: the columns that identified a row for merge / skip / update.
        shared: foreign key columns declared shared (values outside the export kept).
    """

    label: str
    file: str
    rows: int
    keys: str = "kept"
    inserted: int = 0
    remapped: int = 0
    merged: int = 0
    skipped: int = 0
    updated: int = 0
    natural_key: list[str] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)

    def line(self) -> str:
        """One human line: ``gyro_example.Order: 250 rows: 250 remapped``."""
        parts = [
            f"{count} {name}"
            for name in ("inserted", "remapped", "merged", "skipped", "updated")
            if (count := getattr(self, name))
        ]
        return f"{self.label}: {self.rows} rows: {', '.join(parts) or 'nothing to do'}"


@dataclass
class LoadResult:
    """The outcome of :func:`load_export`.

    Attributes:
        directory: the export directory.
        target: the target, printable (password masked).
        fingerprint: the export's identity (see :attr:`Manifest.fingerprint`).
        dry_run: whether the load was rolled back on purpose.
        load_id: the :class:`~django_gyro.models.Load` row written (``None`` in a dry run or
            when the export had been loaded already).
        already_loaded: the earlier :class:`~django_gyro.models.Load` of the same export, when
            this run found one and therefore did nothing.
        models: one report per file, in export order.
        seconds: wall time of the whole load.
    """

    directory: Path
    target: str
    fingerprint: str
    dry_run: bool = False
    load_id: int | None = None
    already_loaded: int | None = None
    models: list[ModelLoadReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        """Rows read from the files."""
        return sum(report.rows for report in self.models)

    def summary(self) -> str:
        """One line for people."""
        if self.already_loaded is not None:
            return (
                f"{self.directory} was already loaded into {self.target} (load "
                f"{self.already_loaded}); nothing was inserted"
            )
        verb = "would load" if self.dry_run else "loaded"
        tail = " (dry run: rolled back)" if self.dry_run else ""
        return (
            f"{verb} {self.rows} rows of {len(self.models)} models from {self.directory} into "
            f"{self.target} in {self.seconds:.2f}s{tail}"
        )

    def as_dict(self) -> dict[str, Any]:
        """The result as plain data (what ``Load.summary`` stores)."""
        return {report.label: asdict(report) for report in self.models}
