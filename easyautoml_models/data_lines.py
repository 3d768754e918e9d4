"""Per-machine data tables: where a machine's dataset lines live.

Each saved :class:`~easyautoml_models.models.Machine` has two tables, named as in
EasyAutoML-Core so an existing database's tables are adopted:

- ``Machine_<id>_DataInputLines``: ``Line_ID`` (``bigint`` primary key), the flags
  ``IsForLearning``, ``IsForSolving``, ``IsForEvaluation``, ``IsLearned``, ``IsSolved``, then one
  column per input column of the machine (truthy keys of ``mdc_columns_name_input_user_df``),
  typed from ``dfr_columns_type_user_df`` through :data:`TYPE_MAPPING`;
- ``Machine_<id>_DataOutputLines``: ``Line_ID`` (the input line, no database constraint), then
  the output columns.

:func:`input_lines_model` / :func:`output_lines_model`
(``Machine.get_machine_data_input_lines_model()`` and ``..._output_lines_model()``) return
Django model classes for them. The classes live in a private app registry per machine and
column configuration: they never touch the project's registry or migrations, and changing a
machine's columns gives new classes (EasyAutoML-Core kept the first classes for the life of the
process).

The classes are :class:`DynamicModel` subclasses: ``create_table()``, ``append_dataframe(df)``
(``COPY`` on PostgreSQL, batched ``INSERT`` elsewhere), ``mark_lines()``, ``truncate_table()``,
``delete_table()``, and the ORM (``objects.filter(IsForLearning=True).count()``, ...). Errors
raise; nothing is logged and swallowed. Identifiers are quoted by the backend and values are
parameters; SQL text is refused where EasyAutoML-Core took a ``where_clause`` string.

DataFrames need pandas: install the ``dataframes`` extra.
"""

from __future__ import annotations

import io
import itertools
import math
import os
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.apps.registry import Apps
from django.core.management.color import no_style
from django.db import connections, models, router, transaction
from django.db.models import F, Q
from django.utils import timezone

from easyautoml_models.conf import decimal_places, max_digits
from easyautoml_models.exceptions import RawSQLRefused

if TYPE_CHECKING:
    import pandas

    from easyautoml_models.models import Machine

__all__ = [
    "FLAG_COLUMNS",
    "INPUT_PREDEFINED_COLUMNS",
    "OUTPUT_PREDEFINED_COLUMNS",
    "TYPE_MAPPING",
    "DynamicModel",
    "create_data_tables",
    "create_dynamic_model",
    "create_model",
    "get_model_fields_by_names_types",
    "input_lines_model",
    "output_lines_model",
    "read_lines",
]

#: The flag columns of every input table, in EasyAutoML-Core's order.
FLAG_COLUMNS = ("IsForLearning", "IsForSolving", "IsForEvaluation", "IsLearned", "IsSolved")
INPUT_PREDEFINED_COLUMNS = ("Line_ID", *FLAG_COLUMNS)
OUTPUT_PREDEFINED_COLUMNS = ("Line_ID",)
#: ``where`` dict keys EasyAutoML-Core's ``read_data_lines_from_db`` dropped.
_IGNORED_WHERE_KEYS = frozenset({"with_reserved_columns", "offset", ""})
#: Characters a column name may not hold: quoting and parameter markers cannot escape them on
#: every backend, so such names are refused instead of pasted.
_FORBIDDEN_IN_NAMES = ('"', "`", "%", "\x00")
_BATCH_ROWS = 5_000
_COPY_CHUNK_ROWS = 50_000


def _decimal_field() -> models.Field[Any, Any]:
    return models.DecimalField(null=True, max_digits=max_digits(), decimal_places=decimal_places())


#: Column type name (``DatasetColumnDataType`` member name) -> field factory, as in
#: EasyAutoML-Core's ``models/machine.py``; missing or unknown types get a ``TextField``.
TYPE_MAPPING: dict[str, Callable[[], models.Field[Any, Any]]] = {
    "LABEL": lambda: models.TextField(null=True),
    "LANGUAGE": lambda: models.TextField(null=True),
    "JSON": lambda: models.TextField(null=True),
    "IGNORE": lambda: models.TextField(null=True),
    "FLOAT": _decimal_field,
    "DATE": lambda: models.DateField(null=True),
    "TIME": lambda: models.TimeField(null=True),
    "DATETIME": lambda: models.DateTimeField(null=True),
}


