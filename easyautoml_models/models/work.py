"""The work queue: training and solving jobs handed to exactly one server each.

Each :class:`Work` keeps the original's boolean flags; the database enforces exactly one mode
(``is_work_training`` / ``is_work_solving``) and exactly one status flag:

==============  ==============================================  =================================
status          flag that is true                               how an item gets there
==============  ==============================================  =================================
``waiting``     ``is_work_status_wait_for_server_start``        created; :meth:`Work.requeue`
``processing``  ``is_work_status_server_processing``            :meth:`WorkQuerySet.claim_next`
``stale``       ``is_work_status_server_processing``, and no    the server stopped calling
                heartbeat for ``EASYAUTOML_WORK_LEASE_TIMEOUT``  :meth:`Work.heartbeat`
``finished``    ``is_work_status_server_finished``              :meth:`Work.finish`
``error``       ``is_work_status_server_error``                 :meth:`Work.fail`, or given up by
                                                                :meth:`WorkQuerySet.requeue_stale`
``cancelled``   ``is_work_status_cancelled``                    :meth:`Work.cancel` (waiting only)
==============  ==============================================  =================================

Every transition is one conditional ``UPDATE`` (``... WHERE <current status>``), so two servers
can never both move the same item; the loser gets
:class:`~easyautoml_models.exceptions.WorkStateError`.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from easyautoml_models.conf import app_settings
from easyautoml_models.exceptions import InvalidValue, WorkStateError
from easyautoml_models.models._common import D, ProtectedFieldsMixin, exactly_one_true
from easyautoml_models.models.infrastructure import Server

__all__ = [
    "MODE_FLAGS",
    "QUEUE_FIELDS",
    "STATUS_FLAGS",
    "WORK_STATUSES",
    "Work",
    "WorkManager",
    "WorkQuerySet",
    "WorkStatus",
]


class WorkStatus(models.TextChoices):
    """The readable status of a work item, derived from its flags (see the module docstring)."""

    WAITING = "waiting", "Waiting for a server"
    PROCESSING = "processing", "Processing"
    STALE = "stale", "Stale (no heartbeat)"
    FINISHED = "finished", "Finished"
    ERROR = "error", "Error"
    CANCELLED = "cancelled", "Cancelled"


#: ``(value, label)`` pairs of every status, for admin filters and choices.
WORK_STATUSES: list[tuple[str, str]] = list(WorkStatus.choices)

#: The status flags; exactly one is true (a database CHECK). STALE has no flag of its own.
STATUS_FLAGS: dict[str, str] = {
    WorkStatus.WAITING: "is_work_status_wait_for_server_start",
    WorkStatus.PROCESSING: "is_work_status_server_processing",
    WorkStatus.FINISHED: "is_work_status_server_finished",
    WorkStatus.ERROR: "is_work_status_server_error",
    WorkStatus.CANCELLED: "is_work_status_cancelled",
}
#: The mode flags; exactly one is true (a database CHECK).
MODE_FLAGS = ("is_work_training", "is_work_solving")
#: Columns only the queue transitions write; ``Work.save()`` leaves them alone on updates.
QUEUE_FIELDS = frozenset(
    {
        *STATUS_FLAGS.values(),
        "server",
        "work_started_by_server_name",
        "work_started_at_date_time",
        "work_heartbeat_date_time",
        "work_finished_at_date_time",
        "work_finished_duration_seconds",
        "work_finished_by_server_name",
        "work_attempt_count",
    }
)


#: Compiled claim statements, by (alias, mode, model); see _claim_skip_locked.
_CLAIM_STATEMENTS: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def _status_changes(status: str) -> dict[str, bool]:
    """Field values that put an item in ``status`` (its flag true, every other flag false)."""
    return {flag: name == status for name, flag in STATUS_FLAGS.items()}


def _lease_timeout(timeout: float | None) -> float:
    value = app_settings.WORK_LEASE_TIMEOUT if timeout is None else timeout
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"a lease timeout is a positive number of seconds, not {value!r}")
    return float(value)


def _seconds(start: datetime | None, end: datetime) -> Decimal | None:
    if start is None:
        return None
    return Decimal(str(round((end - start).total_seconds(), 6)))


class WorkQuerySet(models.QuerySet["Work"]):
    """Queue queries (``waiting()``, ``stale()``, ...) and the atomic claim."""

    def waiting(self) -> WorkQuerySet:
        """Items waiting for a server."""
        return self.filter(is_work_status_wait_for_server_start=True)

    def processing(self) -> WorkQuerySet:
        """Items a server holds (stale ones included)."""
        return self.filter(is_work_status_server_processing=True)

    def finished(self) -> WorkQuerySet:
        """Items finished successfully."""
        return self.filter(is_work_status_server_finished=True)

    def errored(self) -> WorkQuerySet:
        """Items that failed."""
        return self.filter(is_work_status_server_error=True)

    def cancelled(self) -> WorkQuerySet:
        """Items cancelled before a server took them."""
        return self.filter(is_work_status_cancelled=True)

    def training(self) -> WorkQuerySet:
        """Training items."""
        return self.filter(is_work_training=True)

    def solving(self) -> WorkQuerySet:
        """Solving items."""
        return self.filter(is_work_solving=True)

    @staticmethod
    def _stale_q(timeout: float | None) -> Q:
        cutoff = timezone.now() - timedelta(seconds=_lease_timeout(timeout))
        return Q(is_work_status_server_processing=True) & (
            Q(work_heartbeat_date_time__lt=cutoff)
            | Q(work_heartbeat_date_time__isnull=True, work_started_at_date_time__lt=cutoff)
            | Q(work_heartbeat_date_time__isnull=True, work_started_at_date_time__isnull=True)
        )

    def stale(self, timeout: float | None = None) -> WorkQuerySet:
        """Processing items without a heartbeat for ``timeout`` seconds.

        Args:
            timeout: seconds; default ``EASYAUTOML_WORK_LEASE_TIMEOUT``.
        """
        return self.filter(self._stale_q(timeout))

    def with_status(self, timeout: float | None = None) -> WorkQuerySet:
        """Annotate ``work_status`` (a :class:`WorkStatus` value) on every item."""
        whens = [When(self._stale_q(timeout), then=Value(WorkStatus.STALE.value))]
        whens += [
            When(Q(**{flag: True}), then=Value(str(name))) for name, flag in STATUS_FLAGS.items()
        ]
        status: Any = Case(*whens, default=Value(""), output_field=models.CharField())
        return self.annotate(work_status=status)

    def with_status_in(self, *statuses: str, timeout: float | None = None) -> WorkQuerySet:
        """Items whose derived status is one of ``statuses`` (e.g. for an admin filter)."""
        unknown = set(statuses) - set(WorkStatus.values)
        if unknown:
            raise ValueError(
                f"unknown work status {sorted(unknown)}; expected {WorkStatus.values}"
            )
        lookup: dict[str, Any] = {"work_status__in": statuses}
        return self.with_status(timeout).filter(**lookup)

    def claim_next(self, server: Server, *, mode: str | None = None) -> Work | None:
        """Hand the oldest waiting item to ``server`` and return it, or None when none waits.

        Under any concurrency each item goes to exactly one caller: PostgreSQL locks the row with
        ``SELECT ... FOR UPDATE SKIP LOCKED`` (other callers skip it), other databases use a
        conditional ``UPDATE ... WHERE waiting`` and retry on the next item when they lose.

        Args:
            server: the claiming server (saved).
            mode: ``"training"`` or ``"solving"`` to claim only that kind of item.
        """
        if not isinstance(server, Server) or server.pk is None:
            raise ValueError(f"claim_next() needs a saved Server, not {server!r}")
        if mode not in (None, "training", "solving"):
            raise ValueError(f"mode must be 'training', 'solving' or None, not {mode!r}")
        using = self.db
        if connections[using].vendor == "postgresql":
            # The compiled statement is reused only for the plain queue (no caller filters).
            plain = not self.query.has_filters()
            cache_key = (using, mode, self.model) if plain else None
            return self._claim_skip_locked(mode, server, cache_key)
        queue = self._queue(mode)
        while True:  # each lost race means another caller took an item: this ends
            item = queue.first()
            if item is None:
                return None
            changes = self._claim_changes(server)
            won = (
                self.model._base_manager.using(using)
                .filter(pk=item.pk, is_work_status_wait_for_server_start=True)
                .update(**changes)
            )
            if won:
                item._apply(changes)
                return item

    def _queue(self, mode: str | None) -> WorkQuerySet:
        """Waiting items of ``mode`` (None: both), oldest first."""
        queue = self.waiting()
        if mode == "training":
            queue = queue.training()
        elif mode == "solving":
            queue = queue.solving()
        return queue.order_by("creation_date_time", "pk")

    def _claim_skip_locked(
        self, mode: str | None, server: Server, cache_key: tuple[Any, ...] | None
    ) -> Work | None:
        """One statement: ``UPDATE ... WHERE pk = (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``.

        The subquery is compiled by Django, the lock clause comes from the backend, columns are
        quoted by the backend and values are parameters. For the plain queue (no filters of the
        caller) the statement is compiled once per database and mode, and reused.
        """
        using = self.db
        connection = connections[using]
        changes = self._claim_changes(server)
        statement = _CLAIM_STATEMENTS.get(cache_key) if cache_key else None
        if statement is None:
            statement = self._claim_statement(self._queue(mode), list(changes))
            if cache_key:
                _CLAIM_STATEMENTS[cache_key] = statement
        sql, pick_params, prepare, load = statement
        params = [prep(changes[name], connection) for name, prep in prepare]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, *pick_params])
            row = cursor.fetchone()
        if row is None:
            return None
        return load(row, connection)

    def _claim_statement(self, queue: WorkQuerySet, names: list[str]) -> tuple[Any, ...]:
        """Compile the claim: SQL, subquery parameters, value preparers and the row loader."""
        using = self.db
        connection = connections[using]
        qn = connection.ops.quote_name
        opts = self.model._meta
        model = self.model
        assignments, prepare = [], []
        for name in names:
            field: Any = opts.get_field(name)
            assignments.append(f"{qn(str(field.column))} = %s")

            def prep(value: Any, connection: Any, field: Any = field) -> Any:
                if field.is_relation:
                    value = value.pk if value is not None else None
                return field.get_db_prep_save(value, connection)

            prepare.append((name, prep))
        pick = queue.values_list("pk", flat=True)[:1].query.get_compiler(using=using)
        pick_sql, pick_params = pick.as_sql()
        lock = connection.ops.for_update_sql(skip_locked=True)
        fields = list(opts.concrete_fields)
        waiting = qn(str(opts.get_field("is_work_status_wait_for_server_start").column))
        pk = qn(str(opts.pk.column))
        sql = (
            f"UPDATE {qn(opts.db_table)} SET {', '.join(assignments)} "
            f"WHERE {pk} = ({pick_sql} {lock}) AND {waiting} "
            f"RETURNING {', '.join(qn(field.column) for field in fields)}"
        )
        converters = []
        for field in fields:
            expression: Any = field.get_col(opts.db_table)
            found = connection.ops.get_db_converters(expression)
            found += expression.get_db_converters(connection)
            converters.append((found, expression))
        attnames = [field.attname for field in fields]

        def load(row: Any, connection: Any) -> Work:
            values = []
            for value, (found, expression) in zip(row, converters, strict=True):
                for converter in found:
                    value = converter(value, expression, connection)
                values.append(value)
            return model.from_db(using, attnames, values)

        return sql, list(pick_params), prepare, load

    @staticmethod
    def _claim_changes(server: Server) -> dict[str, Any]:
        now = timezone.now()
        return {
            **_status_changes(WorkStatus.PROCESSING),
            "server": server,
            "work_started_by_server_name": server.server_name[:45],
            "work_started_at_date_time": now,
            "work_heartbeat_date_time": now,
            "work_finished_at_date_time": None,
            "work_finished_duration_seconds": None,
        }

    def requeue_stale(self, timeout: float | None = None) -> int:
        """Put stale items back in the queue; return how many were requeued.

        Each requeued item's ``work_attempt_count`` grows by one. An item on its
        ``EASYAUTOML_WORK_MAX_ATTEMPTS``-th claim is failed instead (status ``error``,
        ``text_error["reason"] == "max_attempts"``) and not counted.

        Args:
            timeout: seconds without heartbeat; default ``EASYAUTOML_WORK_LEASE_TIMEOUT``.
        """
        max_attempts = int(app_settings.WORK_MAX_ATTEMPTS)
        now = timezone.now()
        with transaction.atomic(using=self.db):
            stale = self.stale(timeout)
            stale.filter(work_attempt_count__gte=max_attempts - 1).update(
                **_status_changes(WorkStatus.ERROR),
                work_attempt_count=F("work_attempt_count") + 1,
                work_finished_at_date_time=now,
                text_error={
                    "reason": "max_attempts",
                    "message": f"no heartbeat from the server; gave up after {max_attempts} "
                    "attempts",
                    "at": now.isoformat(),
                },
            )
            return self.stale(timeout).update(
                **_status_changes(WorkStatus.WAITING),
                work_attempt_count=F("work_attempt_count") + 1,
                server=None,
                work_started_at_date_time=None,
                work_heartbeat_date_time=None,
            )


class WorkManager(models.Manager.from_queryset(WorkQuerySet)):  # type: ignore[misc]
    """``Work.objects``: the queue."""


class Work(ProtectedFieldsMixin, models.Model):
    """One training or solving job for a machine, processed by one server.

    See the module docstring for the statuses and transitions. Creating an item the original way
    still works::

        Work.objects.create(machine=m, is_work_training=True,
                            is_work_status_wait_for_server_start=True)
    """

    creation_date_time = models.DateTimeField(auto_now_add=True)
    machine = models.ForeignKey(
        "easyautoml_models.Machine", on_delete=models.CASCADE, related_name="Work"
    )
    server = models.ForeignKey(Server, on_delete=models.SET_NULL, null=True, blank=True)
    is_work_training = models.BooleanField(null=True)
    is_work_solving = models.BooleanField(null=True)
    is_work_status_wait_for_server_start = models.BooleanField(null=True)
    is_work_status_server_processing = models.BooleanField(null=True)
    is_work_status_server_finished = models.BooleanField(null=True)
    is_work_status_server_error = models.BooleanField(null=True)
    is_work_status_cancelled = models.BooleanField(default=False)
    work_started_at_date_time = models.DateTimeField(null=True, blank=True)
    work_started_by_server_name = models.CharField(max_length=45, default="")
    work_finished_by_server_name = models.CharField(max_length=45, default="")
    work_started_count_of_line_to_process = models.IntegerField(null=True)
    work_finished_count_of_line_to_process = models.IntegerField(null=True)
    work_duration_estimation_seconds = D(null=True)
    work_finished_duration_seconds = D(null=True)
    learning_delay_elapsed_seconds = D(null=True)
    solving_delay_elapsed_seconds = D(null=True)
    work_finished_at_date_time = models.DateTimeField(null=True)
    text_error = models.JSONField(default=dict)
    text_warning = models.JSONField(default=dict)
    work_attempt_count = models.PositiveIntegerField(
        default=0, help_text="Times the item went back to the queue after an unfinished attempt"
    )
    work_heartbeat_date_time = models.DateTimeField(null=True, blank=True)

    objects = WorkManager()
    protected_fields = QUEUE_FIELDS

    class Meta:
        db_table = "Work"
        verbose_name = "work item"
        indexes = [
            models.Index(fields=["creation_date_time"], name="work_creation_idx"),
            models.Index(fields=["machine"], name="work_machine_idx"),
            models.Index(fields=["server"], name="work_server_idx"),
            models.Index(
                fields=["creation_date_time", "id"],
                condition=Q(is_work_status_wait_for_server_start=True),
                name="work_waiting_idx",
            ),
            models.Index(
                fields=["work_heartbeat_date_time"],
                condition=Q(is_work_status_server_processing=True),
                name="work_processing_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=exactly_one_true(*MODE_FLAGS), name="work_one_mode"),
            models.CheckConstraint(
                condition=exactly_one_true(*STATUS_FLAGS.values()), name="work_one_status"
            ),
        ]

    def __str__(self) -> str:
        mode = "training" if self.is_work_training else "solving"
        return f"{mode} work {self.pk} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save after checking that exactly one mode and one status flag are set.

        For an existing item the queue state (:data:`QUEUE_FIELDS`: status flags, server, claim
        and finish times, attempts) is left as stored: it changes only through the transitions,
        so saving a stale copy (an edit form, say) cannot undo a claim made meanwhile.

        EasyAutoML-Core's code moves an item by setting its status flags and calling ``save()``.
        When the caller changed the status flags since the item was loaded (or last saved),
        that change goes through the matching transition, with its checks: waiting ->
        processing (a claim by ``self.server``), processing -> finished / error
        (:meth:`finish` / :meth:`fail`), error or stale -> waiting (:meth:`requeue`),
        waiting -> cancelled (:meth:`cancel`).

        Raises:
            InvalidValue: (a ``ValidationError`` and a ``ValueError``) not exactly one mode or
                not exactly one status flag is True.
            WorkStateError: the flags ask for a change the queue does not allow from the stored
                status (nothing is written).
            ValueError: ``update_fields`` names a queue-state field.
        """
        self._check_flags()
        with transaction.atomic(using=kwargs.get("using") or self._db()):
            if not self._state.adding:
                update_fields = kwargs.get("update_fields")
                if update_fields is None:
                    self._apply_legacy_status_change()  # the flip and the save: both or neither
                    kwargs["update_fields"] = [
                        field.name
                        for field in self._meta.concrete_fields
                        if not field.primary_key and field.name not in QUEUE_FIELDS
                    ]
                else:
                    # update_or_create() names every field with a pre_save: skip unchanged ones.
                    keep, changed = self._split_update_fields(update_fields)
                    if changed:
                        raise ValueError(
                            f"{changed} change only through the queue methods (claim_next, "
                            "heartbeat, finish, fail, requeue, cancel)"
                        )
                    if not keep:
                        return
                    kwargs["update_fields"] = keep
            super().save(*args, **kwargs)
        self._remember_status()

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> Work:
        instance = super().from_db(db, field_names, values)
        instance._remember_status()
        return instance

    def _flag_status(self) -> str:
        return next((name for name, flag in STATUS_FLAGS.items() if getattr(self, flag)), "")

    def _remember_status(self) -> None:
        """Note the status flags as loaded or saved: a later change of them is a legacy flip."""
        if all(flag in self.__dict__ for flag in STATUS_FLAGS.values()):
            self.__dict__["_loaded_status"] = self._flag_status()

    def _apply_legacy_status_change(self) -> None:
        """Run the transition the caller's change of the status flags asks for (see :meth:`save`).

        Flags as they were loaded (a stale copy) are not a request: they are left as stored.
        """
        wanted = self._flag_status()
        if wanted == self.__dict__.get("_loaded_status", wanted):
            return
        stored = (
            type(self)
            ._base_manager.using(self._db())
            .filter(pk=self.pk)
            .values(*STATUS_FLAGS.values())
            .first()
        )
        if stored is None:
            return  # not stored (deleted meanwhile): Django's save decides
        current = next((name for name, flag in STATUS_FLAGS.items() if stored[flag]), "")
        if current == wanted:
            return
        if (current, wanted) == (WorkStatus.WAITING, WorkStatus.PROCESSING):
            now = timezone.now()
            name = self.work_started_by_server_name or (
                self.server.server_name if self.server is not None else ""
            )
            changes = {
                **_status_changes(WorkStatus.PROCESSING),
                "server": self.server,
                "work_started_by_server_name": name[:45],
                "work_started_at_date_time": now,
                "work_heartbeat_date_time": now,
                "work_finished_at_date_time": None,
                "work_finished_duration_seconds": None,
            }
            self._transition("start", Q(is_work_status_wait_for_server_start=True), changes)
        elif (current, wanted) == (WorkStatus.PROCESSING, WorkStatus.FINISHED):
            self.finish(count_of_lines=self.work_finished_count_of_line_to_process)
        elif (current, wanted) == (WorkStatus.PROCESSING, WorkStatus.ERROR):
            error = self.text_error
            message = error.get("message") if isinstance(error, dict) else None
            self.fail(str(message or error or "error set by save()"))
            if error:
                self.text_error = error  # the caller's own error dict is what save() stores
        elif wanted == WorkStatus.WAITING and current in (WorkStatus.ERROR, WorkStatus.PROCESSING):
            self.requeue()
        elif (current, wanted) == (WorkStatus.WAITING, WorkStatus.CANCELLED):
            self.cancel()
        else:
            raise WorkStateError(
                f"cannot move work {self.pk} from {current or 'no status'} to {wanted} by "
                "setting its flags: the queue allows waiting->processing->finished/error, "
                "error/stale->waiting and waiting->cancelled"
            )

    @property
    def status(self) -> str:
        """The :class:`WorkStatus` value of this item (``work_status`` annotation if loaded)."""
        annotated = self.__dict__.get("work_status")
        if annotated:
            return str(annotated)
        for name, flag in STATUS_FLAGS.items():
            if getattr(self, flag):
                if name == WorkStatus.PROCESSING and self.is_stale():
                    return WorkStatus.STALE.value
                return str(name)
        return ""

    def is_stale(self, timeout: float | None = None) -> bool:
        """Whether this item is processing with no heartbeat for ``timeout`` seconds."""
        if not self.is_work_status_server_processing:
            return False
        last = self.work_heartbeat_date_time or self.work_started_at_date_time
        if last is None:
            return True
        return last < timezone.now() - timedelta(seconds=_lease_timeout(timeout))

    def _check_flags(self) -> None:
        modes = [flag for flag in MODE_FLAGS if getattr(self, flag)]
        statuses = [flag for flag in STATUS_FLAGS.values() if getattr(self, flag)]
        errors = {}
        if len(modes) != 1:
            errors["is_work_training"] = (
                f"exactly one of {', '.join(MODE_FLAGS)} must be True (got {modes or 'none'})"
            )
        if len(statuses) != 1:
            errors["is_work_status_wait_for_server_start"] = (
                f"exactly one status flag must be True (got {statuses or 'none'})"
            )
        if errors:
            raise InvalidValue(errors)

    def clean(self) -> None:
        super().clean()
        self._check_flags()

    # Transitions -------------------------------------------------------------------------

    def _apply(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            if not hasattr(value, "resolve_expression"):
                setattr(self, name, value)
        self.__dict__.pop("work_status", None)
        self._remember_status()

    def _db(self) -> str:
        return self._state.db or router.db_for_write(type(self), instance=self)

    def _transition(self, action: str, condition: Q, changes: dict[str, Any]) -> None:
        queryset = type(self)._base_manager.using(self._db()).filter(Q(pk=self.pk) & condition)
        if not queryset.update(**changes):
            current = type(self)._base_manager.using(self._db()).filter(pk=self.pk).first()
            state = current.status if current is not None else "deleted"
            raise WorkStateError(
                f"cannot {action} work {self.pk}: it is {state}"
                + (" (held by another claim)" if state == WorkStatus.PROCESSING else "")
            )
        self._apply(changes)
        expressions = [
            name for name, value in changes.items() if hasattr(value, "resolve_expression")
        ]
        if expressions:
            self.refresh_from_db(fields=expressions)

    def _my_claim(self) -> Q:
        """This object's claim: still processing, and started at the time this object saw."""
        return Q(
            is_work_status_server_processing=True,
            work_started_at_date_time=self.work_started_at_date_time,
        )

    def heartbeat(self) -> None:
        """Renew the lease of a claimed item (call it more often than the lease timeout).

        Raises:
            WorkStateError: the item is no longer held by this claim (requeued, finished, ...):
                stop working on it.
        """
        self._transition(
            "heartbeat", self._my_claim(), {"work_heartbeat_date_time": timezone.now()}
        )

    def finish(
        self,
        *,
        count_of_lines: int | None = None,
        warnings: dict[str, Any] | None = None,
    ) -> None:
        """Mark a claimed item finished, recording the end time and durations.

        Args:
            count_of_lines: lines processed (``work_finished_count_of_line_to_process``).
            warnings: stored in ``text_warning``.

        Raises:
            WorkStateError: the item is not processing under this claim.
        """
        now = timezone.now()
        elapsed = _seconds(self.work_started_at_date_time, now)
        changes: dict[str, Any] = {
            **_status_changes(WorkStatus.FINISHED),
            "work_finished_at_date_time": now,
            "work_finished_duration_seconds": elapsed,
            "work_finished_by_server_name": (self.work_started_by_server_name or "")[:45],
            "work_finished_count_of_line_to_process": count_of_lines,
        }
        changes[
            "learning_delay_elapsed_seconds"
            if self.is_work_training
            else "solving_delay_elapsed_seconds"
        ] = elapsed
        if warnings is not None:
            if not isinstance(warnings, dict):
                raise ValueError(f"warnings must be a dict, not {type(warnings).__name__}")
            changes["text_warning"] = warnings
        self._transition("finish", self._my_claim(), changes)

    def fail(self, error: BaseException | str) -> None:
        """Mark a claimed item failed, recording the error, the end time and the duration.

        Args:
            error: an exception or a message; stored in ``text_error`` as
                ``{"message", "type", "at", "server", "attempt"}``.

        Raises:
            WorkStateError: the item is not processing under this claim.
        """
        now = timezone.now()
        message = str(error) if not isinstance(error, str) else error
        changes = {
            **_status_changes(WorkStatus.ERROR),
            "work_finished_at_date_time": now,
            "work_finished_duration_seconds": _seconds(self.work_started_at_date_time, now),
            "work_finished_by_server_name": (self.work_started_by_server_name or "")[:45],
            "text_error": {
                "message": message,
                "type": type(error).__name__ if isinstance(error, BaseException) else "",
                "at": now.isoformat(),
                "server": self.work_started_by_server_name,
                "attempt": self.work_attempt_count + 1,
            },
        }
        self._transition("fail", self._my_claim(), changes)

    def requeue(self, timeout: float | None = None) -> None:
        """Put an errored or stale item back in the queue; ``work_attempt_count`` grows by one.

        Raises:
            WorkStateError: the item is waiting, finished, cancelled, or processing and not stale.
        """
        stale = WorkQuerySet._stale_q(timeout)
        changes = {
            **_status_changes(WorkStatus.WAITING),
            "work_attempt_count": F("work_attempt_count") + 1,
            "server": None,
            "work_started_at_date_time": None,
            "work_heartbeat_date_time": None,
            "work_finished_at_date_time": None,
            "work_finished_duration_seconds": None,
        }
        self._transition("requeue", Q(is_work_status_server_error=True) | stale, changes)

    def cancel(self) -> None:
        """Cancel a waiting item: no server will take it (status ``cancelled``).

        Raises:
            WorkStateError: the item is not waiting.
        """
        self._transition(
            "cancel",
            Q(is_work_status_wait_for_server_start=True),
            {
                **_status_changes(WorkStatus.CANCELLED),
                "work_finished_at_date_time": timezone.now(),
            },
        )
