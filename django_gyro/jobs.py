"""ImportJob: one model and the queryset of its rows to export (or load)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models

from django_gyro import registry
from django_gyro.exceptions import JobError, JobOrderError

__all__ = ["ImportJob", "load_jobs", "validate_jobs"]


class ImportJob:
    """One model of a slice and the queryset that selects its rows.

    Args:
        model: the Django model class.
        query: a QuerySet of ``model``; all rows (``model._default_manager.all()``) if omitted.
        exclude: exact field names (or their ``attname``, e.g. ``"tenant_id"``) to leave out of
            the file. The primary key cannot be excluded.
        unmasked: field names that look personal (``gyro.W002``) but are exported as they are,
            on purpose: the reviewed way out of ``GYRO_REQUIRE_MASKS``.

    Raises:
        TypeError: ``model`` is not a model class, ``query`` not a QuerySet, or ``exclude`` a str.
        JobError: the query's model is not ``model``, or ``exclude`` names an unknown field.
    """

    def __init__(
        self,
        model: type[models.Model],
        query: models.QuerySet[Any] | None = None,
        exclude: Iterable[str] = (),
        unmasked: Iterable[str] = (),
    ) -> None:
        if not (isinstance(model, type) and issubclass(model, models.Model)):
            raise TypeError(f"ImportJob model must be a Django model class, got {model!r}")
        if query is None:
            query = model._default_manager.all()
        if not isinstance(query, models.QuerySet):
            raise TypeError(
                f"ImportJob({model.__name__}) query must be a QuerySet, got {type(query).__name__}"
            )
        if query.model._meta.label_lower != model._meta.label_lower:
            raise JobError(
                f"ImportJob({model._meta.label}) got a query of '{query.model._meta.label}'; "
                f"the query must select rows of the job's model"
            )
        if isinstance(exclude, str):
            raise TypeError(
                f"ImportJob({model.__name__}) exclude must be a list of field names, not the "
                f"string {exclude!r}"
            )
        excluded = tuple(exclude)
        by_name = {}
        for field in model._meta.concrete_fields:
            by_name[field.name] = field
            by_name[field.attname] = field
        unknown = [name for name in excluded if name not in by_name]
        if unknown:
            raise JobError(
                f"ImportJob({model._meta.label}) exclude names unknown field(s) "
                f"{', '.join(map(repr, unknown))}; fields are "
                f"{', '.join(f.name for f in model._meta.concrete_fields)}"
            )
        pk = model._meta.pk
        if any(by_name[name] is pk for name in excluded):
            raise JobError(
                f"ImportJob({model._meta.label}) cannot exclude the primary key '{pk.name}'"
            )
        if isinstance(unmasked, str):
            raise TypeError(
                f"ImportJob({model.__name__}) unmasked must be a list of field names, not the "
                f"string {unmasked!r}"
            )
        self.unmasked = tuple(unmasked)
        unknown = [name for name in self.unmasked if name not in by_name]
        if unknown:
            raise JobError(
                f"ImportJob({model._meta.label}) unmasked names unknown field(s) "
                f"{', '.join(map(repr, unknown))}"
            )
        self.model = model
        self.query = query
        self.exclude = excluded
        self._excluded_fields = {by_name[name] for name in excluded}

    def __repr__(self) -> str:
        return f"ImportJob(model={self.model._meta.label})"

    @property
    def label(self) -> str:
        """The model label, e.g. ``gyro_example.Order``."""
        return self.model._meta.label

    def get_importer(self) -> Any:
        """The registered Importer of the job's model.

        Raises:
            JobError: the model has no registered Importer.
        """
        importer = registry.get_importer(self.model)
        if importer is None:
            raise JobError(
                f"ImportJob({self.label}): model '{self.label}' has no registered Importer; "
                f"declare `class {self.model.__name__}Importer(Importer): model = "
                f"{self.model.__name__}` in an importers module"
            )
        return importer

    def fields(self) -> list[models.Field[Any, Any]]:
        """The concrete fields written to the file, in model order (generated fields skipped)."""
        return [
            field
            for field in self.model._meta.concrete_fields
            if field not in self._excluded_fields and not getattr(field, "generated", False)
        ]


def validate_jobs(jobs: Iterable[ImportJob]) -> list[ImportJob]:
    """Check a list of jobs before anything runs, and return it as a list.

    Every job's model has an Importer, no model appears twice, and every job comes after the
    jobs of the models its Importer's ``Columns`` reference (a self-reference is not a cycle).

    Raises:
        JobError: not a job, a model without Importer, a model with two jobs.
        JobOrderError: a job precedes the job of a model it references; the message names both.
    """
    jobs = list(jobs)
    if not jobs:
        raise JobError("no jobs given: pass at least one ImportJob")
    position: dict[str, int] = {}
    for index, job in enumerate(jobs):
        if not isinstance(job, ImportJob):
            raise JobError(f"job #{index + 1} is {job!r}, not an ImportJob")
        job.get_importer()
        key = job.model._meta.label_lower
        if key in position:
            raise JobError(
                f"model '{job.label}' has two jobs (#{position[key] + 1} and #{index + 1}); "
                f"combine their querysets with | into one job"
            )
        position[key] = index
    for index, job in enumerate(jobs):
        for name, target in job.get_importer().declared_foreign_keys().items():
            key = target._meta.label_lower
            if key == job.model._meta.label_lower:
                continue  # self-reference: rows of one file, not an ordering constraint
            later = position.get(key)
            if later is not None and later > index:
                raise JobOrderError(
                    f"job #{index + 1} ImportJob({job.label}) references {target._meta.label} "
                    f"through '{name}', so it must come after job #{later + 1} "
                    f"ImportJob({jobs[later].label}); move it below that job"
                )
    return jobs


def load_jobs(spec: str) -> list[ImportJob]:
    """Load the jobs defined by a jobs file (``path/to/jobs.py``) or module (``app.jobs``).

    The module defines ``JOBS`` (a list of ImportJob) or a function ``jobs()`` returning one.

    Raises:
        JobError: the file is missing or fails to import, defines neither name, or what it
            defines is not a list of ImportJob.
    """
    import importlib
    import importlib.util
    import os
    from pathlib import Path

    if spec.endswith(".py") or os.sep in spec:
        path = Path(spec).expanduser()
        if not path.is_file():
            raise JobError(f"jobs file {spec} does not exist")
        module_spec = importlib.util.spec_from_file_location(f"gyro_jobs_{path.stem}", path)
        if module_spec is None or module_spec.loader is None:
            raise JobError(f"jobs file {spec} cannot be imported as Python")
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            raise JobError(f"jobs file {spec} failed: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            module = importlib.import_module(spec)
        except Exception as exc:
            raise JobError(
                f"jobs module {spec} cannot be imported: {type(exc).__name__}: {exc}"
            ) from exc
    if hasattr(module, "JOBS"):
        defined: Any = module.JOBS
    elif callable(getattr(module, "jobs", None)):
        try:
            defined = module.jobs()
        except JobError:
            raise
        except Exception as exc:
            raise JobError(f"{spec}: jobs() failed: {type(exc).__name__}: {exc}") from exc
    else:
        raise JobError(f"{spec} defines neither JOBS nor a jobs() function")
    if not isinstance(defined, list | tuple):
        raise JobError(
            f"{spec}: the jobs must be a list of ImportJob, got {type(defined).__name__}"
        )
    for index, job in enumerate(defined, start=1):
        if not isinstance(job, ImportJob):
            raise JobError(f"{spec}: job #{index} is {job!r}, not an ImportJob")
    return list(defined)
