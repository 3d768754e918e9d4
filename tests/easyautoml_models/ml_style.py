"""An ML module written the way EasyAutoML-Core's ``ML/*.py`` use the models.

Everything goes through ``EasyAutoMLDBModels`` and its ``logger``, as ``ML/Machine.py`` does;
the tests in ``test_data_lines.py`` drive it.
"""

from __future__ import annotations

from typing import Any

from easyautoml_models.EasyAutoMLDBModels import EasyAutoMLDBModels
from easyautoml_models.enums import DatasetColumnDataType

_db = EasyAutoMLDBModels()
logger = _db.logger


def create_machine(owner_email: str, name: str, inputs: dict[str, Any], outputs: dict[str, Any]):
    """A machine with typed input and output columns, and its two data tables."""
    user = _db.User.objects.get_or_create(
        email=owner_email, defaults={"first_name": "ML", "last_name": "Tester"}
    )[0]
    machine = _db.Machine(
        machine_owner_user=user,
        machine_name=name,
        machine_level=1,
        dfr_columns_type_user_df={**inputs, **outputs},
        mdc_columns_name_input_user_df=dict.fromkeys(inputs, True),
        mdc_columns_name_output_user_df=dict.fromkeys(outputs, True),
        mdc_columns_data_type=None,
    )
    machine.save()
    with _db.connections["default"].schema_editor() as editor:  # as ML/Machine.py does
        editor.create_model(machine.get_machine_data_input_lines_model())
        editor.create_model(machine.get_machine_data_output_lines_model())
    logger.info("machine %s created with its data tables", machine.id)
    return machine


def store_dataframe(machine: Any, df: Any, inputs: list[str], outputs: list[str]) -> int:
    """Append ``df`` (index = Line_ID) to the machine's input and output tables."""
    input_model = machine.get_machine_data_input_lines_model()
    output_model = machine.get_machine_data_output_lines_model()
    last = input_model.objects.latest("Line_ID").Line_ID if input_model.objects.exists() else 0
    frame = df.copy()
    frame.index = range(last + 1, last + 1 + len(frame))
    frame.index.name = "Line_ID"
    try:
        input_model.append_dataframe(frame[inputs])
        output_model.append_dataframe(frame[outputs])
    except Exception as exc:  # ML/Machine.py catches, logs and re-raises
        logger.error("append_dataframe failed: %s", exc)
        raise
    return len(frame)


def mark_for_learning(machine: Any, every: int) -> int:
    """Flag one line in ``every`` for learning, the rest for evaluation."""
    input_model = machine.get_machine_data_input_lines_model()
    ids = [i for i in input_model.objects.values_list("Line_ID", flat=True) if i % every == 0]
    marked = input_model.mark_lines("IsForLearning", True, list_with_ids=ids)
    input_model.mark_lines("IsForEvaluation", True, where_clause={"IsForLearning": False})
    return marked


def learning_lines(machine: Any, sort_by: str, limit: int | None = None) -> Any:
    return machine.read_data_lines_from_db(
        where_clause_dict={"IsForLearning": True, "with_reserved_columns": True},
        sort_by=sort_by,
        rows_count_limit=limit,
    )


def count_for(machine: Any, **flags: bool) -> int:
    return machine.get_machine_data_input_lines_model().objects.filter(**flags).count()


def drop_tables(machine: Any) -> None:
    machine.get_machine_data_output_lines_model().delete_table()
    machine.get_machine_data_input_lines_model().delete_table()


FLOAT = DatasetColumnDataType.FLOAT
LABEL = DatasetColumnDataType.LABEL
DATE = DatasetColumnDataType.DATE
