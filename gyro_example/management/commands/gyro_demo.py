"""``manage.py gyro_demo``: the end-to-end demo that ``./run demo`` runs after ``migrate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_gyro import DataSlicer, GyroError
from django_gyro.checks import check_importers
from django_gyro.export.results import ExportResult
from django_gyro.load.verify import verify_export
from gyro_example.jobs import jobs
from gyro_example.models import Tenant
from gyro_example.targets import (
    create_database,
    database_url,
    migrate_target,
    sibling_url,
    target_alias,
)


def _default_directory() -> Path:
    return Path(getattr(settings, "BASE_DIR", Path.cwd())) / "var" / "gyro-demo" / "export"


def _default_target() -> str:
    """The alias ``target`` if configured, else ``<default name>_gyro_target`` (created).

    The second database lives on the server of ``default``, with its credentials.
    """
    if "target" in settings.DATABASES:
        return "target"
    name = f"{settings.DATABASES['default']['NAME']}_gyro_target"
    url = sibling_url(database_url("default"), name)
    create_database(url)
    return url


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
        parser.add_argument(
            "--target",
            default=None,
            help="database (alias or postgres:// URL) to load the export into with remap "
            "(default: DATABASE_URL_TARGET, else <default database>_gyro_target, created)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory = options["output"] or _default_directory()
        self.create_data(options["scale"], options["verbosity"])
        self.personal_columns(options["verbosity"])
        result = self.export(directory, options["verbosity"])
        self.report(result, options["verbosity"])
        self.load(directory, options["target"], options["verbosity"])

    def create_data(self, scale: int, verbosity: int) -> None:
        """Recreate the demo tenants (``gyro_example_data --reset``)."""
        call_command(
            "gyro_example_data", scale=scale, reset=True, verbosity=verbosity, stdout=self.stdout
        )

    def personal_columns(self, verbosity: int) -> None:
        """Print the columns the system check found personal and unmasked (``gyro.W002``)."""
        found = [m for m in check_importers() if m.id == "gyro.W002"]
        if verbosity < 1 or not found:
            return
        self.stdout.write(
            self.style.WARNING(
                f"gyro.W002: {len(found)} personal-looking column(s) are exported unmasked "
                f"(the example's Importers are the seed's; see README, Masking):"
            )
        )
        for message in found:
            self.stdout.write(f"  {message.msg}")

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

    def load(self, directory: Path, target: str | None, verbosity: int) -> None:
        """Load the export into a second, migrated database that already has data; verify."""
        try:
            target = target or _default_target()
            migrate_target(target)
            with target_alias(target) as alias:
                if not Tenant.objects.using(alias).exists():  # a QA copy with its own data
                    call_command("gyro_example_data", database=alias, tenants=1, verbosity=0)
            # Tenants are matched by subdomain, everything else gets new keys: re-running the
            # demo adds another copy of the slice under the same tenant, never a duplicate key.
            loaded = DataSlicer.run(
                source=DataSlicer.File(directory),
                target=DataSlicer.Postgres(target),
                on_conflict={"gyro_example.Tenant": "merge", "*": "remap"},
                progress=verbosity > 0 and self.stderr.isatty(),
                progress_file=self.stderr._out,
            )
            verification = verify_export(directory, target)
        except GyroError as exc:
            raise CommandError(str(exc)) from exc
        if verbosity >= 1:
            self.stdout.write(f"loaded the slice into {loaded.target} (remap):")
            for report in loaded.models:
                self.stdout.write(f"  {report.line()}")
            self.stdout.write("gyro_verify:")
            for line in verification.lines()[:-1]:
                self.stdout.write(f"  {line}")
        if not verification.ok:
            raise CommandError(verification.lines()[-1])
        if verbosity >= 1:
            self.stdout.write(self.style.SUCCESS(verification.lines()[-1]))
