"""Django Gyro: declarative Importers and consistent sliced PostgreSQL export.

Public API::

    from django_gyro import DataSlicer, Importer, ImportJob, limit_per, mask, per, plan_slice

The package's layout follows the stages of a slice: ``api`` (``DataSlicer`` and its endpoints),
``importers`` / ``registry`` / ``checks`` (the declarations), ``jobs`` and ``slicing`` (what to
export), ``export/`` (the snapshot written as files), ``manifest`` (the file format), ``load/``
(the reload and ``gyro_verify``), and ``backend/`` (connections, COPY, the system catalog).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any


def _version() -> str:
    # The add-on's own wheel (packaging/django-gyro) or the whole toolkit, whichever installed it.
    for distribution in ("django-gyro", "django-data-toolkit"):
        try:
            return version(distribution)
        except PackageNotFoundError:
            continue
    return "0.0.0"  # running from a source tree that was not installed


__version__ = _version()

__all__ = [
    "ClosureError",
    "DataSlicer",
    "DeclarationError",
    "DuplicateImporter",
    "ExportResult",
    "GyroError",
    "ImportJob",
    "Importer",
    "JobError",
    "JobOrderError",
    "JobResult",
    "LoadError",
    "LoadResult",
    "MaskError",
    "PlanError",
    "SourceError",
    "TargetError",
    "__version__",
    "limit_per",
    "mask",
    "per",
    "plan_slice",
]

if TYPE_CHECKING:
    from django_gyro import mask
    from django_gyro.api import DataSlicer
    from django_gyro.exceptions import (
        ClosureError,
        DeclarationError,
        DuplicateImporter,
        GyroError,
        JobError,
        JobOrderError,
        LoadError,
        SourceError,
        TargetError,
    )
    from django_gyro.export.results import ExportResult, JobResult
    from django_gyro.importers import Importer
    from django_gyro.jobs import ImportJob
    from django_gyro.load.results import LoadResult
    from django_gyro.mask import MaskError
    from django_gyro.planning import PlanError, per, plan_slice
    from django_gyro.slicing import limit_per

_LAZY = {
    "ClosureError": "django_gyro.exceptions",
    "DeclarationError": "django_gyro.exceptions",
    "DuplicateImporter": "django_gyro.exceptions",
    "GyroError": "django_gyro.exceptions",
    "JobError": "django_gyro.exceptions",
    "JobOrderError": "django_gyro.exceptions",
    "SourceError": "django_gyro.exceptions",
    "TargetError": "django_gyro.exceptions",
    "LoadError": "django_gyro.exceptions",
    "ExportResult": "django_gyro.export.results",
    "JobResult": "django_gyro.export.results",
    "Importer": "django_gyro.importers",
    "ImportJob": "django_gyro.jobs",
    "LoadResult": "django_gyro.load.results",
    "DataSlicer": "django_gyro.api",
    "limit_per": "django_gyro.slicing",
    "MaskError": "django_gyro.mask",
    "PlanError": "django_gyro.planning",
    "per": "django_gyro.planning",
    "plan_slice": "django_gyro.planning",
}


def __getattr__(name: str) -> Any:
    # Lazy, so that INSTALLED_APPS can import the package before the app registry is ready.
    if name == "mask":  # the module of the rules: ``mask.email()``
        from importlib import import_module

        return import_module("django_gyro.mask")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'django_gyro' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)
