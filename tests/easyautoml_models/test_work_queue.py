"""The work queue: flags enforced by the database, claims, leases, retries, cancellation."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import override_settings
from django.utils import timezone

from easyautoml_models.exceptions import WorkStateError
from easyautoml_models.factories import MachineFactory, ServerFactory, WorkFactory
from easyautoml_models.models import WORK_STATUSES, Machine, Server, Work, WorkStatus

pytestmark = pytest.mark.django_db


def _age(work: Work, seconds: float) -> None:
    """Pretend the item's last heartbeat was ``seconds`` ago."""
    Work.objects.filter(pk=work.pk).update(
        work_heartbeat_date_time=timezone.now() - timedelta(seconds=seconds)
    )


def test_statuses_constant_lists_every_status() -> None:
    assert [value for value, _ in WORK_STATUSES] == [
        "waiting",
        "processing",
        "stale",
        "finished",
        "error",
        "cancelled",
    ]


def test_seed_create_and_filter_work_as_written(machine: Machine, server: Server) -> None:
    work = Work.objects.create(
        machine=machine,
        server=server,
        is_work_training=True,
        is_work_status_wait_for_server_start=True,
    )
    assert list(Work.objects.filter(is_work_status_wait_for_server_start=True)) == [work]
    assert list(Work.objects.filter(machine=machine, is_work_training=True)) == [work]
    assert work.status == WorkStatus.WAITING
    assert work.work_started_at_date_time is None  # not stamped by a plain save


@pytest.mark.parametrize(
    "flags",
    [
        {"is_work_status_wait_for_server_start": True},  # no mode
        {"is_work_training": True, "is_work_solving": True, "is_work_status_server_error": True},
        {"is_work_training": True},  # no status
        {
            "is_work_training": True,
            "is_work_status_wait_for_server_start": True,
            "is_work_status_server_finished": True,
        },
    ],
)
def test_save_refuses_anything_but_one_mode_and_one_status(machine: Machine, flags) -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        Work.objects.create(machine=machine, **flags)
    assert Work.objects.count() == 0


def test_database_refuses_illegal_flags_even_through_update(machine: Machine) -> None:
    """Acceptance check 6: QuerySet.update cannot break the invariant."""
    work = WorkFactory.create(machine=machine)
    illegal = [
        {"is_work_status_server_processing": True},  # two statuses
        {"is_work_status_wait_for_server_start": False},  # none
        {"is_work_solving": True},  # two modes
        {"is_work_training": None},  # no mode
    ]
    for changes in illegal:
        with pytest.raises(IntegrityError), transaction.atomic():
            Work.objects.filter(pk=work.pk).update(**changes)
    work.refresh_from_db()
    assert work.status == WorkStatus.WAITING


def test_claim_finish_records_times_and_durations(machine: Machine, server: Server) -> None:
    old = WorkFactory.create(machine=machine)
    WorkFactory.create(machine=machine)
    claimed = Work.objects.claim_next(server)
    assert claimed is not None and claimed.pk == old.pk  # oldest first
    assert claimed.status == WorkStatus.PROCESSING
    stored = Work.objects.get(pk=old.pk)
    assert stored.server_id == server.pk
    assert stored.work_started_by_server_name == server.server_name
    assert stored.work_started_at_date_time is not None
    started = stored.work_started_at_date_time
    claimed.heartbeat()
    claimed.finish(count_of_lines=1000, warnings={"columns": ["age"]})
    stored = Work.objects.get(pk=old.pk)
    assert stored.status == WorkStatus.FINISHED
    assert stored.work_started_at_date_time == started  # not rewritten by later saves
    assert stored.work_finished_at_date_time >= started
    assert stored.work_finished_duration_seconds >= Decimal("0")
    assert stored.learning_delay_elapsed_seconds == stored.work_finished_duration_seconds
    assert stored.work_finished_by_server_name == server.server_name
    assert stored.work_finished_count_of_line_to_process == 1000
    assert stored.text_warning == {"columns": ["age"]}
    with pytest.raises(WorkStateError, match="finished"):
        claimed.finish()


def test_claim_next_returns_none_on_an_empty_queue(server: Server) -> None:
    assert Work.objects.claim_next(server) is None