def _type_name(value: Any) -> str:
    name = getattr(value, "name", value)
    return name if isinstance(name, str) else ""


def check_column_name(name: Any) -> str:
    """Return ``name`` if it can be a column of a data table, else raise ``ValueError``."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a data-table column needs a non-empty string name, not {name!r}")
    bad = [c for c in _FORBIDDEN_IN_NAMES if c in name]
    if bad:
        raise ValueError(
            f"column name {name!r} contains {', '.join(map(repr, bad))}: not allowed in a "
            "data-table column name (rename the DataFrame column)"
        )
    return name


def get_model_fields_by_names_types(
    columns: Iterable[str], types: dict[str, Any] | None
) -> dict[str, models.Field[Any, Any]]:
    """``{column: field}`` for ``columns``, typed from ``types`` (names or enum members).

    EasyAutoML-Core's ``_get_model_fields_by_names_types(columns, types)``.
    """
    types = types or {}
    fields: dict[str, models.Field[Any, Any]] = {}
    for column in columns:
        factory = TYPE_MAPPING.get(_type_name(types.get(column)), TYPE_MAPPING["LABEL"])
        fields[check_column_name(column)] = factory()
    return fields


# The model classes -------------------------------------------------------------------------


class DynamicModel(models.Model):
    """Base of the per-machine data-table models (EasyAutoML-Core's ``DynamicModel``)."""

    #: The machine's primary key.
    machine_pk: ClassVar[int]
    #: Dataset column name -> field name (they differ when a name is not a Python identifier).
    data_columns: ClassVar[dict[str, str]]
    #: Dataset column name -> column type name (``"FLOAT"``, ...).
    data_column_types: ClassVar[dict[str, str]]

    objects: ClassVar[models.Manager[Any]] = models.Manager()

    class Meta:
        abstract = True

    @classmethod
    def _alias(cls, using: str | None = None) -> str:
        return using or router.db_for_write(cls)

    @classmethod
    def table_exists(cls, using: str | None = None) -> bool:
        """Whether the table is in the database."""
        connection = connections[cls._alias(using)]
        return cls._meta.db_table in connection.introspection.table_names()

    @classmethod
    def create_table(cls, using: str | None = None) -> bool:
        """Create the table and its indexes with Django's schema editor, unless it exists.

        On SQLite Django's schema editor cannot run inside ``transaction.atomic()``.

        Returns:
            Whether the table was created.
        """
        if cls.table_exists(using):
            return False
        with connections[cls._alias(using)].schema_editor() as editor:
            editor.create_model(cls)
        return True

    @classmethod
    def delete_table(cls, using: str | None = None) -> bool:
        """Drop the table (EasyAutoML-Core's ``DROP TABLE``); no-op when it does not exist.

        Returns:
            Whether a table was dropped.
        """
        if not cls.table_exists(using):
            return False
        with connections[cls._alias(using)].schema_editor() as editor:
            editor.delete_model(cls)
        return True

    @classmethod
    def truncate_table(cls, using: str | None = None) -> None:
        """Delete every line: ``TRUNCATE`` where the backend has it (Django's ``sql_flush``)."""
        alias = cls._alias(using)
        connection = connections[alias]
        statements = connection.ops.sql_flush(no_style(), [cls._meta.db_table])
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)

    @classmethod
    def field_name(cls, column: str) -> str:
        """The model field of a column name (predefined or dataset column).

        Raises:
            ValueError: no such column in this table.
        """
        if column in cls.data_columns:
            return cls.data_columns[column]
        try:
            field = cls._meta.get_field(column)
        except Exception:
            field = None
        if field is None or not getattr(field, "concrete", False):
            known = [f.column for f in cls._meta.concrete_fields]
            raise ValueError(f"table {cls._meta.db_table} has no column {column!r} (has {known})")
        return field.name

    @classmethod
    def filter_q(cls, where: Any) -> Q:
        """A ``Q`` from ``None``, a dict of ``{column: value}`` or a ``Q``; SQL text is refused.

        In a dict, the keys EasyAutoML-Core ignored (``with_reserved_columns``, ``offset``,
        ``""``) are dropped; other keys must be columns of the table.
        """
        if where is None:
            return Q()
        if isinstance(where, Q):
            return where
        if isinstance(where, str):
            raise RawSQLRefused(
                f"SQL text is not accepted as a filter ({where[:60]!r}): pass a dict such as "
                "{'IsForLearning': True} or a django.db.models.Q object, e.g. "
                "Q(IsForLearning=True) & ~Q(IsLearned=True)"
            )
        if isinstance(where, dict):
            return Q(
                **{
                    cls.field_name(str(key)): value
                    for key, value in where.items()
                    if key not in _IGNORED_WHERE_KEYS
                }
            )
        raise TypeError(f"a filter is a dict or a Q object, not {type(where).__name__}")

    @classmethod
    def mark_lines(
        cls,
        field_name_to_set: str,
        field_value_to_set: Any,
        where_clause: Any = None,
        list_with_ids: Sequence[int] | None = None,
        using: str | None = None,
    ) -> int:
        """Set one column on the lines matching ``where_clause`` and/or ``list_with_ids``.

        Args:
            field_name_to_set: a column of the table, e.g. ``"IsForLearning"``.
            field_value_to_set: its new value (a parameter, converted by the field).
            where_clause: None (every line), a dict ``{column: value}`` or a ``Q``; SQL text
                raises :class:`~easyautoml_models.exceptions.RawSQLRefused`.
            list_with_ids: only these ``Line_ID`` values.

        Returns:
            The number of lines changed.

        Raises:
            ValueError: unknown column, or SQL text as ``where_clause``.
        """
        alias = cls._alias(using)
        target = cls.field_name(field_name_to_set)
        queryset = cls._base_manager.using(alias).filter(cls.filter_q(where_clause))
        if list_with_ids is None:
            return queryset.update(**{target: field_value_to_set})
        ids = list(list_with_ids)
        changed = 0
        with transaction.atomic(using=alias):
            for start in range(0, len(ids), 10_000):
                chunk = ids[start : start + 10_000]
                changed += queryset.filter(pk__in=chunk).update(**{target: field_value_to_set})
        return changed

    @classmethod
    def append_dataframe(cls, df: pandas.DataFrame, using: str | None = None) -> int:
        """Append the lines of ``df``; see :func:`append_lines`."""
        return append_lines(cls, df, using=using)


