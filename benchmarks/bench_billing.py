"""Benchmark of the easyautoml_models ledger and work queue on PostgreSQL.

Run from the project root (the embedded PostgreSQL 18 of ``.pgdata/`` unless ``DATABASE_URL`` is
set; the benchmark uses its own database ``easyautoml_bench`` there, emptied at start)::

    .venv/bin/python benchmarks/bench_billing.py            # default sizes
    .venv/bin/python benchmarks/bench_billing.py --debits 3000 --items 4000 --workers 8
    .venv/bin/python benchmarks/bench_billing.py --synchronous-commit off

It measures, in one run:

- debits/s on one connection: ``Debit.objects.decrease`` (conditional UPDATE + INSERT, one
  transaction each);
- the same for the reference the original used (read the user, ``balance -= x`` in Python, save,
  insert the row; no transaction, no lock), and the ratio;
- debits/s with N concurrent workers (forked processes, or threads with ``--mode threads``,
  each with its own connection), on N users and on one
  shared user, for ours and for the reference; the reference's lost updates are counted;
- claims/s with N workers (``Work.objects.claim_next``), and claim + finish/s.

Figures depend on the machine and its load; the README records the machine they came from.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DATABASE = "easyautoml_bench"


def _setup(synchronous_commit: str | None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    os.environ.setdefault("DEBUG", "false")  # DEBUG would record every query in memory
    if not os.environ.get("DATABASE_URL"):
        from settings.database import embedded_url

        os.environ["DATABASE_URL"] = embedded_url(BENCH_DATABASE)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from django.db.backends.signals import connection_created

    if synchronous_commit:

        def session_setting(sender: Any, connection: Any, **kwargs: Any) -> None:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('synchronous_commit', %s, false)", [synchronous_commit]
                )

        connection_created.connect(session_setting, weak=False)

    if connections["default"].vendor != "postgresql":
        raise SystemExit("error: this benchmark needs PostgreSQL (DATABASE_URL)")
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)


def _threads(count: int, target: Callable[[int], Any]) -> tuple[float, list[Any]]:
    """Run ``target(i)`` in ``count`` threads started together; return the time and results."""
    from django.db import connections

    barrier = threading.Barrier(count + 1)
    errors: list[BaseException] = []
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = target(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed, results


def _processes(count: int, target: Callable[[int], Any]) -> tuple[float, list[Any]]:
    """Run ``target(i)`` in ``count`` forked processes started together; time and results.

    Servers are separate processes in production; processes also keep the GIL of one Python
    from being what is measured.
    """
    import multiprocessing

    from django.db import connections

    connections.close_all()  # never share a socket with the children
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(count + 1)
    outcomes = context.Queue()

    def run(index: int) -> None:
        try:
            barrier.wait()
            outcomes.put((index, True, target(index)))
        except BaseException as exc:
            outcomes.put((index, False, repr(exc)))
        finally:
            connections.close_all()

    processes = [context.Process(target=run, args=(i,)) for i in range(count)]
    for process in processes:
        process.start()
    barrier.wait()
    start = time.perf_counter()
    received = [outcomes.get() for _ in processes]
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - start
    results: list[Any] = [None] * count
    for index, ok, value in received:
        if not ok:
            raise RuntimeError(f"worker {index} failed: {value}")
        results[index] = value
    return elapsed, results


def _reference_debit(user_id: int, amount: Decimal) -> None:
    """The original ``DebitManager.decrease``: read, subtract in Python, save, insert (no lock).

    Written with raw SQL because our models refuse exactly this (the balance column is not
    saved by ``User.save()`` and a ledger insert is itself the balance change).
    """
    import uuid

    from django.db import connections
    from django.utils import timezone

    from easyautoml_models.models import Debit, User

    connection = connections["default"]
    qn = connection.ops.quote_name
    balance = User.objects.values_list("user_balance", flat=True).get(pk=user_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {qn(User._meta.db_table)} SET {qn('user_balance')} = %s "
            f"WHERE {qn('id')} = %s",
            [balance - amount, user_id],
        )
        cursor.execute(
            f"INSERT INTO {qn(Debit._meta.db_table)} (id, user_id, date_time, amount) "
            "VALUES (%s, %s, %s, %s)",
            [uuid.uuid4(), user_id, timezone.now(), amount],
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--debits", type=int, default=3000, help="debits per single run")
    parser.add_argument("--items", type=int, default=4000, help="work items to claim")
    parser.add_argument("--workers", type=int, default=8, help="concurrent workers")
    parser.add_argument(
        "--mode",
        choices=["processes", "threads"],
        default="processes",
        help="run the concurrent workers as forked processes (like separate servers; the "
        "default) or as threads of this process (they then share one GIL)",
    )
    parser.add_argument(
        "--synchronous-commit",
        choices=["on", "off"],
        help="set PostgreSQL's synchronous_commit for the benchmark's sessions (default: the "
        "server's). 'off' shows the figures without the wait for the WAL flush (a crash can "
        "lose the last commits, never half of one).",
    )
    args = parser.parse_args(argv)
    _setup(args.synchronous_commit)

    from django.db import connections

    from easyautoml_models.factories import MachineFactory, ServerFactory, UserFactory
    from easyautoml_models.ledger import verify_balances
    from easyautoml_models.models import Debit, User, Work

    amount = Decimal("0.01")
    n, workers = args.debits, args.workers
    per_worker = max(1, n // workers)
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(",")[0]
        cursor.execute("SHOW synchronous_commit")
        sync = cursor.fetchone()[0]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"# {version}, synchronous_commit={sync}, {os.cpu_count()} CPUs (load average {load}), "
        f"{workers} workers as {args.mode}"
    )
    rows: list[tuple[str, int, float, str]] = []

    def report(label: str, count: int, seconds: float, note: str = "") -> float:
        rate = count / seconds
        rows.append((label, count, rate, note))
        print(f"{label:<58} {count:>6} ops {rate:>9.0f} /s  {note}", flush=True)
        return rate

    # 0. The machine's ceiling: one committed single-row UPDATE per operation, raw driver.
    user = UserFactory.create()
    qn = connections["default"].ops.quote_name
    raw = connections["default"].connection  # the psycopg2 connection, autocommit
    with raw.cursor() as cursor:
        start = time.perf_counter()
        for _ in range(n):
            cursor.execute(
                f"UPDATE {qn(User._meta.db_table)} SET {qn('last_login')} = now() "
                f"WHERE {qn('id')} = %s",
                [user.pk],
            )
        ceiling = report(
            "ceiling: 1 committed UPDATE, raw psycopg2", n, time.perf_counter() - start
        )

    # 1. One connection.
    user = UserFactory.create(balance=Decimal(n) * amount * 2)
    start = time.perf_counter()
    for _ in range(n):
        Debit.objects.decrease(user, amount)
    ours_single = report("debit, 1 connection (ours)", n, time.perf_counter() - start)
    ref_user = UserFactory.create(balance=Decimal(n) * amount * 2)
    start = time.perf_counter()
    for _ in range(n):
        _reference_debit(ref_user.pk, amount)
    ref_single = report(
        "debit, 1 connection (reference: original algorithm)", n, time.perf_counter() - start
    )
    print(f"{'ratio ours / reference, 1 connection':<58} {ours_single / ref_single:.2f}")
    print(f"{'ratio ours / ceiling, 1 connection':<58} {ours_single / ceiling:.2f}")

    parallel = _processes if args.mode == "processes" else _threads

    # 2. N workers on N users, then N workers on one user.
    users = [UserFactory.create(balance=Decimal(per_worker) * amount) for _ in range(workers)]

    def debit_own_user(i: int) -> None:
        for _ in range(per_worker):
            Debit.objects.decrease(users[i], amount)

    seconds, _ = parallel(workers, debit_own_user)
    ours_many = report(
        f"debit, {workers} workers on {workers} users (ours)", per_worker * workers, seconds
    )
    hot = UserFactory.create(balance=Decimal(per_worker * workers) * amount)

    def debit_hot_user(_: int) -> None:
        for _ in range(per_worker):
            Debit.objects.decrease(hot, amount)

    seconds, _ = parallel(workers, debit_hot_user)
    hot_balance = User.objects.get(pk=hot.pk).user_balance
    ours_hot = report(
        f"debit, {workers} workers on 1 user (ours)",
        per_worker * workers,
        seconds,
        f"final balance {hot_balance} (expected 0E-8)",
    )
    ref_hot = UserFactory.create(balance=Decimal(per_worker * workers) * amount)

    def reference_worker(_: int) -> None:
        for _ in range(per_worker):
            _reference_debit(ref_hot.pk, amount)

    seconds, _ = parallel(workers, reference_worker)
    ref_balance = User.objects.get(pk=ref_hot.pk).user_balance
    lost = int(ref_balance / amount)
    ref_hot_rate = report(
        f"debit, {workers} workers on 1 user (reference)",
        per_worker * workers,
        seconds,
        f"final balance {ref_balance}: {lost} lost updates",
    )
    print(
        f"{'ratio ours / reference, ' + str(workers) + ' workers on 1 user':<58} "
        f"{ours_hot / ref_hot_rate:.2f}"
    )

    # 3. Claims.
    machine = MachineFactory.create()
    Work.objects.bulk_create(
        Work(machine=machine, is_work_training=True, is_work_status_wait_for_server_start=True)
        for _ in range(args.items)
    )
    servers = [ServerFactory.create() for _ in range(workers)]

    def claim(i: int) -> list[int]:
        mine = []
        while (item := Work.objects.claim_next(servers[i])) is not None:
            mine.append(item.pk)
        return mine

    seconds, claimed = parallel(workers, claim)
    total = sum(len(c) for c in claimed)
    unique = len({pk for c in claimed for pk in c})
    claims = report(
        f"claim_next, {workers} workers", total, seconds, f"{unique} distinct of {args.items}"
    )
    Work.objects.all().delete()
    Work.objects.bulk_create(
        Work(machine=machine, is_work_training=True, is_work_status_wait_for_server_start=True)
        for _ in range(args.items)
    )

    def claim_and_finish(i: int) -> None:
        while (item := Work.objects.claim_next(servers[i])) is not None:
            item.finish()

    seconds, _ = parallel(workers, claim_and_finish)
    report(f"claim_next + finish, {workers} workers", args.items, seconds)

    mismatches = [
        m for m in verify_balances() if m.user_id != ref_user.pk and m.user_id != ref_hot.pk
    ]
    print(f"# ledger == balance for every user of ours: {not mismatches}")
    print(
        f"# target >= 1000/s: debit 1 connection {ours_single:.0f} "
        f"({'met' if ours_single >= 1000 else 'NOT met'}), claims {claims:.0f} "
        f"({'met' if claims >= 1000 else 'NOT met'}); {workers} workers/{workers} users "
        f"{ours_many:.0f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