def test_claim_next_can_take_only_one_mode(machine: Machine, server: Server) -> None:
    WorkFactory.create(machine=machine)
    solving = WorkFactory.create(machine=machine, is_work_training=False, is_work_solving=True)
    claimed = Work.objects.claim_next(server, mode="solving")
    assert claimed is not None and claimed.pk == solving.pk
    assert Work.objects.claim_next(server, mode="solving") is None
    with pytest.raises(ValueError, match="mode"):
        Work.objects.claim_next(server, mode="painting")


def test_claim_next_needs_a_saved_server(db: None) -> None:
    with pytest.raises(ValueError, match="saved Server"):
        Work.objects.claim_next(Server(server_name="unsaved"))
    with pytest.raises(ValueError, match="saved Server"):
        Work.objects.claim_next("gpu-1")


def test_fail_records_the_error_and_requeue_counts_the_attempt(
    machine: Machine, server: Server
) -> None:
    WorkFactory.create(machine=machine)
    work = Work.objects.claim_next(server)
    assert work is not None
    work.fail(RuntimeError("CUDA out of memory"))
    stored = Work.objects.get(pk=work.pk)
    assert stored.status == WorkStatus.ERROR
    assert stored.text_error["message"] == "CUDA out of memory"
    assert stored.text_error["type"] == "RuntimeError"
    assert stored.work_finished_at_date_time is not None
    assert list(Work.objects.errored()) == [stored]
    stored.requeue()
    assert stored.status == WorkStatus.WAITING and stored.work_attempt_count == 1
    assert Work.objects.get(pk=work.pk).work_attempt_count == 1
    again = Work.objects.claim_next(server)
    assert again is not None and again.pk == work.pk


def test_a_fresh_processing_item_cannot_be_requeued(machine: Machine, server: Server) -> None:
    WorkFactory.create(machine=machine)
    work = Work.objects.claim_next(server)
    assert work is not None
    with pytest.raises(WorkStateError, match="processing"):
        work.requeue()


def test_stale_item_is_requeued_with_one_more_attempt(machine: Machine, server: Server) -> None:
    """Acceptance check 6: an expired lease requeues the job with attempts + 1."""
    WorkFactory.create(machine=machine)
    fresh = WorkFactory.create(machine=machine)
    dead = Work.objects.claim_next(server)
    alive = Work.objects.claim_next(ServerFactory.create())
    assert dead is not None and alive is not None and alive.pk == fresh.pk
    _age(dead, 600)
    assert list(Work.objects.stale(timeout=300)) == [Work.objects.get(pk=dead.pk)]
    assert Work.objects.with_status(timeout=300).get(pk=dead.pk).status == WorkStatus.STALE
    assert Work.objects.requeue_stale(timeout=300) == 1
    stored = Work.objects.get(pk=dead.pk)
    assert stored.status == WorkStatus.WAITING
    assert stored.work_attempt_count == 1 and stored.server_id is None
    assert Work.objects.get(pk=alive.pk).status == WorkStatus.PROCESSING
    # The dead server wakes up: its claim is gone, so it must stop.
    with pytest.raises(WorkStateError):
        dead.heartbeat()
    with pytest.raises(WorkStateError):
        dead.finish()
    # A new claim of the same item is a different lease.
    reclaimed = Work.objects.claim_next(ServerFactory.create())
    assert reclaimed is not None and reclaimed.pk == dead.pk
    with pytest.raises(WorkStateError):
        dead.fail("late")
    reclaimed.finish()


@override_settings(EASYAUTOML_WORK_MAX_ATTEMPTS=2)
def test_stale_item_is_failed_after_max_attempts(machine: Machine, server: Server) -> None:
    WorkFactory.create(machine=machine)
    for expected_requeued in (1, 0):
        work = Work.objects.claim_next(server)
        assert work is not None
        _age(work, 1000)
        assert Work.objects.requeue_stale(timeout=10) == expected_requeued
    stored = Work.objects.get()
    assert stored.status == WorkStatus.ERROR
    assert stored.text_error["reason"] == "max_attempts"
    assert stored.work_attempt_count == 2