# Class construction and the class cache -----------------------------------------------------

_cache: dict[tuple[Any, ...], tuple[type[DynamicModel], type[DynamicModel]]] = {}
_cache_lock = threading.Lock()


def create_model(
    name: str,
    fields: dict[str, models.Field[Any, Any]],
    *,
    registry: Apps,
    app_label: str = "easyautoml_models_data",  # _APP_LABEL
    options: dict[str, Any] | None = None,
    bases: tuple[type[models.Model], ...] = (DynamicModel,),
) -> type[DynamicModel]:
    """Build a model class ``name`` with ``fields`` in ``registry`` (never Django's own).

    Field names that are not Python identifiers (or would shadow a model attribute) get a
    ``column_<n>`` field name and keep the column name as ``db_column``.
    """
    attrs: dict[str, Any] = {"__module__": __name__}
    data_columns: dict[str, str] = {}
    reserved = set(dir(models.Model)) | {
        "objects",
        "pk",
        "DoesNotExist",
        "MultipleObjectsReturned",
    }
    for number, (column, field) in enumerate(fields.items()):
        usable = column.isidentifier() and "__" not in column and column not in reserved
        attribute = column if usable else f"column_{number}"
        if not usable:
            field.db_column = column
        attrs[attribute] = field
        data_columns[column] = attribute
    meta = {"app_label": app_label, "apps": registry, "db_table": name, **(options or {})}
    attrs["Meta"] = type("Meta", (), meta)
    model: Any = type(name, bases, attrs)
    model.data_columns = data_columns
    model.data_column_types = {}
    return model


#: EasyAutoML-Core's name for :func:`create_model`.
create_dynamic_model = create_model


_APP_LABEL = "easyautoml_models_data"


def _registry() -> Apps:
    """A private app registry with one app, so relations between its models resolve."""
    from django.db.migrations.state import AppConfigStub

    registry = Apps(installed_apps=())
    stub = AppConfigStub(_APP_LABEL)
    stub.apps = registry
    stub.models = registry.all_models[_APP_LABEL]
    registry.app_configs[_APP_LABEL] = stub
    return registry


