"""Per-machine data tables, used as EasyAutoML-Core's ML code uses them (``ml_style.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.db import connections
from django.db.models import Q

from easyautoml_models.exceptions import RawSQLRefused
from easyautoml_models.models import EasyAutoMLLogger, Machine
from tests.easyautoml_models import ml_style
from tests.easyautoml_models.helpers import flush_easyautoml_logger

pytestmark = pytest.mark.django_db(transaction=True)

INPUTS = {"SepalLength": ml_style.FLOAT, "Species": ml_style.LABEL, "Seen": ml_style.DATE}
OUTPUTS = {"PetalWidth": ml_style.FLOAT}


@pytest.fixture
def machine() -> Iterator[Machine]:
    machine = ml_style.create_machine("ml@example.com", "iris", INPUTS, OUTPUTS)
    yield machine
    ml_style.drop_tables(machine)


def _frame(lines: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    length = rng.uniform(4, 8, lines).round(3)
    length[::97] = np.nan
    species = rng.choice(["setosa", "versicolor", 'it\'s "odd", yes'], lines).astype(object)
    species[::101] = None
    return pd.DataFrame(
        {
            "SepalLength": length,
            "Species": species,
            "Seen": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(lines) % 365, "D"),
            "PetalWidth": rng.uniform(0, 3, lines).round(4),
        }
    )


def test_the_ml_workflow_end_to_end(machine: Machine) -> None:
    lines = 100_000
    df = _frame(lines)
    assert ml_style.store_dataframe(machine, df, list(INPUTS), list(OUTPUTS)) == lines
    assert ml_style.count_for(machine) == lines
    assert ml_style.mark_for_learning(machine, every=4) == lines // 4
    assert ml_style.count_for(machine, IsForLearning=True) == lines // 4
    assert ml_style.count_for(machine, IsForEvaluation=True) == lines - lines // 4

    read = ml_style.learning_lines(machine, sort_by="-SepalLength")
    assert list(read.columns) == [*INPUTS, *OUTPUTS]
    assert isinstance(read.index, pd.RangeIndex) and len(read) == lines // 4
    expected = df.iloc[3::4]  # Line_ID 4, 8, ... are rows 3, 7, ...
    assert read["SepalLength"].dtype == np.float64
    got = read["SepalLength"].dropna()
    assert got.is_monotonic_decreasing
    assert got.sum() == pytest.approx(expected["SepalLength"].dropna().sum())
    assert read["SepalLength"].isna().sum() == expected["SepalLength"].isna().sum()
    assert sorted(read["Species"].dropna()) == sorted(expected["Species"].dropna())
    assert read["Species"].isna().sum() == expected["Species"].isna().sum()
    assert read["PetalWidth"].sum() == pytest.approx(expected["PetalWidth"].sum())

    top = ml_style.learning_lines(machine, sort_by="PetalWidth", limit=10)
    assert len(top) == 10 and top["PetalWidth"].is_monotonic_increasing
    assert top["PetalWidth"].iloc[0] == pytest.approx(expected["PetalWidth"].min())

    ml_style.logger.error("machine %s: %s learning lines", machine.id, len(read))
    flush_easyautoml_logger()
    assert EasyAutoMLLogger.objects.filter(
        level="ERROR", message=f"machine {machine.id}: {len(read)} learning lines"
    ).exists()


def test_orm_use_of_the_classes(machine: Machine) -> None:
    ml_style.store_dataframe(machine, _frame(20), list(INPUTS), list(OUTPUTS))
    model = machine.get_machine_data_input_lines_model()
    assert model is not None and model._meta.db_table == f"Machine_{machine.pk}_DataInputLines"
    assert model.objects.latest("Line_ID").Line_ID == 20
    line = model.objects.get(Line_ID=5)
    line.IsSolved = True
    line.save()
    assert model.objects.filter(IsSolved=True).count() == 1
    with pytest.raises(model.DoesNotExist):
        model.objects.get(Line_ID=999)
    output = machine.get_machine_data_output_lines_model()
    assert output is not None and output.objects.get(Line_ID=5).Line_ID_id == 5


def test_the_original_indexes_and_a_frame_without_line_ids(machine: Machine) -> None:
    model = machine.get_machine_data_input_lines_model()
    assert model is not None
    connection = connections["default"]
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    names = set(constraints)
    for flag in ("Line_ID", "IsForLearning", "IsForSolving", "IsForEvaluation", "IsLearned"):
        assert f"Machine_{machine.pk}_{flag}" in names
    model.append_dataframe(_frame(5)[list(INPUTS)])  # no Line_ID: the next free ids
    model.append_dataframe(_frame(3)[list(INPUTS)])
    assert list(model.objects.order_by("Line_ID").values_list("Line_ID", flat=True)) == list(
        range(1, 9)
    )


def test_sql_text_is_refused_with_what_to_pass_instead(machine: Machine) -> None:
    model = machine.get_machine_data_input_lines_model()
    assert model is not None
    with pytest.raises(RawSQLRefused, match=r"pass a dict such as \{'IsForLearning': True\}"):
        model.mark_lines("IsSolved", True, where_clause="WHERE 1=1; DROP TABLE machine")
    with pytest.raises(ValueError, match="SQL text is not accepted"):
        machine.read_data_lines_from_db(where_clause_dict="IsForLearning = 1")
    with pytest.raises(ValueError, match="has no column 'Nope'"):
        model.mark_lines("Nope", True)
    with pytest.raises(ValueError, match=r"columns \['Extra'\] are not columns"):
        model.append_dataframe(pd.DataFrame({"Extra": [1]}))
    ml_style.store_dataframe(machine, _frame(10), list(INPUTS), list(OUTPUTS))
    assert model.mark_lines("IsSolved", True, where_clause=Q(Line_ID__lte=3)) == 3
    assert ml_style.count_for(machine, IsSolved=True) == 3
    read = machine.read_data_lines_from_db(
        input_columns=["Species"], where_clause_dict=Q(IsSolved=True), sort_by="Species"
    )
    assert list(read.columns) == ["Species"] and len(read) == 3


def test_a_column_name_with_a_quote_is_refused(user: Any) -> None:
    machine = Machine.objects.create(
        machine_owner_user=user,
        machine_name="quotes",
        mdc_columns_name_input_user_df={'bad"name': True},
    )
    with pytest.raises(ValueError, match="not allowed in a data-table column name"):
        machine.get_machine_data_input_lines_model()


def test_columns_change_gives_new_classes(machine: Machine) -> None:
    first = machine.get_machine_data_input_lines_model()
    assert machine.get_machine_data_input_lines_model() is first  # cached
    machine.mdc_columns_name_input_user_df = {**machine.mdc_columns_name_input_user_df, "New": 1}
    machine.save()
    second = machine.get_machine_data_input_lines_model()
    assert first is not None and second is not None and second is not first
    assert "New" in {f.column for f in second._meta.concrete_fields}
    assert "New" not in {f.column for f in first._meta.concrete_fields}


def test_truncate_and_delete(machine: Machine) -> None:
    ml_style.store_dataframe(machine, _frame(50), list(INPUTS), list(OUTPUTS))
    model = machine.get_machine_data_input_lines_model()
    assert model is not None
    model.truncate_table()
    assert model.objects.count() == 0
    assert model.delete_table() is True
    assert model.delete_table() is False  # already gone
    assert not model.table_exists()
    assert model.create_table() is True


def test_concurrent_appends_never_share_line_ids(machine: Machine) -> None:
    connection: Any = connections["default"]
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("threads need a file database on SQLite")
    model = machine.get_machine_data_input_lines_model()
    assert model is not None
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def append(seed: int) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                model.append_dataframe(_frame(500, seed)[list(INPUTS)])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=append, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ids = list(model.objects.values_list("Line_ID", flat=True))
    assert sorted(ids) == list(range(1, 6001))


@pytest.mark.skipif(
    connections["default"].vendor != "sqlite", reason="the SQLite run of CI covers it"
)
def test_concurrent_appends_from_processes_on_a_sqlite_file(tmp_path: Any) -> None:
    """4 writer processes, each with its own connection to one SQLite file (see the script)."""
    script = Path(__file__).with_name("sqlite_data_lines.py")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "lines.sqlite3")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {
        "errors": [],
        "ids": 6000,
        "distinct": 6000,
        "max": 6000,
        "types": ["real"],  # FLOAT columns hold REAL values, not text
    }


@pytest.mark.parametrize("with_pyarrow", [True, False])
def test_null_and_empty_strings_round_trip(
    machine: Machine, monkeypatch: pytest.MonkeyPatch, with_pyarrow: bool
) -> None:
    """NULL stays NULL and "" stays "", with pyarrow's CSV or pandas' alone."""
    from easyautoml_models import data_lines

    if not with_pyarrow:
        monkeypatch.setattr(data_lines, "_arrow", lambda: None)
    model = machine.get_machine_data_input_lines_model()
    assert model is not None
    frame = pd.DataFrame(
        {"Species": ["", None, "a,b", 'say "hi"', "x"], "SepalLength": [1.5, np.nan, 0, -2, 3]}
    )
    model.append_dataframe(frame)
    stored = list(model.objects.order_by("Line_ID").values_list("Species", flat=True))
    assert stored == ["", None, "a,b", 'say "hi"', "x"]
    read = machine.read_data_lines_from_db(input_columns=["Species"], sort_by="Line_ID")
    assert list(read["Species"]) == ["", None, "a,b", 'say "hi"', "x"]
    both = machine.read_data_lines_from_db(
        input_columns=["Species", "SepalLength"], sort_by="Line_ID"
    )
    assert both["SepalLength"].isna().tolist() == [False, True, False, False, False]


def test_a_failed_append_writes_nothing(machine: Machine) -> None:
    model = machine.get_machine_data_input_lines_model()
    assert model is not None
    ml_style.store_dataframe(machine, _frame(10), list(INPUTS), list(OUTPUTS))
    with pytest.raises(ValueError):
        model.append_dataframe(pd.DataFrame({"SepalLength": [1.0, "not a number"]}))
    assert model.objects.count() == 10


@pytest.mark.postgresql
def test_an_error_in_the_middle_of_copy_writes_nothing(machine: Machine) -> None:
    """numeric(20, 8) holds 12 integer digits: line 150,001 makes PostgreSQL abort the COPY."""
    from django.db import DataError

    model = machine.get_machine_data_input_lines_model()
    assert model is not None
    values = np.ones(200_000)
    values[150_000] = 1e15
    with pytest.raises(DataError, match="numeric field overflow"):
        model.append_dataframe(pd.DataFrame({"SepalLength": values}))
    assert model.objects.count() == 0
    assert model.append_dataframe(pd.DataFrame({"SepalLength": [2.5]})) == 1


@pytest.mark.parametrize("with_pyarrow", [True, False])
def test_reading_no_lines_gives_an_empty_frame_with_the_columns(
    machine: Machine, monkeypatch: pytest.MonkeyPatch, with_pyarrow: bool
) -> None:
    from easyautoml_models import data_lines

    if not with_pyarrow:
        monkeypatch.setattr(data_lines, "_arrow", lambda: None)
    read = machine.read_data_lines_from_db(where_clause_dict={"IsForLearning": True})
    assert list(read.columns) == [*INPUTS, *OUTPUTS] and len(read) == 0
