"""``manage.py requeue_stale_work``: put work abandoned by dead servers back in the queue."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from easyautoml_models.models import Work


class Command(BaseCommand):
    help = (
        "Requeue processing work items whose server sent no heartbeat for the lease timeout "
        "(items on their last attempt are failed instead). Run it from cron or a scheduler."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            help="Seconds without heartbeat (default: EASYAUTOML_WORK_LEASE_TIMEOUT).",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="Database alias (default: %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        using = options["database"]
        if using not in connections:
            raise CommandError(
                f"unknown database alias {using!r}; configured: {list(connections)}"
            )
        try:
            count = Work.objects.using(using).requeue_stale(timeout=options["timeout"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["verbosity"] > 0:
            self.stdout.write(self.style.SUCCESS(f"requeued {count} stale work item(s)"))
