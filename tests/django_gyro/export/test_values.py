"""Every kind of value survives export -> file -> PostgreSQL's own CSV parser, unchanged.

Throw-away models with a UUID primary key, ``db_column`` names, a self-referential foreign key,
JSON, bytea, decimals, time zones and awkward text. The rows are exported with Gyro, the tables
emptied, the files loaded back with ``COPY ... FROM STDIN WITH (FORMAT CSV, HEADER)`` (what psql
``\\copy`` does), and the ORM must read back exactly what it wrote.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connections, models
from django.test.utils import isolate_apps

from django_gyro import DataSlicer, Importer, ImportJob, registry
from django_gyro.backend.copy import copy_from
from django_gyro.export.results import ExportResult
from tests.django_gyro.helpers import TRANSACTIONAL

pytestmark = [pytest.mark.postgresql, TRANSACTIONAL]

TEXTS = [
    "O'Brien",
    'say "hi", then leave',
    "line one\nline two\r\nline three",
    "",
    None,
    "Zürich 東京 🎉",
    "\\N",
    "NULL",
    ",",
    '"',
    "tab\there",
    "back\\slash",
    "  padded  ",
]


@pytest.fixture
def kinds(transactional_db: None) -> Iterator[dict[str, Any]]:
    with isolate_apps("tests.django_gyro"), registry.isolated():

        class Place(models.Model):  # noqa: DJ008
            id = models.UUIDField(primary_key=True, default=uuid.uuid4)
            label = models.CharField(max_length=100, db_column="Label Text")

            class Meta:
                app_label = "gyro"

        class Thing(models.Model):  # noqa: DJ008
            place = models.ForeignKey(Place, on_delete=models.CASCADE, db_column="PlaceRef")
            parent = models.ForeignKey("self", null=True, on_delete=models.CASCADE)
            text = models.TextField(null=True)
            short = models.CharField(max_length=50, blank=True, default="")
            data = models.JSONField(null=True)
            blob = models.BinaryField(null=True)
            amount = models.DecimalField(max_digits=30, decimal_places=10, null=True)
            moment = models.DateTimeField(null=True)
            day = models.DateField(null=True)
            flag = models.BooleanField(null=True)
            ratio = models.FloatField(null=True)
            token = models.UUIDField(null=True)
            span = models.DurationField(null=True)

            class Meta:
                app_label = "gyro"

        class PlaceImporter(Importer):
            model = Place

        class ThingImporter(Importer):
            model = Thing

            class Columns:
                place = Place
                parent = Thing

        connection = connections["default"]
        with connection.schema_editor() as editor:
            editor.create_model(Place)
            editor.create_model(Thing)
        try:
            yield {"Place": Place, "Thing": Thing}
        finally:
            with connection.schema_editor() as editor:
                editor.delete_model(Thing)
                editor.delete_model(Place)


UTC = UTC


def fill(Place: Any, Thing: Any) -> None:
    kolkata = timezone(timedelta(hours=5, minutes=30))
    places = [Place.objects.create(label=label) for label in ['Main, "HQ"', "Ünïcode ☃", ""]]
    root = None
    for i, text in enumerate(TEXTS):
        thing = Thing.objects.create(
            place=places[i % 3],
            parent=root,
            text=text,
            short=text or "",
            data=[
                {"a": [1, 2.5, None, "x,y"], "q": '"quoted"', "nl": "a\nb", "u": "ü"},
                "just a string",
                [],
                None,
                {"deep": {"k": text}},
            ][i % 5],
            blob=[b"\x00\x01\xff,\n\"'\\", b"", None, bytes(range(256))][i % 4],
            amount=[
                Decimal("-12345678901234567890.0123456789"),
                Decimal("0.0000000001"),
                Decimal("0"),
                None,
            ][i % 4],
            moment=[
                datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=kolkata),
                datetime(1970, 1, 1, tzinfo=UTC),
                None,
            ][i % 3],
            day=[date(1, 1, 1), date(9999, 12, 31), None][i % 3],
            flag=[True, False, None][i % 3],
            ratio=[1 / 3, -0.0, 1e-300, None][i % 4],
            token=[uuid.uuid4(), None][i % 2],
            span=[timedelta(days=-3, microseconds=7), None][i % 2],
        )
        root = root or thing  # every later row points to the first: a self-reference


UTC = UTC


def snapshot(model: Any) -> list[dict[str, Any]]:
    rows = []
    for row in model.objects.order_by("pk").values():
        rows.append(
            {
                key: bytes(value) if isinstance(value, memoryview) else value
                for key, value in row.items()
            }
        )
    return rows


def export(out: Path, jobs: list[ImportJob], **kwargs: Any) -> ExportResult:
    result: ExportResult = DataSlicer.run(
        source=DataSlicer.Postgres("default"),
        target=DataSlicer.File(out),
        jobs=jobs,
        progress=False,
        **kwargs,
    )
    return result


def load_back(path: Path, table: str) -> int:
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    connection = connections["default"]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(name) for name in header)
    with connection.cursor() as cursor, open(path, "rb") as handle:
        statement = f"COPY {quote(table)} ({columns}) FROM STDIN WITH (FORMAT CSV, HEADER)"
        copy_from(connection, statement, handle)
        cursor.execute(f"SELECT count(*) FROM {quote(table)}")
        count: int = cursor.fetchone()[0]
    return count


def test_every_value_kind_round_trips(kinds: dict[str, Any], tmp_path: Path) -> None:
    Place, Thing = kinds["Place"], kinds["Thing"]
    fill(Place, Thing)
    places, things = snapshot(Place), snapshot(Thing)
    result = export(tmp_path, [ImportJob(model=Place), ImportJob(model=Thing)])
    assert [r.rows for r in result.jobs] == [len(places), len(things)]
    assert result.closure == []
    # db_column names are the header; NULL and "" stay distinct in the file.
    text = result.jobs[1].path.read_text(encoding="utf-8")
    assert text.splitlines()[0].split(",")[:3] == ["id", "PlaceRef", "parent_id"]
    assert result.jobs[0].path.read_text(encoding="utf-8").splitlines()[0] == "id,Label Text"
    with connections["default"].cursor() as cursor:
        cursor.execute("TRUNCATE gyro_thing, gyro_place")
    assert Thing.objects.count() == 0
    assert load_back(result.jobs[0].path, "gyro_place") == len(places)
    assert load_back(result.jobs[1].path, "gyro_thing") == len(things)
    assert snapshot(Place) == places
    assert snapshot(Thing) == things
    # the comparison above is exact, including None vs "" and JSON null vs SQL NULL
    assert [row["text"] for row in snapshot(Thing)] == TEXTS


def test_filter_values_are_bound_by_the_driver(kinds: dict[str, Any], tmp_path: Path) -> None:
    Place, Thing = kinds["Place"], kinds["Thing"]
    fill(Place, Thing)
    first = Thing.objects.order_by("pk").first()
    assert first is not None
    hostile = "x'); DROP TABLE gyro_thing; --"
    cases: dict[str, Any] = {
        "quote": Thing.objects.filter(text="O'Brien"),
        "datetime": Thing.objects.filter(
            moment__gte=datetime(2024, 2, 29, 18, 29, 59, tzinfo=UTC)
        ),
        "uuid": Thing.objects.filter(place_id=first.place_id),
        "decimal": Thing.objects.filter(amount=Decimal("0.0000000001")),
        "json": Thing.objects.filter(data__contains={"q": '"quoted"'}),
        "hostile": Thing.objects.filter(text=hostile),
        "percent": Thing.objects.filter(text__contains="%"),
    }
    for name, query in cases.items():
        expected = sorted(str(pk) for pk in query.values_list("pk", flat=True))
        result = export(
            tmp_path / name,
            [ImportJob(model=Place), ImportJob(model=Thing, query=query)],
            closure=False,
        )
        with open(result.jobs[1].path, newline="", encoding="utf-8") as handle:
            got = sorted(row["id"] for row in csv.DictReader(handle))
        assert got == expected, name
        assert result.jobs[1].rows == len(expected)
    assert Thing.objects.count() == len(TEXTS)  # the hostile value did not drop anything
    assert len(sorted(Thing.objects.filter(text="O'Brien").values_list("pk"))) == 1


def test_self_reference_closure(kinds: dict[str, Any], tmp_path: Path) -> None:
    Place, Thing = kinds["Place"], kinds["Thing"]
    fill(Place, Thing)
    first = Thing.objects.order_by("pk").first()
    assert first is not None
    result = export(
        tmp_path,
        [ImportJob(model=Place), ImportJob(model=Thing, query=Thing.objects.exclude(pk=first.pk))],
    )
    assert len(result.closure) == 1
    issue = result.closure[0]
    assert (issue.job, issue.column, issue.parent) == ("gyro.Thing", "parent_id", "gyro.Thing")
    assert issue.rows == len(TEXTS) - 1
    assert issue.keys == 1
    assert issue.examples == [str(first.pk)]