def _signature(machine: Machine) -> tuple[Any, ...]:
    types = machine.dfr_columns_type_user_df or {}
    inputs = machine.get_machine_data_input_lines_list_columns()
    outputs = machine.get_machine_data_output_lines_list_columns()
    return (
        machine.pk,
        tuple((c, _type_name(types.get(c))) for c in inputs),
        tuple((c, _type_name(types.get(c))) for c in outputs),
        max_digits(),
        decimal_places(),
    )


def _build(machine: Machine, signature: tuple[Any, ...]) -> tuple[type[DynamicModel], ...]:
    pk = machine.pk
    types = machine.dfr_columns_type_user_df or {}
    inputs = [c for c, _ in signature[1]]
    outputs = [c for c, _ in signature[2]]
    clash = set(inputs) & set(INPUT_PREDEFINED_COLUMNS) | set(outputs) & {"Line_ID"}
    if clash:
        raise ValueError(f"machine {pk}: dataset columns {sorted(clash)} clash with reserved ones")
    registry = _registry()
    input_fields: dict[str, models.Field[Any, Any]] = {
        "Line_ID": models.BigIntegerField(primary_key=True, db_column="Line_ID"),
        **{flag: models.BooleanField(default=False, db_default=False) for flag in FLAG_COLUMNS},
        **get_model_fields_by_names_types(inputs, types),
    }
    input_name = f"Machine_{pk}_DataInputLines"
    input_model = create_model(
        input_name,
        input_fields,
        registry=registry,
        options={
            "indexes": [
                models.Index(fields=["Line_ID"], name=f"Machine_{pk}_Line_ID"),
                *(
                    models.Index(fields=[flag], name=f"Machine_{pk}_{flag}")
                    for flag in FLAG_COLUMNS
                ),
            ]
        },
    )
    output_fields: dict[str, models.Field[Any, Any]] = {
        "Line_ID": models.ForeignKey(
            input_model,
            on_delete=models.CASCADE,
            db_constraint=False,
            primary_key=True,
            db_column="Line_ID",
            related_name="output_line",
        ),
        **get_model_fields_by_names_types(outputs, types),
    }
    output_model = create_model(
        f"Machine_{pk}_DataOutputLines",
        output_fields,
        registry=registry,
        options={
            "indexes": [models.Index(fields=["Line_ID"], name=f"Machine_{pk}_LineOutput_ID")]
        },
    )
    for model, columns in ((input_model, inputs), (output_model, outputs)):
        model.machine_pk = pk
        model.data_column_types = {c: _type_name(types.get(c)) or "LABEL" for c in columns}
        model.data_columns = {
            c: f for c, f in model.data_columns.items() if c in model.data_column_types
        }
    return input_model, output_model


def _models(machine: Machine) -> tuple[type[DynamicModel], type[DynamicModel]]:
    if machine.pk is None:
        raise ValueError("a machine has data tables only once it is saved")
    signature = _signature(machine)
    with _cache_lock:
        found = _cache.get(signature)
        if found is None:
            for key in [k for k in _cache if k[0] == machine.pk]:
                del _cache[key]  # the machine's columns changed: forget the old classes
            built = _build(machine, signature)
            found = _cache[signature] = (built[0], built[1])
    return found


def input_lines_model(machine: Machine) -> type[DynamicModel]:
    """The model of ``Machine_<id>_DataInputLines`` for the machine's current columns."""
    return _models(machine)[0]


def output_lines_model(machine: Machine) -> type[DynamicModel]:
    """The model of ``Machine_<id>_DataOutputLines`` for the machine's current columns."""
    return _models(machine)[1]


def create_data_tables(machine: Machine, using: str | None = None) -> None:
    """Create both tables of ``machine`` (input first) if they do not exist."""
    input_lines_model(machine).create_table(using)
    output_lines_model(machine).create_table(using)


def forget_models(machine_pk: Any) -> None:
    """Drop the cached classes of a machine (called when a machine is deleted)."""
    with _cache_lock:
        for key in [k for k in _cache if k[0] == machine_pk]:
            del _cache[key]


