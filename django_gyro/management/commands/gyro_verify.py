"""``manage.py gyro_verify DIR``: compare an export with what was loaded from it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_gyro.exceptions import GyroError
from django_gyro.load.verify import verify_export
from django_gyro.management.commands.gyro_export import add_database_arguments, database


class Command(BaseCommand):
    help = (
        "Compare an export directory with the rows loaded from it into a database: row counts "
        "per model, foreign-key integrity, and a content hash that ignores remapped keys. "
        "Exits with status 1 on any difference. Changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", help="the export directory (with manifest.json)")
        add_database_arguments(parser, "that was loaded")
        parser.add_argument(
            "--load", type=int, help="id of the load to compare with (default: the latest)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity: int = options["verbosity"]
        try:
            result = verify_export(
                options["directory"],
                database(options),
                load_id=options["load"],
            )
        except GyroError as exc:
            raise CommandError(str(exc)) from exc
        lines = result.lines()
        if verbosity >= 1:
            for line in lines[:-1]:
                self.stdout.write(line)
        if not result.ok:
            raise CommandError(lines[-1], returncode=1)
        if verbosity >= 1:
            self.stdout.write(self.style.SUCCESS(lines[-1]))
