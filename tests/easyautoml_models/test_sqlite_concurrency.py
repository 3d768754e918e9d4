"""Acceptance checks 1 and 6 on file-based SQLite (threads, each with its own connection)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connections

pytestmark = pytest.mark.skipif(
    connections["default"].vendor != "sqlite", reason="the SQLite run of CI covers it"
)


def test_concurrent_debits_and_claims_on_a_sqlite_file(tmp_path: Path) -> None:
    script = Path(__file__).with_name("sqlite_concurrency.py")
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "concurrency.sqlite3")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["debits"] == {"ok": 14, "refused": 6}  # floor(100 / 7) = 14
    assert outcome["balance"] == "2.00000000"
    assert outcome["tenth_debits"] == {"ok": 3, "refused": 1}  # 0.3 - 3 x 0.1 is exactly 0
    assert outcome["tenths_balance"] == "0E-8"
    assert outcome["debit_rows"] == 14
    assert outcome["mismatches"] == []
    assert outcome["claim_errors"] == []
    assert outcome["claims"] == outcome["distinct_claims"] == 100
    assert outcome["processing"] == 100
