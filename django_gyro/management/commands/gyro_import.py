"""``manage.py gyro_import DIR``: load an export into PostgreSQL in one transaction."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_gyro.exceptions import GyroError
from django_gyro.load.loader import load_export
from django_gyro.load.plan import STRATEGIES
from django_gyro.management.commands.gyro_export import add_database_arguments, database


def _pairs(values: list[str], option: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for value in values:
        label, sep, rest = value.partition("=")
        if not sep:
            result["*"] = value
        elif not label or not rest:
            raise CommandError(f"{option} expects LABEL=VALUE, got {value!r}")
        else:
            result[label] = rest
    return result


class Command(BaseCommand):
    help = (
        "Load an export directory (manifest.json + CSV files) into a PostgreSQL database in one "
        "transaction: files checked first, COPY into staging tables, keys kept, remapped, "
        "merged, skipped or updated, every constraint verified, sequences reset."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", help="the export directory (with manifest.json)")
        add_database_arguments(parser, "to load into")
        parser.add_argument(
            "--on-conflict",
            action="append",
            default=[],
            metavar="[LABEL=]STRATEGY",
            help=(
                f"what to do when a table already has rows: {', '.join(STRATEGIES)} (default "
                f"error). Repeat as app_label.Model=STRATEGY for one model."
            ),
        )
        parser.add_argument(
            "--natural-key",
            action="append",
            default=[],
            metavar="LABEL=FIELD[,FIELD]",
            help="fields that identify a row of a model for 'merge' (default: its first unique "
            "constraint)",
        )
        parser.add_argument(
            "--shared",
            action="append",
            default=[],
            metavar="LABEL.FIELD",
            help="a foreign key (app_label.Model.field) whose parent rows are shared: already in "
            "the target under the same keys, so they may be missing from the export (checked to "
            "exist). Repeat for several.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="do the whole load and every check, report, then roll back (sequences are not "
            "moved)",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="load even if this export was loaded into the database before (its rows were "
            "deleted since): a new load with its own key map",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity: int = options["verbosity"]
        strategies = _pairs(options["on_conflict"], "--on-conflict")
        on_conflict: Any = (
            strategies.get("*", "error") if list(strategies) in ([], ["*"]) else (strategies)
        )
        natural_keys = {
            label: tuple(part for part in fields.split(",") if part)
            for label, fields in _pairs(options["natural_key"], "--natural-key").items()
        }
        try:
            result = load_export(
                options["directory"],
                database(options),
                on_conflict=on_conflict,
                natural_keys=natural_keys or None,
                shared=options["shared"],
                dry_run=options["dry_run"],
                force=options["force"],
                progress=verbosity > 0 and self.stderr.isatty(),
                progress_file=getattr(self.stderr, "_out", None),
                log=self.stdout.write if verbosity >= 2 else None,
            )
        except GyroError as exc:
            raise CommandError(str(exc)) from exc
        if verbosity >= 2 or (verbosity >= 1 and result.dry_run):
            for report in result.models:
                self.stdout.write(f"  {report.line()} (keys: {report.keys})")
        if verbosity >= 1:
            style = self.style.WARNING if result.dry_run else self.style.SUCCESS
            self.stdout.write(style(result.summary()))