# Appending -----------------------------------------------------------------------------------


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            "easyautoml_models data tables need pandas: "
            "pip install 'django-data-toolkit[dataframes]'"
        ) from exc
    return pandas


def _lock_machine(model: type[DynamicModel], alias: str) -> None:
    """Serialize appends to one machine's tables until the transaction ends.

    ``SELECT ... FOR UPDATE`` on the machine row where the backend has it; on SQLite an
    ``UPDATE`` of that row, which takes the database's write lock at once (a deferred
    transaction would read first and fail to upgrade under a concurrent writer).
    """
    from easyautoml_models.models import Machine

    connection = connections[alias]
    rows = Machine._base_manager.using(alias).filter(pk=model.machine_pk)
    if connection.features.has_select_for_update:
        list(rows.select_for_update().values_list("pk", flat=True))
    else:
        rows.update(machine_name=F("machine_name"))


def _prepared_frame(model: type[DynamicModel], df: Any, alias: str) -> tuple[Any, list[str]]:
    """The frame to write (``Line_ID`` first, every flag present) and its column names."""
    pd = _pandas()
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"append_dataframe() takes a pandas DataFrame, not {type(df).__name__}")
    is_input = "IsForLearning" in {f.column for f in model._meta.concrete_fields}
    known = {f.column: f for f in model._meta.concrete_fields}
    frame = df
    if "Line_ID" not in frame.columns and frame.index.name == "Line_ID":
        frame = frame.reset_index()
    unknown = [str(c) for c in frame.columns if c not in known]
    if unknown:
        raise ValueError(
            f"columns {unknown} are not columns of {model._meta.db_table} "
            f"(its columns: {list(known)})"
        )
    frame = frame.copy(deep=False)
    if "Line_ID" not in frame.columns:
        if not is_input:
            raise ValueError(
                f"{model._meta.db_table}: output lines need a Line_ID column (or index) naming "
                "their input lines"
            )
        last = model._base_manager.using(alias).aggregate(m=models.Max("Line_ID"))["m"] or 0
        frame.insert(0, "Line_ID", range(last + 1, last + 1 + len(frame)))
    if is_input:
        for flag in FLAG_COLUMNS:
            if flag in frame.columns:
                frame[flag] = frame[flag].fillna(False).astype(bool)
            else:
                frame[flag] = False
    for column, type_name in model.data_column_types.items():
        if column not in frame.columns:
            continue
        if type_name == "DATETIME":
            values = pd.to_datetime(frame[column])
            if values.dt.tz is None and timezone.is_aware(timezone.now()):
                values = values.dt.tz_localize(timezone.get_default_timezone())
            frame[column] = values
        elif type_name == "FLOAT" and frame[column].dtype != "float64":
            frame[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
    columns = [str(c) for c in frame.columns]
    return frame[columns], columns


def _arrow() -> Any:
    """pyarrow's CSV module when installed (the ``dataframes`` extra), else None.

    Its C++ CSV writer and reader are about ten times faster than pandas' for numbers, and
    they tell NULL (unquoted empty) from an empty string (``""``) as PostgreSQL's CSV does.
    """
    try:
        import pyarrow
        import pyarrow.csv
    except ImportError:
        return None
    return pyarrow


class _CsvStream(io.RawIOBase):
    """A file object COPY reads from, writing the frame as CSV one chunk at a time.

    PostgreSQL parses one chunk while the next is being formatted here. With pyarrow the
    NULL marker is the unquoted empty field; with pandas alone it is ``\\N``.
    """

    def __init__(self, frame: Any, arrow: Any) -> None:
        if arrow is not None:
            table = arrow.Table.from_pandas(frame, preserve_index=False)
            options = arrow.csv.WriteOptions(include_header=False)

            def render(start: int) -> bytes:
                sink = io.BytesIO()
                arrow.csv.write_csv(table.slice(start, _COPY_CHUNK_ROWS), sink, options)
                return sink.getvalue()

        else:

            def render(start: int) -> bytes:
                chunk = frame.iloc[start : start + _COPY_CHUNK_ROWS]
                text = chunk.to_csv(
                    index=False, header=False, na_rep="\\N", date_format=_PANDAS_DATE_FORMAT
                )
                return bytes(text.encode())

        # Chunks are rendered by a thread (pyarrow releases the GIL) while COPY sends the
        # previous ones; at most a few chunks wait in the queue.
        self._queue: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=3)
        self._stop = threading.Event()
        self._buffer = b""
        self._offset = 0
        self._done = False
        starts = range(0, len(frame), _COPY_CHUNK_ROWS)
        self._thread = threading.Thread(
            target=self._produce, args=(render, starts), name="csv-for-copy", daemon=True
        )
        self._thread.start()

    def _put(self, item: bytes | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, render: Callable[[int], bytes], starts: range) -> None:
        try:
            for start in starts:
                if not self._put(render(start)):
                    return
            self._put(None)
        except BaseException as exc:
            self._put(exc)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        parts: list[bytes] = []
        wanted = size if size >= 0 else None
        while wanted is None or wanted > 0:
            if self._offset >= len(self._buffer):
                if self._done:
                    break
                item = self._queue.get()
                if item is None:
                    self._done = True
                    break
                if isinstance(item, BaseException):
                    self._done = True
                    raise item
                self._buffer, self._offset = item, 0
            end = len(self._buffer) if wanted is None else self._offset + wanted
            piece = self._buffer[self._offset : end]
            self._offset += len(piece)
            parts.append(piece)
            if wanted is not None:
                wanted -= len(piece)
        return b"".join(parts)

    def close(self) -> None:
        self._stop.set()
        super().close()


