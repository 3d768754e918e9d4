"""``manage.py gyro_export --jobs jobs.py -o DIR``: export a slice to CSV files."""

from __future__ import annotations

import argparse
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

from django_gyro.api import File, Postgres
from django_gyro.exceptions import GyroError
from django_gyro.export.export import export
from django_gyro.export.plan import plan
from django_gyro.jobs import ImportJob, load_jobs, validate_jobs
from django_gyro.planning import parse_slice


def add_database_arguments(parser: CommandParser, what: str) -> None:
    """``--database ALIAS`` / ``--database-url URL``: the same two options in every command."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--database",
        default=DEFAULT_DB_ALIAS,
        help=f"database alias {what} (default: default)",
    )
    where.add_argument(
        "--database-url",
        metavar="URL",
        help=f"postgres:// URL of the database {what}, instead of an alias",
    )


def database(options: dict[str, Any]) -> str:
    """The alias or URL the ``--database`` / ``--database-url`` options name."""
    return str(options.get("database_url") or options["database"])


class Command(BaseCommand):
    help = (
        "Export the jobs of a jobs file from PostgreSQL into CSV files plus manifest.json, as "
        "one consistent snapshot (COPY ... TO STDOUT in one REPEATABLE READ transaction)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--jobs",
            help="a Python file (path/to/jobs.py) or module (app.jobs) defining JOBS or jobs()",
        )
        add_database_arguments(parser, "to read")
        # Before the --database convention the source was --source (alias or URL).
        parser.add_argument("--source", help=argparse.SUPPRESS)
        parser.add_argument(
            "--root",
            help=(
                "plan the jobs from a root instead of --jobs: app.Model or "
                "app.Model:field=value[,field=value] (see django_gyro.plan_slice)"
            ),
        )
        parser.add_argument(
            "--cap",
            action="append",
            default=[],
            metavar="app.Model=N",
            help="with --root: keep the first N rows (by primary key) of a model; repeatable",
        )
        parser.add_argument(
            "--cap-per",
            action="append",
            default=[],
            metavar="app.Model=field:N[:order_by]",
            help="with --root: at most N rows per value of field, first by order_by; repeatable",
        )
        parser.add_argument(
            "--print-jobs",
            action="store_true",
            help="with --root: print the planned jobs as a jobs file; export nothing",
        )
        parser.add_argument(
            "--mask-salt-env",
            metavar="VAR",
            help="read the mask salt from environment variable VAR (default: GYRO_MASK_SALT)",
        )
        parser.add_argument(
            "-o",
            "--output",
            "--target",  # the option's earlier name; always a directory
            dest="output",
            help="directory to write the files into (required unless --plan)",
        )
        parser.add_argument(
            "--overwrite", action="store_true", help="replace files of a previous export"
        )
        parser.add_argument(
            "--plan",
            action="store_true",
            help="print each job's COPY statement and estimated rows; write nothing",
        )
        parser.add_argument(
            "--strict",
            action="store_true",
            help="fail (and write nothing) if exported foreign keys point to unexported rows",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="run the jobs on N connections sharing one snapshot (default 1: one after the "
            "other); the files are the same",
        )
        parser.add_argument(
            "--compress",
            choices=["gzip", "zstd"],
            default=None,
            help="store the files compressed (.csv.gz, .csv.zst; zstd needs zstandard)",
        )
        parser.add_argument(
            "--no-closure",
            action="store_true",
            help="skip the closure report (saves one anti-join query per foreign key)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity: int = options["verbosity"]
        log = self.stdout.write if verbosity >= 2 else None
        try:
            jobs = self._jobs(options)
            if jobs is None:
                return
            jobs = validate_jobs(jobs, log)
            salt = self._salt(options)
            source = Postgres(options["source"] or database(options))
            if options["plan"]:
                self._print_plan(source, jobs, salt)
                return
            if not options["output"]:
                raise CommandError("-o/--output DIR is required (or pass --plan)")
            result = export(
                source,
                File(
                    options["output"],
                    overwrite=options["overwrite"],
                    compress=options["compress"],
                ),
                jobs,
                progress=verbosity > 0 and self.stderr.isatty(),
                progress_file=self.stderr._out,
                strict=options["strict"],
                closure=not options["no_closure"],
                mask_salt=salt,
                workers=options["workers"],
            )
        except GyroError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:  # a full disk, a directory that vanished, ...
            raise CommandError(
                f"export to {options['output']} failed: {exc.strerror or exc}"
                + (f": {exc.filename}" if exc.filename else "")
                + "; no manifest was written, an earlier export there is unchanged"
            ) from exc
        if verbosity >= 2:
            self.stdout.write(result.table())
        if verbosity >= 1:
            rows = sum(job.rows for job in result.jobs)
            size = sum(job.bytes for job in result.jobs)
            self.stdout.write(
                self.style.SUCCESS(
                    f"exported {len(result.jobs)} job(s), {rows:,} rows, {size:,} bytes in "
                    f"{result.seconds:.2f} s to {result.directory}"
                )
            )
            if result.closure or verbosity >= 2:
                style = self.style.WARNING if result.closure else self.style.SUCCESS
                self.stdout.write(style(result.closure_report()))

    def _jobs(self, options: dict[str, Any]) -> list[ImportJob] | None:
        """The jobs of --jobs or of --root (None when --print-jobs printed them)."""
        if bool(options["jobs"]) == bool(options["root"]):
            raise CommandError("pass either --jobs FILE or --root app.Model[:field=value]")
        if not options["root"]:
            if options["cap"] or options["cap_per"] or options["print_jobs"]:
                raise CommandError("--cap, --cap-per and --print-jobs need --root")
            return load_jobs(options["jobs"])
        spec = parse_slice(options["root"], options["cap"], options["cap_per"])
        jobs = spec.plan()
        if options["print_jobs"]:
            self.stdout.write(spec.jobs_file(jobs), ending="")
            return None
        return jobs

    def _salt(self, options: dict[str, Any]) -> str | None:
        name = options["mask_salt_env"]
        if name is None:
            return None
        value = os.environ.get(name)
        if not value:
            raise CommandError(f"--mask-salt-env {name}: the environment variable is not set")
        return value

    def _print_plan(self, source: Postgres, jobs: list[ImportJob], salt: str | None) -> None:
        for job in plan(source, jobs, mask_salt=salt):
            self.stdout.write(
                f"-- job {job.index}: {job.model} -> {job.file} "
                f"(estimated {job.estimated_rows:,} rows)"
            )
            self.stdout.write(job.sql + ";")
