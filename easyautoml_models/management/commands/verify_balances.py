"""``manage.py verify_balances``: prove that every user's ledger sums to their balances."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from tqdm import tqdm

from easyautoml_models.ledger import checks_count, iter_balance_mismatches


class Command(BaseCommand):
    help = (
        "Check that credits minus debits equal user_balance and user_ixioo_balance for every "
        "user; list each user where they do not and exit with status 1."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="Database alias to check (default: %(default)s).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity, using = options["verbosity"], options["database"]
        if using not in connections:
            raise CommandError(
                f"unknown database alias {using!r}; configured: {list(connections)}"
            )
        mismatches = 0
        show_progress = verbosity > 0 and self.stderr.isatty()
        with tqdm(
            total=checks_count(using) if show_progress else 0,
            disable=not show_progress,
            file=self.stderr,
            unit="balance",
            desc="verify_balances",
        ) as bar:
            for mismatch in iter_balance_mismatches(using=using, progress=bar.update):
                mismatches += 1
                if verbosity > 0:
                    bar.write(str(mismatch), file=self.stderr)
        if mismatches:
            raise CommandError(f"{mismatches} balance(s) do not match their ledger", returncode=1)
        if verbosity > 0:
            self.stdout.write(self.style.SUCCESS("every balance matches its ledger"))
        if verbosity > 1:
            self.stdout.write(f"checked {checks_count(using)} balances on {using!r}")
