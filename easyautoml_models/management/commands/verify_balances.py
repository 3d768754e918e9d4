"""``manage.py verify_balances``: prove that every user's ledger sums to their balances."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

from easyautoml_models.ledger import iter_balance_mismatches


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
        verbosity = options["verbosity"]
        mismatches = 0
        for mismatch in iter_balance_mismatches(using=options["database"]):
            mismatches += 1
            if verbosity > 0:
                self.stderr.write(str(mismatch))
        if mismatches:
            raise CommandError(f"{mismatches} balance(s) do not match their ledger", returncode=1)
        if verbosity > 0:
            self.stdout.write(self.style.SUCCESS("every balance matches its ledger"))
