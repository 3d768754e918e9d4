"""The export's file sink: key columns collected from CSV chunks cut anywhere."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter

import pytest

from django_gyro.export.sink import KeyScanner


def sample_csv(rows: int, seed: int) -> tuple[bytes, list[list[str]]]:
    """PostgreSQL-style CSV (quoted only when needed, NULL as an empty field) and its rows."""
    chooser = random.Random(seed)
    texts = ["plain", "a,b", 'say "hi"', "two\nlines", "", 'Crème, "brûlée"\r\n', "x"]
    table = []
    for n in range(1, rows + 1):
        parent = "" if n % 7 == 0 else str(chooser.randint(1, 40))
        table.append([str(n), chooser.choice(texts), parent, chooser.choice(texts)])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "name", "parent_id", "note"])
    writer.writerows(table)
    return buffer.getvalue().encode(), table


@pytest.mark.parametrize("seed", range(5))
def test_scanner_reads_keys_whatever_the_chunks(seed: int) -> None:
    data, table = sample_csv(500, seed)
    scanner = KeyScanner(4, count=[2], collect=[0], limit=1000)
    chooser = random.Random(seed)
    position = 0
    while position < len(data):
        step = chooser.choice([1, 2, 7, 64, 500, 4096])
        scanner.feed(data[position : position + step])
        position += step
    scanner.close()
    assert scanner.counts[2] == Counter(row[2].encode() for row in table)
    assert scanner.sets[0] == {row[0].encode() for row in table}
    assert not scanner.overflow


def test_scanner_drops_a_column_over_its_limit() -> None:
    data, table = sample_csv(200, 1)
    scanner = KeyScanner(4, count=[2], collect=[0], limit=50)
    scanner.feed(data)
    scanner.close()
    assert scanner.overflow == {0}  # 200 distinct ids > 50; 41 parent values (with NULL) fit
    assert 0 not in scanner.sets
    assert scanner.counts[2] == Counter(row[2].encode() for row in table)