_PANDAS_DATE_FORMAT = "%Y-%m-%d %H:%M:%S.%f%z"


def _copy_postgresql(
    model: type[DynamicModel], frame: Any, columns: list[str], alias: str
) -> None:
    connection = connections[alias]
    qn = connection.ops.quote_name
    arrow = _arrow()
    null = "" if arrow is not None else "\\N"
    sql = (
        f"COPY {qn(model._meta.db_table)} ({', '.join(qn(c) for c in columns)}) "
        f"FROM STDIN WITH (FORMAT csv, NULL '{null}')"
    )
    stream = _CsvStream(frame, arrow)
    try:
        # Django's wrapper turns the driver's errors into django.db's (DataError, ...).
        with connection.cursor() as cursor, connection.wrap_database_errors:
            cursor.cursor.copy_expert(sql, stream, size=1 << 20)
    finally:
        stream.close()


def _python_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        return value.item()
    return value


def _temporal_converter(field: Any, connection: Any, pd: Any) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value is None or pd.isna(value):
            return None
        return field.get_db_prep_save(_python_value(value), connection)

    return convert


def _insert_batches(model: type[DynamicModel], frame: Any, columns: list[str], alias: str) -> None:
    pd = _pandas()
    connection = connections[alias]
    qn = connection.ops.quote_name
    fields = {f.column: f for f in model._meta.concrete_fields}
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    converters: list[Callable[[Any], Any]] = []
    for column in columns:
        field = fields[column]
        if isinstance(field, models.DateTimeField | models.DateField | models.TimeField):
            converters.append(_temporal_converter(field, connection, pd))
        else:
            converters.append(_python_value)
    rows = frame.astype(object).itertuples(index=False, name=None)
    with connection.cursor() as cursor:
        while batch := list(itertools.islice(rows, _BATCH_ROWS)):
            cursor.executemany(
                sql, [[conv(v) for conv, v in zip(converters, row, strict=True)] for row in batch]
            )


def append_lines(model: type[DynamicModel], df: Any, using: str | None = None) -> int:
    """Append the lines of ``df`` to ``model``'s table, in one transaction.

    - The columns of ``df`` must be columns of the table (an unknown one raises ``ValueError``
      before anything is written); missing flags are False, missing data columns NULL.
    - ``Line_ID`` comes from a ``Line_ID`` column or index; without one, input lines get the
      next free ids: the machine row is locked for the transaction (``SELECT ... FOR UPDATE``,
      or the write lock on SQLite), so concurrent appends never pick the same ids.
    - PostgreSQL: one ``COPY ... FROM STDIN`` fed by CSV chunks; other backends: ``INSERT``
      batches of 5,000 rows through ``executemany``.

    Returns:
        The number of lines appended.
    """
    alias = model._alias(using)
    if len(df) == 0:
        return 0
    with transaction.atomic(using=alias):
        _lock_machine(model, alias)
        frame, columns = _prepared_frame(model, df, alias)
        if connections[alias].vendor == "postgresql":
            _copy_postgresql(model, frame, columns, alias)
        else:
            _insert_batches(model, frame, columns, alias)
    return len(frame)


