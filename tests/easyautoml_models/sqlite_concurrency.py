"""Concurrency on a file-based SQLite database, run in its own process by test_sqlite_concurrency.

pytest-django gives SQLite tests an in-memory database that threads cannot share, so this script
migrates a fresh database file and runs real threads with their own connections on it. It prints
one JSON object with what happened.

Usage: python tests/easyautoml_models/sqlite_concurrency.py /tmp/some.sqlite3
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(path: str) -> dict[str, Any]:
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from easyautoml_models.exceptions import InsufficientFunds
    from easyautoml_models.factories import MachineFactory, ServerFactory, UserFactory
    from easyautoml_models.ledger import verify_balances
    from easyautoml_models.models import Debit, User, Work

    call_command("migrate", verbosity=0)

    def run_threads(count: int, target: Any) -> list[Any]:
        barrier = threading.Barrier(count)
        results: list[Any] = [None] * count

        def run(index: int) -> None:
            try:
                barrier.wait()
                results[index] = target(index)
            except BaseException as exc:
                results[index] = f"{type(exc).__name__}: {exc}"
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    user = UserFactory.create(balance=Decimal("100"))

    def debit(_: int) -> str:
        try:
            Debit.objects.decrease(User.objects.get(pk=user.pk), Decimal("7"))
        except InsufficientFunds:
            return "refused"
        return "ok"

    debits = Counter(run_threads(20, debit))

    # Exact money under concurrency: 0.3 credited, four threads debit 0.1 each.
    tenths = UserFactory.create(balance=Decimal("0.3"))

    def debit_a_tenth(_: int) -> str:
        try:
            Debit.objects.decrease(User.objects.get(pk=tenths.pk), Decimal("0.1"))
        except InsufficientFunds:
            return "refused"
        return "ok"

    tenth_debits = Counter(run_threads(4, debit_a_tenth))
    machine = MachineFactory.create()
    for _ in range(100):
        Work.objects.create(
            machine=machine, is_work_training=True, is_work_status_wait_for_server_start=True
        )
    servers = [ServerFactory.create() for _ in range(8)]

    def claim(index: int) -> list[int]:
        mine = []
        while (item := Work.objects.claim_next(servers[index])) is not None:
            mine.append(item.pk)
        return mine

    claims = run_threads(8, claim)
    every = [pk for c in claims if isinstance(c, list) for pk in c]
    return {
        "debits": dict(debits),
        "tenth_debits": dict(tenth_debits),
        "tenths_balance": str(User.objects.get(pk=tenths.pk).user_balance),
        "balance": str(User.objects.get(pk=user.pk).user_balance),
        "debit_rows": Debit.objects.filter(user=user).count(),
        "mismatches": [str(m) for m in verify_balances()],
        "claim_errors": [c for c in claims if not isinstance(c, list)],
        "claims": len(every),
        "distinct_claims": len(set(every)),
        "processing": Work.objects.processing().count(),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
