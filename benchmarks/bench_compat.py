"""Overhead of civ_orm_compat over the same operations written with Django's own async API.

    .venv/bin/python benchmarks/bench_compat.py [--rounds 9] [--iterations 300]

Uses ``DATABASE_URL`` (default: the embedded PostgreSQL), creates a scratch database
(``<database name>_bench_civ_compat``, dropped at the end; in memory for SQLite), fills it, and
times six operations both ways in the same process:

=============  ==============================================  ===============================
operation      compat (CIV API)                                reference (Django's async API)
=============  ==============================================  ===============================
get            ``await User.get(pk=pk)``                       ``await Plain.objects.aget(pk=pk)``
filter+all     ``await User.objects.filter(..).limit(50).all()``  ``[u async for u in qs[:50]]``
count          ``await User.objects.filter(..).count()``       ``await qs.acount()``
save           ``await user.save()`` (an update)               ``await plain.asave()``
table builder  ``await QueryBuilder("users").select(..)``      ``[r async for r in
               ``.where(..).order_by(..).limit(50).fetch_all()``  qs.values(..)[:50]]``
$n raw SQL     ``await db.fetch_all("... $1 ...", v)``          ``sync_to_async`` of a cursor
                                                               ``execute`` + ``fetchall`` (``%s``)
=============  ==============================================  ===============================

``Plain`` is a plain Django model (no compat code at all) mapped on the same table. The two
sides are interleaved call by call (compat, reference, reference, compat, ...), so a load spike
from other processes hits both alike. Each round sums ``--iterations`` calls per side; the table
reports the median time per call over the rounds and the median of the per-round ratios
compat / reference (target <= 1.10). Absolute times on a shared machine are noisy: compare the
ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from asgiref.sync import sync_to_async  # noqa: E402
from django.db import connections, models  # noqa: E402

from civ_orm_compat.connection import db  # noqa: E402
from civ_orm_compat.query import QueryBuilder as _QueryBuilder  # noqa: E402
from tests.civ_app.models import User  # noqa: E402

# django-stubs types every QuerySet subclass call as a queryset; QueryBuilder("users") returns
# the table-level builder.
QueryBuilder: Any = _QueryBuilder
RAW = "SELECT id, username FROM users WHERE age >= {} ORDER BY id LIMIT 50"


class Plain(models.Model):
    """The same table as ``User``, as a plain Django model (the reference)."""

    objects: models.Manager[Plain] = models.Manager()

    username = models.CharField(max_length=50, unique=True)
    email = models.CharField(max_length=100)
    age = models.IntegerField(null=True)
    deleted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "civ_app"
        db_table = "users"
        managed = False

    def __str__(self) -> str:
        return self.username


Op = Callable[[int], Awaitable[Any]]


def operations(pks: list[int], compat_user: User, plain_user: Plain) -> dict[str, tuple[Op, Op]]:
    async def compat_get(i: int) -> Any:
        return await User.get(pk=pks[i % len(pks)])

    async def plain_get(i: int) -> Any:
        return await Plain.objects.aget(pk=pks[i % len(pks)])

    async def compat_list(i: int) -> Any:
        return await User.objects.filter(age__gte=i % 50).order_by("id").limit(50).all()

    async def plain_list(i: int) -> Any:
        return [u async for u in Plain.objects.filter(age__gte=i % 50).order_by("id")[:50]]

    async def compat_count(i: int) -> Any:
        return await User.objects.filter(age__gte=i % 50).count()

    async def plain_count(i: int) -> Any:
        return await Plain.objects.filter(age__gte=i % 50).acount()

    async def compat_save(i: int) -> Any:
        compat_user.age = i % 90
        return await compat_user.save()

    async def plain_save(i: int) -> Any:
        plain_user.age = i % 90
        return await plain_user.asave()

    async def compat_table(i: int) -> Any:
        qb = QueryBuilder("users").select("id", "username").where("age", ">=", i % 50)
        return await qb.order_by("id").limit(50).fetch_all()

    async def plain_table(i: int) -> Any:
        qs = Plain.objects.filter(age__gte=i % 50).order_by("id").values("id", "username")
        return [row async for row in qs[:50]]

    async def compat_raw(i: int) -> Any:
        return await db.fetch_all(RAW.format("$1"), i % 50)

    def fetch(value: int) -> list[dict[str, Any]]:
        with connections["default"].cursor() as cursor:
            cursor.execute(RAW.format("%s"), [value])
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    raw_fetch = sync_to_async(fetch)

    async def plain_raw(i: int) -> Any:
        return await raw_fetch(i % 50)

    return {
        "get": (compat_get, plain_get),
        "filter+all": (compat_list, plain_list),
        "count": (compat_count, plain_count),
        "save": (compat_save, plain_save),
        "table builder": (compat_table, plain_table),
        "$n raw SQL": (compat_raw, plain_raw),
    }


async def paired(compat: Op, plain: Op, iterations: int) -> tuple[float, float]:
    """Seconds per call of each side, calls interleaved (ABBA order)."""
    spent = [0.0, 0.0]
    clock = time.perf_counter
    for i in range(iterations):
        order = ((0, compat), (1, plain)) if i % 2 == 0 else ((1, plain), (0, compat))
        for side, op in order:
            started = clock()
            await op(i)
            spent[side] += clock() - started
    return spent[0] / iterations, spent[1] / iterations


async def bench(rounds: int, iterations: int) -> dict[str, tuple[float, float, float]]:
    def fill() -> list[int]:
        User.objects.bulk_create(
            User(username=f"bench{i}", email=f"b{i}@example.com", age=i % 90) for i in range(1000)
        )
        return list(User.objects.values_list("pk", flat=True))

    pks = await sync_to_async(fill)()
    compat_user = await User.get(pk=pks[0])
    plain_user = await Plain.objects.aget(pk=pks[1])
    ops = operations(pks, compat_user, plain_user)
    per_call: dict[str, tuple[list[float], list[float], list[float]]] = {
        name: ([], [], []) for name in ops
    }
    for compat, plain in ops.values():  # warm-up: connections, caches
        await paired(compat, plain, 20)
    for _round in range(rounds):
        for name, (compat, plain) in ops.items():
            c, p = await paired(compat, plain, iterations)
            per_call[name][0].append(c)
            per_call[name][1].append(p)
            per_call[name][2].append(c / p)
    return {
        name: (statistics.median(c), statistics.median(p), statistics.median(r))
        for name, (c, p, r) in per_call.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9, help="rounds per operation (median)")
    parser.add_argument("--iterations", type=int, default=300, help="calls per round and side")
    args = parser.parse_args()

    connection = connections["default"]
    if connection.vendor != "sqlite":  # SQLite's test database is in memory anyway
        # A name of its own (derived from the configured database, so engineers sharing a server
        # keep apart), so a test run on the same server at the same time is undisturbed.
        name = f"{connection.settings_dict['NAME']}_bench_civ_compat"
        connection.settings_dict.setdefault("TEST", {})["NAME"] = name
    creation = connection.creation
    test_name = creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        results = asyncio.run(bench(args.rounds, args.iterations))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT version()"
                if connection.vendor == "postgresql"
                else "SELECT sqlite_version()"
                if connection.vendor == "sqlite"
                else "SELECT VERSION()"
            )
            server = str(cursor.fetchone()[0]).split(" on ")[0].split(",")[0]
    finally:
        connections.close_all()
        from asgiref.sync import SyncToAsync

        SyncToAsync.single_thread_executor.submit(connections.close_all).result()
        creation.destroy_test_db(test_name, verbosity=0)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"{connection.vendor} ({server})"
    )
    print(f"rounds: {args.rounds}, iterations per round and side: {args.iterations}\n")
    print("| operation | civ_orm_compat (µs/call) | Django async API (µs/call) | ratio |")
    print("|---|---:|---:|---:|")
    for name, (compat, plain, ratio) in results.items():
        print(f"| {name} | {compat * 1e6:.0f} | {plain * 1e6:.0f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
