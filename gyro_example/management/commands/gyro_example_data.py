"""``manage.py gyro_example_data --scale N``: create the example shop's demo data."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

from gyro_example.demo_data import (
    DemoDataExists,
    create_demo_data,
    delete_demo_data,
    tenant_subdomains,
)


class Command(BaseCommand):
    help = (
        "Create demo tenants, shops, products, customers, orders and order items with set-based "
        "SQL (PostgreSQL). About 7,200 order items per tenant per unit of --scale."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scale", type=int, default=1, help="size multiplier, >= 1 (default 1)"
        )
        parser.add_argument(
            "--tenants", type=int, default=2, help="number of tenants, >= 1 (default 2)"
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="delete the demo tenants and all their rows first",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="database alias to fill (default: default)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        scale, tenants, using = options["scale"], options["tenants"], options["database"]
        if scale < 1:
            raise CommandError(f"--scale must be at least 1, got {scale}")
        if tenants < 1:
            raise CommandError(f"--tenants must be at least 1, got {tenants}")
        verbosity = options["verbosity"]
        started = time.perf_counter()
        if options["reset"]:
            deleted = delete_demo_data(using, tenant_subdomains(max(tenants, 50)))
            if verbosity >= 2:
                self.stdout.write(f"deleted {deleted} demo tenant(s) and their rows")
        try:
            size = create_demo_data(using, scale=scale, tenants=tenants)
        except (DemoDataExists, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if verbosity >= 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"created {size.tenants} tenants, {size.shops} shops, {size.products:,} "
                    f"products, {size.customers:,} customers, {size.orders:,} orders, "
                    f"{size.order_items:,} order items in {time.perf_counter() - started:.1f} s"
                )
            )
