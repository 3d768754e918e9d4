"""The two kinds of endpoint of ``DataSlicer.run``: a PostgreSQL database and a directory."""

from __future__ import annotations

import os
from pathlib import Path

from django.db.backends.base.base import BaseDatabaseWrapper

from django_gyro import db
from django_gyro.exceptions import SourceError, TargetError

__all__ = ["File", "Postgres"]

#: Name of the manifest written last into an export directory.
MANIFEST_NAME = "manifest.json"


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
        return db.is_url(self.url_or_alias)

    def connect(self) -> BaseDatabaseWrapper:
        """A new, unshared connection (see :func:`django_gyro.db.open_connection`)."""
        return db.open_connection(self.url_or_alias)

    def __str__(self) -> str:
        return db.describe(self.url_or_alias)

    def __repr__(self) -> str:
        if self.is_url:
            return f"DataSlicer.Postgres({db.mask_url(self.url_or_alias)!r})"
        return f"DataSlicer.Postgres({self.url_or_alias!r})"


class File:
    """A directory of CSV files plus ``manifest.json``.

    Args:
        directory: where the files go (created if missing) or come from.
        overwrite: replace files of a previous export; without it an export refuses to start
            when any file it would write already exists.
    """

    def __init__(self, directory: str | os.PathLike[str], overwrite: bool = False) -> None:
        if not isinstance(directory, str | os.PathLike) or not str(directory):
            raise TargetError(f"DataSlicer.File() needs a directory path, got {directory!r}")
        self.path = Path(directory).expanduser()
        self.overwrite = bool(overwrite)

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
        return f"DataSlicer.File({str(self.path)!r}, overwrite={self.overwrite})"
