"""``manage.py gyro_demo``: the end-to-end demo that ``./run demo`` runs after ``migrate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_gyro import DataSlicer, GyroError
from django_gyro.exporting import ExportResult
from gyro_example.jobs import jobs


def _default_directory() -> Path:
    return Path(getattr(settings, "BASE_DIR", Path.cwd())) / "var" / "gyro-demo" / "export"


class Command(BaseCommand):
    help = (
        "Create small demo data, export the seed's slice of the demo tenant with "
        "gyro_example/jobs.py into var/gyro-demo/export, and print the per-job results."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale", type=int, default=1, help="demo data size (default 1: seconds)"
        )
        parser.add_argument(
            "--output",
            "-o",
            type=Path,
            default=None,
            help="export directory (default: var/gyro-demo/export; replaced on every run)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory = options["output"] or _default_directory()
        self.create_data(options["scale"], options["verbosity"])
        result = self.export(directory, options["verbosity"])
        self.report(result, options["verbosity"])

    def create_data(self, scale: int, verbosity: int) -> None:
        """Recreate the demo tenants (``gyro_example_data --reset``)."""
        call_command(
            "gyro_example_data", scale=scale, reset=True, verbosity=verbosity, stdout=self.stdout
        )

    def export(self, directory: Path, verbosity: int) -> ExportResult:
        """Export the seed's slice into ``directory`` (overwriting a previous demo)."""
        try:
            result: ExportResult = DataSlicer.run(
                source=DataSlicer.Postgres("default"),
                target=DataSlicer.File(directory, overwrite=True),
                jobs=jobs(),
                progress=verbosity > 0 and self.stderr.isatty(),
                progress_file=self.stderr._out,
            )
        except GyroError as exc:
            raise CommandError(str(exc)) from exc
        return result

    def report(self, result: ExportResult, verbosity: int) -> None:
        """Print the per-job table and the closure report."""
        if verbosity < 1:
            return
        self.stdout.write(f"exported the demo slice to {result.directory}:")
        self.stdout.write(result.table())
        self.stdout.write(result.closure_report())
        self.stdout.write(self.style.SUCCESS(f"manifest: {result.manifest}"))
