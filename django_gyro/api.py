"""The public entry point: ``DataSlicer.run(source=..., target=..., jobs=...)`` and its endpoints.

``DataSlicer.Postgres(url_or_alias)`` is a PostgreSQL database and ``DataSlicer.File(directory)``
a directory of CSV files plus ``manifest.json``; :meth:`DataSlicer.run` picks the operation
(export or load) from their kinds.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from django.db.backends.base.base import BaseDatabaseWrapper

from django_gyro.backend.compression import check_compression
from django_gyro.backend.connection import describe, is_url, mask_url, open_connection
from django_gyro.exceptions import GyroError, SourceError, TargetError
from django_gyro.export.results import ExportResult, JobResult
from django_gyro.jobs import ImportJob
from django_gyro.manifest import MANIFEST_NAME

if TYPE_CHECKING:
    from django_gyro.load.results import LoadResult

__all__ = ["DataSlicer", "File", "Postgres"]


class Postgres:
    """A PostgreSQL database, named by a Django alias or a URL.

    Args:
        url_or_alias: ``"postgres://user:pass@host:5432/db"`` or an alias of
            ``settings.DATABASES`` such as ``"default"``.

    Raises:
        SourceError: not a non-empty string.
    """

    def __init__(self, url_or_alias: str = "default") -> None:
        if not isinstance(url_or_alias, str) or not url_or_alias.strip():
            raise SourceError(
                f"DataSlicer.Postgres() needs a database URL or a Django alias, got "
                f"{url_or_alias!r}"
            )
        self.url_or_alias = url_or_alias.strip()

    @property
    def is_url(self) -> bool:
        """Whether the endpoint was given as a URL (otherwise a Django alias)."""
        return is_url(self.url_or_alias)

    def connect(self) -> BaseDatabaseWrapper:
        """A new, unshared connection (see :func:`django_gyro.open_connection`)."""
        return open_connection(self.url_or_alias)

    def __str__(self) -> str:
        return describe(self.url_or_alias)

    def __repr__(self) -> str:
        if self.is_url:
            return f"DataSlicer.Postgres({mask_url(self.url_or_alias)!r})"
        return f"DataSlicer.Postgres({self.url_or_alias!r})"


class File:
    """A directory of CSV files plus ``manifest.json``.

    Args:
        directory: where the files go (created if missing) or come from.
        overwrite: replace files of a previous export; without it an export refuses to start
            when any file it would write already exists.
        compress: ``None`` (plain ``.csv``), ``"gzip"`` (``.csv.gz``) or ``"zstd"``
            (``.csv.zst``, needs the ``zstandard`` package): how an export stores its files.
            A load reads whatever the manifest records, whatever this says.

    Raises:
        TargetError: not a path, or an unknown (or unavailable) compression.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        overwrite: bool = False,
        compress: str | None = None,
    ) -> None:
        if not isinstance(directory, str | os.PathLike) or not str(directory):
            raise TargetError(f"DataSlicer.File() needs a directory path, got {directory!r}")
        self.path = Path(directory).expanduser()
        self.overwrite = bool(overwrite)
        self.compress = check_compression(compress)

    @property
    def manifest_path(self) -> Path:
        """``<directory>/manifest.json``."""
        return self.path / MANIFEST_NAME

    def prepare(self, file_names: list[str]) -> None:
        """Make sure the export may write ``file_names`` and the manifest; create the directory.

        Raises:
            TargetError: the path is not a directory, is not writable, or (without overwrite)
                a file of the run already exists.
        """
        if self.path.exists() and not self.path.is_dir():
            raise TargetError(f"export target {self.path} exists and is not a directory")
        if not self.overwrite:
            existing = [
                name for name in [*file_names, MANIFEST_NAME] if (self.path / name).exists()
            ]
            if existing:
                raise TargetError(
                    f"export target {self.path} already has {', '.join(existing)}; pass "
                    f"overwrite=True (--overwrite) to replace them"
                )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TargetError(f"cannot create export directory {self.path}: {exc}") from exc
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise TargetError(f"export directory {self.path} is not writable")

    def __str__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        extra = f", compress={self.compress!r}" if self.compress else ""
        return f"DataSlicer.File({str(self.path)!r}, overwrite={self.overwrite}{extra})"


# DataSlicer.Postgres / DataSlicer.File are class attributes; annotations use these names.
_Postgres = Postgres
_File = File