# Reading -------------------------------------------------------------------------------------


def _select(
    machine: Machine,
    input_columns: list[str] | None,
    output_columns: list[str] | None,
    where: Any,
    sort_by: str | None,
    rows_count_limit: int | None,
    is_random: bool,
    alias: str,
) -> tuple[Any, list[str], dict[str, str]]:
    """The queryset of a read, its result column names and their types."""
    input_model, output_model = _models(machine)
    if not input_columns and not output_columns:
        input_columns = machine.get_machine_data_input_lines_list_columns()
        output_columns = machine.get_machine_data_output_lines_list_columns()
    input_columns, output_columns = list(input_columns or []), list(output_columns or [])
    types: dict[str, str] = {}
    if input_columns:
        base: type[DynamicModel] = input_model
        paths = [input_model.field_name(c) for c in input_columns]
        joined = "output_line__" if output_columns else ""
        paths += [joined + output_model.field_name(c) for c in output_columns]

        def lookup(column: str) -> str:
            if column in output_model.data_columns and column not in input_model.data_columns:
                return "output_line__" + output_model.field_name(column)
            return input_model.field_name(column)

    else:
        base = output_model
        paths = [output_model.field_name(c) for c in output_columns]

        def lookup(column: str) -> str:
            if column in output_model.data_columns or column == "Line_ID":
                return output_model.field_name(column)
            return "Line_ID__" + input_model.field_name(column)

    for column in input_columns:
        types[column] = input_model.data_column_types.get(column, "FLAG")
    for column in output_columns:
        types[column] = output_model.data_column_types.get(column, "FLAG")
    if isinstance(where, dict):
        where = Q(**{lookup(str(k)): v for k, v in where.items() if k not in _IGNORED_WHERE_KEYS})
    queryset = base._base_manager.using(alias).filter(base.filter_q(where))
    if is_random:
        queryset = queryset.order_by("?")
    elif sort_by:
        descending = sort_by.startswith("-")
        path = lookup(sort_by.removeprefix("-"))
        queryset = queryset.order_by(("-" if descending else "") + path)
    else:
        queryset = queryset.order_by()
    queryset = queryset.values_list(*paths)
    if rows_count_limit is not None:
        if (
            isinstance(rows_count_limit, bool)
            or not isinstance(rows_count_limit, int)
            or rows_count_limit < 0
        ):
            raise ValueError(f"rows_count_limit must be an integer >= 0, not {rows_count_limit!r}")
        queryset = queryset[:rows_count_limit]
    return queryset, input_columns + output_columns, types


def _typed_frame(frame: Any, types: dict[str, str]) -> Any:
    pd = _pandas()
    for column, type_name in types.items():
        if type_name == "FLOAT":
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        elif type_name == "FLAG":
            frame[column] = (
                frame[column]
                .map(
                    lambda v: (
                        v if isinstance(v, bool) or v is None else v in (1, "t", "true", "True")
                    )
                )
                .astype(bool)
            )
        elif type_name == "DATETIME":
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
        elif type_name == "DATE":
            frame[column] = pd.to_datetime(frame[column]).dt.date
        elif type_name in _TEXT_TYPES:  # None for NULL, never NaN (pandas 3 infers "str")
            values = frame[column].astype(object)
            frame[column] = values.where(values.notna(), None)
    return frame


