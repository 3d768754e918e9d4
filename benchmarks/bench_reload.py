"""Benchmark: reload an exported slice: gyro vs psql \\copy FROM, bulk_create, loaddata, remap.

Run (from the project root)::

    .venv/bin/python benchmarks/bench_reload.py --scale 200 --sizes 250000,1000000

Same data as ``bench_export.py``: the database ``gyro_bench`` on the embedded PostgreSQL (or
``--database-url``) filled with ``gyro_example_data --scale N --tenants 2`` (reused when already
there), and for each size the ``acme`` slice (all shops, the first customers by pk, at most 10
newest orders per customer, all their items) with about that many order items, exported with
gyro. Every load goes into a fresh clone of a migrated, empty target database, each method in its
own process so that its peak memory (``ru_maxrss`` through GNU time) is its own:

* ``psql \\copy FROM`` (the reference): the same files, in job order, in one transaction, into
  tables with their (deferred) foreign keys, so PostgreSQL checks each row with a trigger call;
* ``gyro``: ``load_export`` into the empty target (keys kept, files checked, FKs validated
  set-based, sequences reset, key bookkeeping written);
* ``gyro remap``: ``load_export(on_conflict="remap")`` into a target that already holds another
  tenant's slice of the same size (new keys from the sequences, every FK rewritten, key map
  stored);
* ``bulk_create``: a hand-written loop, ``csv.DictReader`` -> model instances ->
  ``bulk_create(batch_size=5000)`` in one ``transaction.atomic``, then the sequences reset;
* ``loaddata``: Django's JSON fixture of the same slice, only up to ``--slow-max`` rows (it saves
  one object at a time); gyro and psql are measured on that small slice too.

``--repeat`` runs of psql, gyro and gyro remap are interleaved and the median is reported.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_export import (  # noqa: E402  (after the path set-up above)
    bench_url,
    customers_for,
    ensure_data,
    psql_binary,
    psql_url,
    run_child,
    setup_django,
    slice_jobs,
)

MODELS = ["Tenant", "Shop", "Product", "Customer", "Order", "OrderItem"]


def other_url(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


# --------------------------------------------------------------------------- workers


def worker(args: argparse.Namespace) -> dict[str, Any]:
    method = args.worker
    started = time.perf_counter()
    rows = 0
    if method in ("gyro", "gyro-remap"):
        from django_gyro.load.loader import load_export

        result = load_export(
            args.export,
            args.target_url,
            on_conflict="remap" if method == "gyro-remap" else "error",
            progress=False,
        )
        rows = result.rows
    elif method == "bulk_create":
        rows = bulk_create(args.export)
    elif method == "loaddata":
        from django.core.management import call_command

        call_command("loaddata", str(args.fixture), database="target", verbosity=0)
        rows = sum(1 for _ in json.loads(Path(args.fixture).read_text()))
    else:
        raise SystemExit(f"unknown method {method}")
    return {"seconds": time.perf_counter() - started, "rows": rows}


def bulk_create(export: Path) -> int:
    """The loop people write first: parse the CSV, build instances, ``bulk_create``."""
    from django.apps import apps
    from django.core.management.color import no_style
    from django.db import connections, models, transaction

    manifest = json.loads((export / "manifest.json").read_text())
    rows = 0
    with transaction.atomic(using="target"):
        for job in manifest["jobs"]:
            model = apps.get_model(job["model"])
            by_column = {f.column: f for f in model._meta.concrete_fields}
            batch: list[models.Model] = []
            with (export / job["file"]).open(newline="", encoding="utf-8") as handle:
                for record in csv.DictReader(handle):
                    values = {}
                    for column, text in record.items():
                        field = by_column[column]
                        empty_is_null = not isinstance(field, models.CharField | models.TextField)
                        values[field.attname] = None if text == "" and empty_is_null else text
                    batch.append(model(**values))
                    if len(batch) >= 5000:
                        model.objects.using("target").bulk_create(batch)
                        rows += len(batch)
                        batch = []
            model.objects.using("target").bulk_create(batch)
            rows += len(batch)
        connection = connections["target"]
        models_loaded = [apps.get_model(job["model"]) for job in manifest["jobs"]]
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), models_loaded):
                cursor.execute(statement)
    return rows


# --------------------------------------------------------------------------- driver


def maintenance(url: str, *statements: str) -> None:
    import psycopg2

    connection = psycopg2.connect(psql_url(other_url(url, "postgres")))
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
    finally:
        connection.close()


def fresh(url: str, name: str, template: str) -> str:
    """Drop ``name`` and clone it from ``template``; return its URL."""
    # name and template are fixed names of this script, not input
    maintenance(
        url,
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        f'CREATE DATABASE "{name}" TEMPLATE "{template}"',
    )
    return other_url(url, name)


def migrated_template(url: str, name: str, env: dict[str, str]) -> None:
    maintenance(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=ROOT,
        env={**env, "DATABASE_URL": other_url(url, name)},
        check=True,
    )


def psql_script(export: Path, path: Path) -> None:
    manifest = json.loads((export / "manifest.json").read_text())
    lines = ["\\set ON_ERROR_STOP on", "BEGIN;"]
    for job in manifest["jobs"]:
        columns = ", ".join('"' + c["name"] + '"' for c in job["columns"])
        source = (export / job["file"]).as_posix().replace("'", "''")
        lines.append(
            f"\\copy {job['table']} ({columns}) FROM '{source}' WITH (FORMAT CSV, HEADER)"
        )
    lines.append("COMMIT;")
    path.write_text("\n".join(lines) + "\n")


def export_slice(jobs: list[Any], directory: Path) -> int:
    from django_gyro import DataSlicer

    result = DataSlicer.run(
        source=DataSlicer.Postgres("default"),
        target=DataSlicer.File(directory, overwrite=True),
        jobs=jobs,
        progress=False,
        closure=False,
    )
    return sum(job.rows for job in result.jobs)


def write_fixture(jobs: list[Any], path: Path) -> None:
    from django.core import serializers

    with path.open("w", encoding="utf-8") as handle:
        objects = (obj for job in jobs for obj in job.query.iterator(chunk_size=5000))
        serializers.serialize("json", objects, stream=handle)


def tenant_jobs(customers: int, tenant: str) -> list[Any]:
    from django_gyro.slicing import make_deterministic
    from gyro_example.jobs import build_jobs

    jobs = build_jobs(tenant=tenant, shops=None, max_customers=customers, orders_per_customer=10)
    for job in jobs:
        make_deterministic(job.query.query)
    return jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=200)
    parser.add_argument("--tenants", type=int, default=2)
    parser.add_argument("--sizes", default="250000,1000000", help="order items per slice")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--slow-max", type=int, default=1_000_000, help="bulk_create up to")
    parser.add_argument(
        "--loaddata-rows", type=int, default=30_000, help="loaddata slice (0: skip it)"
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "bench-reload")
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--export", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--fixture", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--target-url", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        os.environ["DATABASE_URL_TARGET"] = args.target_url
        setup_django(args.database_url)
        print(json.dumps(worker(args)))
        return

    url = args.database_url or bench_url("gyro_bench")
    setup_django(url)
    ensure_data(args.scale, args.tenants, args.regenerate)
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("DATABASE_URL_TARGET", None)
    psql = psql_binary()
    # The scratch databases are named after the benchmark database ("gyro_bench_tpl", or
    # "<name>_tpl" for --database-url .../<name>), so runs on one server do not collide.
    base = urlsplit(url).path.lstrip("/") or "gyro_bench"
    template_name, filled_name, target_name = f"{base}_tpl", f"{base}_filled", f"{base}_target"
    migrated_template(url, template_name, env)

    def timed(method: str, target_url: str, export: Path, fixture: Path | None = None) -> Any:
        if method == "psql":
            script = export.parent / "copy-from.psql"
            psql_script(export, script)
            _, seconds, rss = run_child(
                [psql, "-X", "-q", "-f", str(script), psql_url(target_url)], env
            )
            return seconds, rss
        argv = [
            sys.executable,
            __file__,
            "--worker",
            method,
            "--export",
            str(export),
            "--target-url",
            target_url,
            "--database-url",
            url,
        ]
        if fixture is not None:
            argv += ["--fixture", str(fixture)]
        stdout, _, rss = run_child(argv, env)
        return json.loads(stdout)["seconds"], rss

    sizes = [int(s) for s in args.sizes.split(",")]
    results: list[dict[str, Any]] = []
    plans: list[tuple[int, bool]] = [(s, False) for s in sizes]
    if args.loaddata_rows > 0:  # 0: skip the small slice and loaddata
        plans.insert(0, (args.loaddata_rows, True))
    for size, small in plans:
        customers = customers_for(size)
        out = args.workdir / str(size)
        export = out / "export"
        rows = export_slice(slice_jobs(customers), export)
        print(f"\nslice ~{size:,} order items: {customers:,} customers, {rows:,} rows", flush=True)
        timings: dict[str, list[float]] = {}
        memory: dict[str, int] = {}
        methods = ["psql", "gyro"] if small else ["psql", "gyro", "gyro-remap"]
        if not small:
            # The remap target: another tenant's slice of the same size, loaded (keys kept).
            other = out / "other-tenant"
            export_slice(tenant_jobs(customers, "tenant-2"), other)
            filled = fresh(url, filled_name, template_name)
            timed("gyro", filled, other)
        for _ in range(args.repeat):
            for method in methods:
                template = filled_name if method == "gyro-remap" else template_name
                target_url = fresh(url, target_name, template)
                seconds, rss = timed(method, target_url, export)
                timings.setdefault(method, []).append(seconds)
                memory[method] = max(memory.get(method, 0), rss)
        if small:
            fixture = out / "fixture.json"
            write_fixture(slice_jobs(customers), fixture)
            seconds, rss = timed(
                "loaddata", fresh(url, target_name, template_name), export, fixture
            )
            timings["loaddata"], memory["loaddata"] = [seconds], rss
        if size <= args.slow_max:
            seconds, rss = timed("bulk_create", fresh(url, target_name, template_name), export)
            timings["bulk_create"], memory["bulk_create"] = [seconds], rss
        reference = statistics.median(timings["psql"])
        for method, values in timings.items():
            seconds = statistics.median(values)
            results.append(
                {
                    "rows": rows,
                    "method": method,
                    "seconds": seconds,
                    "ratio": seconds / reference,
                    "rss": memory[method],
                }
            )
            runs = ", ".join(f"{v:.2f}" for v in values)
            print(
                f"  {method:12s} {seconds:8.2f} s  x{seconds / reference:5.2f}  "
                f"peak RSS {memory[method]:5d} MiB  (runs: {runs})",
                flush=True,
            )
    maintenance(
        url,
        f'DROP DATABASE IF EXISTS "{target_name}" WITH (FORCE)',
        f'DROP DATABASE IF EXISTS "{filled_name}" WITH (FORCE)',
        f'DROP DATABASE IF EXISTS "{template_name}" WITH (FORCE)',
    )
    names = {
        "psql": "psql `\\copy FROM`, one transaction (reference)",
        "gyro": "gyro `load_export`, empty target",
        "gyro-remap": 'gyro `on_conflict="remap"`, non-empty target',
        "bulk_create": "`bulk_create` loop",
        "loaddata": "`loaddata` (JSON fixture)",
    }
    print("\n| rows loaded | method | wall time (s) | ratio to psql | peak RSS (MiB) |")
    print("|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['rows']:,} | {names[r['method']]} | {r['seconds']:.2f} | "
            f"{r['ratio']:.2f}x | {r['rss']} |"
        )


if __name__ == "__main__":
    main()
