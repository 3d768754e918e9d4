"""Fixtures of the Gyro tests: committed data on the real test database.

An export reads through its own connection in its own transaction, so it only sees committed
rows: the tests that export are transactional (``TRANSACTIONAL``; the tables of the two Gyro
apps are emptied after each test) instead of running inside a rolled-back transaction.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connections

from gyro_example.demo_data import DemoSize, create_demo_data

#: Marker for tests whose data must be committed (the export connection must see it).
TRANSACTIONAL = pytest.mark.django_db(
    transaction=True, available_apps=["django_gyro", "gyro_example"]
)


@pytest.fixture
def demo(transactional_db: None) -> DemoSize:
    """The example shop's demo data (scale 1, two tenants), committed."""
    if connections["default"].vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    return create_demo_data("default", scale=1, tenants=2)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An export directory that does not exist yet."""
    return tmp_path / "export"
