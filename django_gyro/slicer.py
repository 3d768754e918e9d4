"""``DataSlicer``: the seed's entry point, ``DataSlicer.run(source=..., target=..., jobs=...)``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django_gyro.endpoints import File, Postgres
from django_gyro.endpoints import File as _File
from django_gyro.endpoints import Postgres as _Postgres
from django_gyro.exceptions import GyroError
from django_gyro.exporting import ExportResult, JobResult, export
from django_gyro.jobs import ImportJob

__all__ = ["DataSlicer"]


class DataSlicer:
    """Moves a slice of data between a PostgreSQL database and a directory of CSV files.

    ``DataSlicer.Postgres(url_or_alias)`` and ``DataSlicer.File(directory, overwrite=False)`` are
    the endpoints; :meth:`run` picks the operation from their kinds.
    """

    Postgres = Postgres
    File = File

    @staticmethod
    def run(
        source: _Postgres | _File,
        target: _Postgres | _File,
        jobs: Iterable[ImportJob] | None = None,
        *,
        progress: bool | None = None,
        progress_file: Any = None,
        strict: bool = False,
        closure: bool = True,
        on_job_done: Callable[[JobResult], None] | None = None,
        **options: Any,
    ) -> Any:
        """Run the jobs from ``source`` to ``target``.

        * ``Postgres -> File``: export (see :func:`django_gyro.exporting.export`); returns an
          :class:`~django_gyro.exporting.ExportResult`.
        * ``File -> Postgres`` and ``Postgres -> Postgres``: load, through the files; handled by
          ``django_gyro.loading`` (``options`` are passed on to it).

        Raises:
            GyroError: an unsupported combination of endpoints, or whatever the operation raises.
        """
        if isinstance(source, Postgres) and isinstance(target, File):
            if options:
                raise TypeError(
                    f"DataSlicer.run() export got unexpected option(s): {', '.join(options)}"
                )
            if jobs is None:
                raise GyroError("an export needs jobs=[ImportJob(...), ...]")
            result: ExportResult = export(
                source,
                target,
                jobs,
                progress=progress,
                progress_file=progress_file,
                strict=strict,
                closure=closure,
                on_job_done=on_job_done,
            )
            return result
        if isinstance(target, Postgres) and isinstance(source, File | Postgres):
            try:
                from django_gyro.loading import load_export  # type: ignore[import-not-found,unused-ignore]
            except ImportError as exc:
                raise GyroError(
                    "loading into PostgreSQL (File -> Postgres, Postgres -> Postgres) is not "
                    "available in this installation: django_gyro.loading is missing"
                ) from exc
            return load_export(
                source=source,
                target=target,
                jobs=jobs,
                progress=progress,
                progress_file=progress_file,
                strict=strict,
                closure=closure,
                on_job_done=on_job_done,
                **options,
            )
        raise GyroError(
            f"DataSlicer.run() cannot go from {source!r} to {target!r}: supported are "
            f"Postgres -> File (export), File -> Postgres and Postgres -> Postgres (load)"
        )