class DataSlicer:
    """Moves a slice of data between a PostgreSQL database and a directory of CSV files.

    ``DataSlicer.Postgres(url_or_alias)`` and ``DataSlicer.File(directory, overwrite=False)`` are
    the endpoints; :meth:`run` picks the operation from their kinds.
    """

    Postgres = Postgres
    File = File

    @overload
    @staticmethod
    def run(
        source: _Postgres,
        target: _File,
        jobs: Iterable[ImportJob],
        *,
        progress: bool | None = None,
        progress_file: Any = None,
        verbosity: int = 1,
        strict: bool = False,
        closure: bool = True,
        on_job_done: Callable[[JobResult], None] | None = None,
        mask_salt: str | None = None,
        workers: int = 1,
    ) -> ExportResult: ...

    @overload
    @staticmethod
    def run(
        source: _Postgres | _File,
        target: _Postgres,
        jobs: Iterable[ImportJob] | None = None,
        *,
        progress: bool | None = None,
        progress_file: Any = None,
        verbosity: int = 1,
        on_conflict: str | Mapping[Any, str] = "error",
        natural_keys: Mapping[Any, Sequence[str]] | None = None,
        shared: Iterable[str] = (),
        dry_run: bool = False,
        force: bool = False,
        directory: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
        strict: bool = False,
        closure: bool = True,
        on_job_done: Callable[[JobResult], None] | None = None,
    ) -> LoadResult: ...

    @staticmethod
    def run(
        source: _Postgres | _File,
        target: _Postgres | _File,
        jobs: Iterable[ImportJob] | None = None,
        *,
        progress: bool | None = None,
        progress_file: Any = None,
        verbosity: int = 1,
        strict: bool = False,
        closure: bool = True,
        on_job_done: Callable[[JobResult], None] | None = None,
        mask_salt: str | None = None,
        workers: int = 1,
        **options: Any,
    ) -> ExportResult | LoadResult:
        """Run the jobs from ``source`` to ``target``.

        * ``Postgres -> File``: export (see :func:`django_gyro.export.export.export`); returns an
          :class:`~django_gyro.export.results.ExportResult`. ``workers=N`` runs the jobs on N
          connections that share one snapshot (same files as ``workers=1``).
        * ``File -> Postgres`` and ``Postgres -> Postgres``: load, through the files (see
          :func:`django_gyro.load.loader.load_export`, which takes the keyword ``options``);
          returns a :class:`~django_gyro.load.results.LoadResult`.

        Before anything touches a database or a file, the jobs' (or the export's) Importers are
        checked with Gyro's system checks, and the jobs are ordered parents first; at
        ``verbosity`` 2 the order is written to ``progress_file`` (default stderr).

        ``mask_salt`` is the export's secret for the Importers' mask rules (default:
        ``GYRO_MASK_SALT``).

        Raises:
            GyroError: an unsupported combination of endpoints, failing checks
                (``DeclarationError``, with the check ids), or whatever the operation raises.
        """
        stream = progress_file if progress_file is not None else sys.stderr

        def write(line: str) -> None:
            stream.write(line + "\n")

        log = write if verbosity >= 2 else None
        if isinstance(source, Postgres) and isinstance(target, File):
            if options:
                raise TypeError(
                    f"DataSlicer.run() export got unexpected option(s): {', '.join(options)}"
                )
            if jobs is None:
                raise GyroError("an export needs jobs=[ImportJob(...), ...]")
            from django_gyro.export.export import export

            return export(
                source,
                target,
                jobs,
                progress=False if verbosity < 1 else progress,
                progress_file=progress_file,
                strict=strict,
                closure=closure,
                on_job_done=on_job_done,
                mask_salt=mask_salt,
                log=log,
                workers=workers,
            )
        if workers != 1:
            raise TypeError("DataSlicer.run(workers=...) applies to an export (Postgres -> File)")
        if isinstance(target, Postgres) and isinstance(source, File | Postgres):
            if mask_salt is not None:
                raise TypeError("DataSlicer.run(mask_salt=...) applies to an export only")
            from django_gyro.load.loader import load_export

            export_options: dict[str, Any] = {}
            if isinstance(source, Postgres):
                export_options = {
                    "strict": strict,
                    "closure": closure,
                    "on_job_done": on_job_done,
                }
            elif strict or not closure or on_job_done is not None:
                raise GyroError(
                    "strict, closure and on_job_done are export options: they only apply when "
                    "the source is DataSlicer.Postgres(...)"
                )
            return load_export(
                source=source,
                target=target,
                jobs=jobs,
                progress=False if verbosity < 1 else progress,
                progress_file=progress_file,
                log=log,
                **options,
                **export_options,
            )
        raise GyroError(
            f"DataSlicer.run() cannot go from {source!r} to {target!r}: supported are "
            f"Postgres -> File (export), File -> Postgres and Postgres -> Postgres (load)"
        )