def test_heartbeat_keeps_an_item_fresh(machine: Machine, server: Server) -> None:
    WorkFactory.create(machine=machine)
    work = Work.objects.claim_next(server)
    assert work is not None
    _age(work, 600)
    work.heartbeat()
    assert Work.objects.requeue_stale(timeout=300) == 0
    assert Work.objects.get(pk=work.pk).status == WorkStatus.PROCESSING


def test_cancel_only_waiting_items(machine: Machine, server: Server) -> None:
    waiting = WorkFactory.create(machine=machine)
    waiting.cancel()
    assert Work.objects.get(pk=waiting.pk).status == WorkStatus.CANCELLED
    assert list(Work.objects.cancelled()) == [waiting]
    assert Work.objects.claim_next(server) is None  # a cancelled item is never claimed
    with pytest.raises(WorkStateError, match="cancelled"):
        waiting.cancel()
    with pytest.raises(WorkStateError):
        waiting.requeue()
    WorkFactory.create(machine=machine)
    work = Work.objects.claim_next(server)
    assert work is not None
    with pytest.raises(WorkStateError, match="processing"):
        work.cancel()


def test_queue_filters_and_status_annotation(machine: Machine, server: Server) -> None:
    items = [WorkFactory.create(machine=machine) for _ in range(5)]
    processing = Work.objects.claim_next(server)
    finished = Work.objects.claim_next(server)
    errored = Work.objects.claim_next(server)
    assert processing and finished and errored
    finished.finish()
    errored.fail("boom")
    items[3].cancel()
    assert set(Work.objects.waiting()) == {items[4]}
    assert set(Work.objects.processing()) == {items[0]}
    assert set(Work.objects.finished()) == {items[1]}
    assert set(Work.objects.errored()) == {items[2]}
    annotated = {w.pk: w.status for w in Work.objects.with_status()}
    assert annotated == {
        items[0].pk: "processing",
        items[1].pk: "finished",
        items[2].pk: "error",
        items[3].pk: "cancelled",
        items[4].pk: "waiting",
    }
    assert {w.pk for w in Work.objects.with_status_in("error", "cancelled")} == {
        items[2].pk,
        items[3].pk,
    }
    with pytest.raises(ValueError, match="unknown work status"):
        Work.objects.with_status_in("lost")
    with pytest.raises(ValueError, match="lease timeout"):
        Work.objects.stale(timeout=0)


def test_deleting_a_server_keeps_the_work_history(machine: Machine, server: Server) -> None:
    WorkFactory.create(machine=machine)
    work = Work.objects.claim_next(server)
    assert work is not None
    work.finish()
    server.delete()
    stored = Work.objects.get(pk=work.pk)
    assert stored.server_id is None
    assert stored.work_started_by_server_name == server.server_name
    assert stored.status == WorkStatus.FINISHED


def test_requeue_stale_work_command(machine: Machine, server: Server) -> None:
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    WorkFactory.create(machine=machine)
    work = Work.objects.claim_next(server)
    assert work is not None
    _age(work, 100)
    out = StringIO()
    call_command("requeue_stale_work", timeout=50, stdout=out)
    assert "requeued 1 stale work item(s)" in out.getvalue()
    assert Work.objects.get(pk=work.pk).status == WorkStatus.WAITING
    quiet = StringIO()
    call_command("requeue_stale_work", verbosity=0, stdout=quiet)
    assert quiet.getvalue() == ""
    with pytest.raises(CommandError, match="lease timeout"):
        call_command("requeue_stale_work", timeout=-1, stdout=StringIO())
    with pytest.raises(CommandError, match="unknown database alias"):
        call_command("requeue_stale_work", database="nope", stdout=StringIO())


def test_claim_next_respects_the_callers_filters(machine: Machine, server: Server) -> None:
    other = MachineFactory.create()
    first, second = WorkFactory.create(machine=other), WorkFactory.create(machine=other)
    mine = WorkFactory.create(machine=machine)
    plain = Work.objects.claim_next(server)  # the plain queue: the oldest item
    assert plain is not None and plain.pk == first.pk
    claimed = Work.objects.filter(machine=machine).claim_next(server)  # skips the older second
    assert claimed is not None and claimed.pk == mine.pk
    assert Work.objects.filter(machine=machine).claim_next(server) is None
    assert list(Work.objects.waiting()) == [second]
