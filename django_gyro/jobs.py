"""ImportJob: one model and the queryset of its rows to export (or load)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db import models

from django_gyro import registry
from django_gyro.exceptions import JobError, JobOrderError

__all__ = ["ImportJob", "load_jobs", "order_jobs", "validate_jobs"]


class ImportJob:
    """One model of a slice and the queryset that selects its rows.

    Args:
        model: the Django model class.
        query: a QuerySet of ``model``; all rows (``model._default_manager.all()``) if omitted.
        exclude: exact field names (or their ``attname``, e.g. ``"tenant_id"``) to leave out of
            the file. The primary key cannot be excluded.

    Raises:
        TypeError: ``model`` is not a model class, ``query`` not a QuerySet, or ``exclude`` a str.
        JobError: the query's model is not ``model``, or ``exclude`` names an unknown field.
    """

    def __init__(
        self,
        model: type[models.Model],
        query: models.QuerySet[Any] | None = None,
        exclude: Iterable[str] = (),
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


def validate_jobs(
    jobs: Iterable[ImportJob], log: Callable[[str], None] | None = None
) -> list[ImportJob]:
    """Check a list of jobs before anything runs, and return it ordered parents first.

    Every job's model has an Importer that passes Gyro's system checks, no model appears
    twice, no two jobs write the same file (a proxy model and its concrete model, two models on
    one table). The jobs are then ordered parents first over their Importers' ``Columns`` (see
    :func:`order_jobs`).

    Args:
        jobs: the jobs, in any order.
        log: called with one line saying how the jobs were ordered (verbosity 2).

    Raises:
        JobError: not a job, a model without Importer, a model with two jobs, two jobs with one
            file, an Importer that fails the system checks (``DeclarationError``).
        JobOrderError: the ``Columns`` of some jobs form a cycle; the message names it.
    """
    jobs = list(jobs)
    if not jobs:
        raise JobError("no jobs given: pass at least one ImportJob")
    position: dict[str, int] = {}
    files: dict[str, int] = {}
    for index, job in enumerate(jobs):
        if not isinstance(job, ImportJob):
            raise JobError(f"job #{index + 1} is {job!r}, not an ImportJob")
        importer = job.get_importer()
        key = job.model._meta.label_lower
        if key in position:
            raise JobError(
                f"model '{job.label}' has two jobs (#{position[key] + 1} and #{index + 1}); "
                f"combine their querysets with | into one job"
            )
        position[key] = index
        name = importer.get_file_name()
        if name in files:
            other = jobs[files[name]]
            raise JobError(
                f"job #{files[name] + 1} ImportJob({other.label}) and job #{index + 1} "
                f"ImportJob({job.label}) would both write {name} (a proxy model and its "
                f"concrete model, or two models on one table); keep one of them"
            )
        files[name] = index
    from django_gyro.checks import raise_for_models

    raise_for_models([job.model for job in jobs])
    ordered = order_jobs(jobs)
    if log is not None:
        labels = ", ".join(f"#{n} {job.label}" for n, job in enumerate(ordered, start=1))
        if ordered == jobs:
            log(f"jobs already parent-first: {labels}")
        else:
            log(f"jobs ordered parent-first (Importer Columns): {labels}")
    return ordered


def _parents(job: ImportJob, by_label: dict[str, ImportJob]) -> dict[str, str]:
    """``{parent label: field name}`` of the jobs ``job``'s Columns reference (not itself)."""
    parents: dict[str, str] = {}
    for name, target in job.get_importer().declared_foreign_keys().items():
        label = target._meta.label_lower
        if label != job.model._meta.label_lower and label in by_label:
            parents.setdefault(label, name)
    return parents


def order_jobs(jobs: list[ImportJob]) -> list[ImportJob]:
    """``jobs`` parents first: a stable topological sort over their Importers' ``Columns``.

    The given order is kept wherever it is already valid: each step takes the first job whose
    referenced jobs have all been taken. A self-reference is not an ordering constraint.

    Raises:
        JobOrderError: a cycle among ``Columns``; the message names it and how to break it.
    """
    by_label = {job.model._meta.label_lower: job for job in jobs}
    parents = {label: _parents(job, by_label) for label, job in by_label.items()}
    taken: set[str] = set()
    ordered: list[ImportJob] = []
    pending = list(jobs)
    while pending:
        ready = next(
            (job for job in pending if set(parents[job.model._meta.label_lower]) <= taken), None
        )
        if ready is None:
            raise JobOrderError(_cycle_message(pending, parents, by_label))
        pending.remove(ready)
        taken.add(ready.model._meta.label_lower)
        ordered.append(ready)
    return ordered


def _cycle_message(
    pending: list[ImportJob], parents: dict[str, dict[str, str]], by_label: dict[str, ImportJob]
) -> str:
    left = {job.model._meta.label_lower for job in pending}
    path = [pending[0].model._meta.label_lower]
    while True:
        step = next(p for p in parents[path[-1]] if p in left)
        if step in path:
            cycle = [*path[path.index(step) :], step]
            break
        path.append(step)
    edges = []
    nullable = []
    for child, parent in zip(cycle, cycle[1:], strict=False):
        job = by_label[child]
        name = parents[child][parent]
        edges.append(f"{job.label}.{name} -> {by_label[parent].label}")
        field = job.model._meta.get_field(name)
        if getattr(field, "null", False):
            nullable.append(f"{job.get_importer().__name__}.Columns.{name}")
    fix = (
        f"leave a nullable foreign key out of its Importer's Columns, e.g. {nullable[0]}"
        if nullable
        else "leave one of these foreign keys out of its Importer's Columns (none is nullable, "
        "so the rows can only be loaded in one transaction with deferred constraints)"
    )
    return (
        f"the jobs' Importer Columns form a cycle, so no job order puts parents first: "
        f"{'; '.join(edges)}; {fix}"
    )


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