def read_lines(
    machine: Machine,
    *,
    input_columns: list[str] | None = None,
    output_columns: list[str] | None = None,
    where: Any = None,
    sort_by: str | None = None,
    rows_count_limit: int | None = None,
    is_random: bool = False,
    using: str | None = None,
) -> pandas.DataFrame:
    """Read data lines of ``machine`` into a DataFrame (``Machine.read_data_lines_from_db``).

    Args:
        input_columns, output_columns: the columns to read. Both: the input table ``LEFT
            JOIN`` the output table on ``Line_ID``; only outputs: the output table; neither:
            every dataset column of both.
        where: None, a dict ``{column: value}`` (AND-ed; the keys ``with_reserved_columns``,
            ``offset`` and ``""`` are ignored, as in EasyAutoML-Core) or a ``Q`` on the base
            table's field names. SQL text raises
            :class:`~easyautoml_models.exceptions.RawSQLRefused`.
        sort_by: a column, ``"-column"`` for descending.
        rows_count_limit: at most this many lines.
        is_random: random order (the backend's ``RANDOM()``/``RAND()``); wins over ``sort_by``.

    Returns:
        A DataFrame with a RangeIndex and exactly the selected columns; FLOAT columns are
        ``float64``, flags ``bool``.
    """
    pd = _pandas()
    alias = using or router.db_for_read(type(machine))
    queryset, names, types = _select(
        machine, input_columns, output_columns, where, sort_by, rows_count_limit, is_random, alias
    )
    connection = connections[alias]
    sql, params = queryset.query.sql_with_params()
    if connection.vendor == "postgresql":
        frame = _copy_to_frame(connection, sql, params, names, types)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        frame = pd.DataFrame.from_records(rows, columns=names)
    return _typed_frame(frame, types)


_TEXT_TYPES = ("LABEL", "LANGUAGE", "JSON", "IGNORE", "TIME")


def _copy_to_frame(
    connection: Any, sql: str, params: Any, names: list[str], types: dict[str, str]
) -> Any:
    """PostgreSQL: ``COPY (<the SELECT>) TO STDOUT`` as CSV, parsed into a DataFrame.

    The driver quotes the parameters into the statement (COPY takes none). The rows go through
    a pipe to a parser thread, so parsing runs while PostgreSQL is still sending.
    """
    pd = _pandas()
    arrow = _arrow() if len(set(names)) == len(names) else None
    text_columns = [n for n in names if types[n] in _TEXT_TYPES]
    if arrow is not None:
        column_types = {n: arrow.string() for n in text_columns}
        column_types.update({n: arrow.float64() for n in names if types[n] == "FLOAT"})
        column_types.update({n: arrow.bool_() for n in names if types[n] == "FLAG"})

        def parse(stream: Any) -> Any:
            first = stream.peek(1)[:1]
            if not first:  # no line at all: pyarrow refuses an empty file
                return pd.DataFrame({n: pd.Series(dtype=object) for n in names})
            return arrow.csv.read_csv(
                stream,
                read_options=arrow.csv.ReadOptions(column_names=names),
                # A line of one NULL column is an empty line: it is still a line.
                parse_options=arrow.csv.ParseOptions(ignore_empty_lines=False),
                convert_options=arrow.csv.ConvertOptions(
                    column_types=column_types,
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    true_values=["t"],
                    false_values=["f"],
                ),
            ).to_pandas()

        null = ""
    else:

        def parse(stream: Any) -> Any:
            if not stream.peek(1)[:1]:  # no line at all
                return pd.DataFrame({n: pd.Series(dtype=object) for n in names})
            return pd.read_csv(
                stream,
                header=None,
                names=names,
                na_values=["\\N"],
                keep_default_na=False,
                skip_blank_lines=False,
                dtype=dict.fromkeys(text_columns, object),
                true_values=["t"],
                false_values=["f"],
            )

        null = "\\N"
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        query = raw.mogrify(sql, params).decode()
        statement = f"COPY ({query}) TO STDOUT WITH (FORMAT csv, NULL '{null}')"
        return _copy_out_through_parser(raw, statement, parse)


def _copy_out_through_parser(raw: Any, statement: str, parse: Callable[[Any], Any]) -> Any:
    """Run ``COPY ... TO STDOUT`` into a pipe whose other end ``parse`` reads in a thread."""
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "rb")
    writer = os.fdopen(write_fd, "wb", buffering=1 << 20)
    outcome: dict[str, Any] = {}

    def consume() -> None:
        try:
            outcome["frame"] = parse(reader)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            reader.close()  # a writer still writing gets BrokenPipeError

    thread = threading.Thread(target=consume, name="copy-out-parser", daemon=True)
    thread.start()
    try:
        try:
            raw.copy_expert(statement, writer)
        finally:
            try:
                writer.close()  # end of file for the parser
            except BrokenPipeError:
                pass
    except BrokenPipeError:
        pass  # the parser stopped first: its error is the one to report
    finally:
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["frame"]
