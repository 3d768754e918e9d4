"""A load killed midway leaves the target exactly as it was (one transaction, no trace)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connections, transaction

from settings.database import BASE_DIR
from tests.django_gyro.helpers import DB, populate, snapshot, url_of

pytestmark = [pytest.mark.postgresql, DB]


def _wait(alias: str, query: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    with connections[alias].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(query)
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {query}")


@pytest.mark.parametrize(
    ("table", "mode", "statement"),
    [
        # Blocked while lifting the foreign keys: some are dropped already.
        ("gyro_example_orderitem", "ACCESS SHARE", "ALTER TABLE"),
        # Blocked while recording the load: every row is in, constraints re-added, sequences set.
        ("django_gyro_load", "SHARE", "INSERT INTO"),
    ],
)
def test_killed_load_leaves_the_target_unchanged(
    export_dir: Path, target: str, table: str, mode: str, statement: str
) -> None:
    populate(target, "other", export_dir)  # remap: keys allocated, FKs rewritten, etc.
    before = snapshot(target)
    database = connections[target].settings_dict["NAME"]
    command = [
        sys.executable,
        "manage.py",
        "gyro_import",
        str(export_dir),
        "--database-url",
        url_of(target),
        "--on-conflict",
        "remap",
        "--verbosity",
        "0",
    ]
    with transaction.atomic(using=target):
        with connections[target].cursor() as cursor:
            # Table and mode are fixed strings of this test, not input.
            cursor.execute(f"LOCK TABLE {table} IN {mode} MODE")
        process = subprocess.Popen(
            command, cwd=BASE_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            _wait(
                target,
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = "
                f"'{database}' AND wait_event_type = 'Lock' AND query LIKE '{statement}%')",
            )
        finally:
            process.kill()
            process.wait(timeout=30)
    assert process.returncode != 0
    # The server rolls back once it notices the client is gone.
    _wait(
        target,
        f"SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = '{database}' "
        "AND pid <> pg_backend_pid())",
    )
    assert snapshot(target) == before
