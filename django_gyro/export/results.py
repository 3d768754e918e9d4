"""What an export returns: one :class:`JobResult` per job and the closure report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ClosureIssue", "ExportResult", "JobResult"]


@dataclass
class JobResult:
    """What one job wrote."""

    index: int
    model: str
    file: str
    path: Path
    rows: int
    bytes: int
    seconds: float
    sha256: str


@dataclass
class ClosureIssue:
    """Exported rows whose foreign key points to a parent row that is not in the export.

    Attributes:
        job: label of the model whose rows hold the foreign key.
        column: the foreign key column.
        parent: label of the referenced model.
        parent_exported: whether the parent model has a job in the run at all.
        rows: how many exported rows hold such a value.
        keys: how many distinct missing parent keys.
        examples: a few of the missing keys (as text).
    """

    job: str
    column: str
    parent: str
    parent_exported: bool
    rows: int
    keys: int
    examples: list[str]

    def __str__(self) -> str:
        where = "the parent file" if self.parent_exported else "the export (no job)"
        return (
            f"{self.job}.{self.column}: {self.rows} row(s) reference {self.keys} "
            f"{self.parent} key(s) absent from {where}, e.g. {', '.join(self.examples)}"
        )


@dataclass
class ExportResult:
    """The outcome of an export: one :class:`JobResult` per job, the closure report, timings."""

    directory: Path
    manifest: Path
    jobs: list[JobResult]
    closure: list[ClosureIssue] = field(default_factory=list)
    seconds: float = 0.0

    def __iter__(self) -> Any:
        return iter(self.jobs)

    def table(self) -> str:
        """The per-job results as an aligned text table."""
        header = ("#", "model", "rows", "bytes", "seconds", "file")
        rows = [
            (
                str(r.index),
                r.model,
                f"{r.rows:,}",
                f"{r.bytes:,}",
                f"{r.seconds:.2f}",
                str(r.path),
            )
            for r in self.jobs
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        right = {0, 2, 3, 4}

        def fmt(row: Sequence[str]) -> str:
            cells = [
                cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                for i, cell in enumerate(row)
            ]
            return "  ".join(cells).rstrip()

        lines = [fmt(header), fmt(["-" * w for w in widths]), *(fmt(row) for row in rows)]
        return "\n".join(lines)

    def closure_report(self) -> str:
        """The closure issues, one per line, or a line saying there are none."""
        if not self.closure:
            return "closure: every exported foreign key points to an exported row"
        return "\n".join(
            ["closure: foreign keys pointing outside the export:"]
            + [f"  {issue}" for issue in self.closure]
        )
