"""Concurrent appends to one machine's data table from 4 processes on a SQLite file.

Run by ``test_data_lines.py::test_concurrent_appends_from_processes_on_a_sqlite_file``:
``python sqlite_data_lines.py DB`` migrates ``DB``, creates a machine and its tables, starts 4
writer processes (``python sqlite_data_lines.py DB writer MACHINE_ID SEED``) that each append
3 frames of 500 lines without ``Line_ID``, and prints one JSON object with the outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _setup(path: str) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()


def writer(path: str, machine_id: int, seed: int) -> None:
    _setup(path)
    import numpy as np
    import pandas as pd

    from easyautoml_models.models import Machine

    model = Machine.objects.get(pk=machine_id).get_machine_data_input_lines_model()
    assert model is not None
    rng = np.random.default_rng(seed)
    for _ in range(3):
        model.append_dataframe(pd.DataFrame({"x": rng.uniform(0, 1, 500), "label": "w"}))


def main(path: str) -> dict[str, Any]:
    _setup(path)
    from django.core.management import call_command

    from tests.easyautoml_models import ml_style

    call_command("migrate", verbosity=0)
    machine = ml_style.create_machine(
        "sqlite@example.com", "concurrent", {"x": ml_style.FLOAT, "label": ml_style.LABEL}, {}
    )
    writers = [
        subprocess.Popen(
            [sys.executable, __file__, path, "writer", str(machine.pk), str(seed)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(4)
    ]
    errors = [p.communicate()[1] for p in writers if p.wait() != 0]
    model = machine.get_machine_data_input_lines_model()
    assert model is not None
    ids = list(model.objects.values_list("Line_ID", flat=True))
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute(f'SELECT DISTINCT typeof("x") FROM "{model._meta.db_table}"')
        types = sorted(row[0] for row in cursor.fetchall())
    return {
        "errors": errors,
        "ids": len(ids),
        "distinct": len(set(ids)),
        "max": max(ids),
        "types": types,
    }


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "writer":
        writer(sys.argv[1], int(sys.argv[3]), int(sys.argv[4]))
    else:
        print(json.dumps(main(sys.argv[1])))
