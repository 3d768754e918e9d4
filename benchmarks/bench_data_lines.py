"""Benchmark of easyautoml_models' per-machine data tables on PostgreSQL.

Run from the project root with ``DATABASE_URL`` pointing at a PostgreSQL server; the benchmark
uses its own database, ``<that database>_lines_bench``, emptied at start, and ``psql`` from
``PATH``::

    DATABASE_URL=postgres://root@127.0.0.1:5432/me .venv/bin/python benchmarks/bench_data_lines.py
    ... bench_data_lines.py --lines 1000000 --columns 20 --to-sql-lines 100000 --repeat 3

It measures, in one run, on one machine's input table (``Line_ID``, the five flags, and
``--columns`` dataset columns: three FLOAT for each LABEL):

- append: ``DynamicModel.append_dataframe(df)`` against ``psql \\copy ... FROM`` a CSV file of
  the same lines (written beforehand, not timed) and against ``DataFrame.to_sql(...,
  method="multi")`` through SQLAlchemy, EasyAutoML-Core's way (on ``--to-sql-lines`` lines:
  compared per line);
- read: ``Machine.read_data_lines_from_db()`` of every line into a DataFrame against
  ``psql \\copy (<the same SELECT>) TO`` a file.

Each timing is the best of ``--repeat`` runs; the table is emptied between runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _bench_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise SystemExit("error: set DATABASE_URL to a PostgreSQL database (postgres://...)")
    import psycopg2
    from psycopg2 import sql

    name = parts.path.lstrip("/") + "_lines_bench"
    admin = psycopg2.connect(url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()
    return urlunsplit(parts._replace(path="/" + name))


def _best(repeat: int, prepare: Any, run: Any) -> float:
    best = float("inf")
    for _ in range(repeat):
        prepare()
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--to-sql-lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("psql") is None:
        raise SystemExit("error: psql is not on PATH")

    url = _bench_url()
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    os.environ.setdefault("DEBUG", "false")
    import django

    django.setup()
    import numpy as np
    import pandas as pd
    from django.core.management import call_command
    from django.db import connections
    from sqlalchemy import create_engine

    from easyautoml_models.data_lines import FLAG_COLUMNS, _select
    from easyautoml_models.enums import DatasetColumnDataType as T
    from easyautoml_models.models import Machine, User

    call_command("migrate", verbosity=0)
    columns = {f"c{n:02d}": (T.LABEL if n % 4 == 3 else T.FLOAT) for n in range(args.columns)}
    user = User.objects.create_user(email="bench@example.com")
    machine = Machine.objects.create(
        machine_owner_user=user,
        machine_name="bench",
        dfr_columns_type_user_df=columns,
        mdc_columns_name_input_user_df=dict.fromkeys(columns, True),
    )
    model = machine.get_machine_data_input_lines_model()
    assert model is not None
    model.create_table()
    table = model._meta.db_table

    rng = np.random.default_rng(0)
    labels = np.array(["setosa", "versicolor", "virginica", 'unknown, "quoted"'], dtype=object)
    data: dict[str, Any] = {"Line_ID": np.arange(1, args.lines + 1)}
    for name, kind in columns.items():
        if kind is T.FLOAT:
            data[name] = rng.uniform(-1000, 1000, args.lines).round(4)
        else:
            data[name] = labels[rng.integers(0, len(labels), args.lines)]
    df = pd.DataFrame(data)
    flags = dict.fromkeys(FLAG_COLUMNS, False)
    full = df.assign(**flags)[["Line_ID", *FLAG_COLUMNS, *columns]]

    work = Path(tempfile.mkdtemp(prefix="lines_bench_"))
    csv_in = work / "lines.csv"
    full.to_csv(csv_in, index=False, header=False, na_rep="\\N")
    quoted = ", ".join(f'"{c}"' for c in full.columns)
    connection = connections["default"]

    def empty() -> None:
        model.truncate_table()

    def psql(command: str) -> None:
        subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c", command], check=True)

    t_ours = _best(args.repeat, empty, lambda: model.append_dataframe(df))
    t_copy = _best(
        args.repeat,
        empty,
        lambda: psql(
            f"\\copy \"{table}\" ({quoted}) FROM '{csv_in}' WITH (FORMAT csv, NULL '\\N')"
        ),
    )
    engine = create_engine(url.replace("postgres://", "postgresql+psycopg2://", 1))
    small = full.iloc[: args.to_sql_lines]
    t_to_sql = _best(
        1,
        empty,
        lambda: small.to_sql(table, engine, if_exists="append", index=False, method="multi"),
    )
    engine.dispose()

    empty()
    model.append_dataframe(df)
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{table}"')
    read_kwargs: dict[str, Any] = {"where_clause_dict": {"IsForLearning": False}}
    frame = machine.read_data_lines_from_db(**read_kwargs)
    assert len(frame) == args.lines
    t_read = _best(
        args.repeat, lambda: None, lambda: machine.read_data_lines_from_db(**read_kwargs)
    )
    queryset, _, _ = _select(
        machine, None, None, read_kwargs["where_clause_dict"], None, None, False, "default"
    )
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        select = cursor.cursor.mogrify(sql, params).decode()
    csv_out = work / "out.csv"
    t_copy_to = _best(
        args.repeat,
        lambda: None,
        lambda: psql(f"\\copy ({select}) TO '{csv_out}' WITH (FORMAT csv, NULL '\\N')"),
    )
    shutil.rmtree(work)

    per_line_to_sql = t_to_sql / len(small)
    per_line_ours = t_ours / args.lines
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(",")[0]
    print(f"{version}; {args.lines} lines x {args.columns} columns; best of {args.repeat}")
    rows = [
        ("append_dataframe (ours, COPY)", args.lines, t_ours, ""),
        (
            "psql \\copy FROM csv (reference)",
            args.lines,
            t_copy,
            f"ours / psql = {t_ours / t_copy:.2f} (target <= 1.5)",
        ),
        (
            "DataFrame.to_sql(method='multi') (EasyAutoML-Core)",
            len(small),
            t_to_sql,
            f"to_sql / ours per line = {per_line_to_sql / per_line_ours:.1f} (target >= 5)",
        ),
        ("read_data_lines_from_db (ours)", args.lines, t_read, ""),
        (
            "psql \\copy (same SELECT) TO csv (reference)",
            args.lines,
            t_copy_to,
            f"ours / psql = {t_read / t_copy_to:.2f} (target <= 1.5)",
        ),
    ]
    print("| measurement | lines | seconds | lines/s | ratio |")
    print("|---|--:|--:|--:|---|")
    for label, lines, seconds, ratio in rows:
        print(f"| {label} | {lines:,} | {seconds:.2f} | {lines / seconds:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
