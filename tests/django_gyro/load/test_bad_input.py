"""Every bad input gets a clear error naming what is wrong, and the target stays untouched."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connections

from django_gyro import registry
from django_gyro.exceptions import (
    BadDataError,
    IntegrityViolation,
    LoadError,
    ManifestError,
    SchemaMismatchError,
)
from django_gyro.load.loader import load_export
from tests.django_gyro.helpers import DB, database_name, populate, rewrite_file, snapshot, url_of

pytestmark = [pytest.mark.postgresql, DB]

ITEMS = "gyro_example_orderitem.csv"


@pytest.fixture
def broken(export_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the export, to be damaged by the test."""
    copy = tmp_path / "broken"
    shutil.copytree(export_dir, copy)
    return copy


def _manifest(directory: Path) -> dict[str, Any]:
    return dict(json.loads((directory / "manifest.json").read_text()))


def _write_manifest(directory: Path, data: dict[str, Any]) -> None:
    (directory / "manifest.json").write_text(json.dumps(data))


def _job(data: dict[str, Any], file: str) -> dict[str, Any]:
    return next(job for job in data["jobs"] if job["file"] == file)


def _set_manifest_type(directory: Path, file: str, column: str, type_name: str) -> None:
    """Give ``column`` of ``file`` the type ``type_name`` in the export's manifest."""
    data = _manifest(directory)
    entry = next(c for c in _job(data, file)["columns"] if c["name"] == column)
    entry["type"] = type_name
    _write_manifest(directory, data)


def _set_cell(line_number: int, column: str, value: str) -> Callable[[list[str]], list[str]]:
    """A ``rewrite_file`` edit that sets ``column`` on line ``line_number`` (0 is the header)."""

    def edit(lines: list[str]) -> list[str]:
        index = lines[0].rstrip("\n").split(",").index(column)
        row = lines[line_number].rstrip("\n").split(",")
        row[index] = value
        return [*lines[:line_number], ",".join(row) + "\n", *lines[line_number + 1 :]]

    return edit


def _fails(directory: Path, target: str, error: type[LoadError], *needles: str) -> str:
    before = snapshot(target)
    with pytest.raises(error) as info:
        load_export(directory, url_of(target))
    message = str(info.value)
    for needle in needles:
        assert needle in message, message
    assert "the target database was not changed" in message
    assert snapshot(target) == before
    return message


def test_missing_manifest(broken: Path, target: str) -> None:
    (broken / "manifest.json").unlink()
    _fails(broken, target, ManifestError, "manifest.json does not exist")


def test_truncated_csv(broken: Path, target: str) -> None:
    path = broken / ITEMS
    path.write_bytes(path.read_bytes()[:-40])
    _fails(broken, target, ManifestError, ITEMS, "the file is truncated")


def test_file_edited_after_export(broken: Path, target: str) -> None:
    path = broken / ITEMS
    content = bytearray(path.read_bytes())
    content[-3] = ord("7") if content[-3] != ord("7") else ord("8")  # same size, other digit
    path.write_bytes(bytes(content))
    _fails(broken, target, ManifestError, ITEMS, "does not match its sha256", "edited")


def test_truncated_csv_with_a_matching_manifest(broken: Path, target: str) -> None:
    # Cut inside the last row: COPY sees a short row.
    rewrite_file(broken, ITEMS, lambda lines: [*lines[:-1], lines[-1][: len(lines[-1]) // 2]])
    _fails(broken, target, BadDataError, ITEMS, f"line {len(_lines(broken))}")


def _lines(directory: Path) -> list[str]:
    return (directory / ITEMS).read_text().splitlines()


def test_extra_column_in_the_file_only(broken: Path, target: str) -> None:
    rewrite_file(broken, ITEMS, lambda lines: [line.rstrip("\n") + ",x\n" for line in lines])
    _fails(
        broken,
        target,
        ManifestError,
        ITEMS,
        "column 'x' in the header line is not in the manifest",
    )


def test_extra_column_the_target_does_not_have(broken: Path, target: str) -> None:
    rewrite_file(
        broken,
        ITEMS,
        lambda lines: (
            [lines[0].rstrip("\n") + ",gift_wrap\n"]
            + [line.rstrip("\n") + ",t\n" for line in lines[1:]]
        ),
    )
    data = _manifest(broken)
    _job(data, ITEMS)["columns"].append({"name": "gift_wrap", "type": "boolean"})
    _write_manifest(broken, data)
    _fails(
        broken,
        target,
        SchemaMismatchError,
        ITEMS,
        "column 'gift_wrap' does not exist in the target table gyro_example_orderitem",
    )


def test_missing_column(broken: Path, target: str) -> None:
    def drop_quantity(lines: list[str]) -> list[str]:
        header = lines[0].rstrip("\n").split(",")
        index = header.index("quantity")
        return [
            ",".join(v for i, v in enumerate(line.rstrip("\n").split(",")) if i != index) + "\n"
            for line in lines
        ]

    rewrite_file(broken, ITEMS, drop_quantity)
    data = _manifest(broken)
    job = _job(data, ITEMS)
    job["columns"] = [c for c in job["columns"] if c["name"] != "quantity"]
    _write_manifest(broken, data)
    _fails(
        broken,
        target,
        SchemaMismatchError,
        ITEMS,
        "gyro_example_orderitem.quantity is NOT NULL without a default",
    )


def test_column_missing_from_the_header_line(broken: Path, target: str) -> None:
    rewrite_file(broken, ITEMS, lambda lines: [lines[0].replace(",quantity", ""), *lines[1:]])
    _fails(broken, target, ManifestError, ITEMS, "column 'quantity' of the manifest is missing")


def test_wrong_type_names_file_line_and_column(broken: Path, target: str) -> None:
    rewrite_file(broken, ITEMS, _set_cell(3, "quantity", "three"))
    message = _fails(broken, target, BadDataError, ITEMS, "line 4", "column quantity", '"three"')
    assert "gyro_example.OrderItem" in message


def test_type_changed_in_the_manifest(broken: Path, target: str) -> None:
    _set_manifest_type(broken, ITEMS, "quantity", "text")
    _fails(
        broken,
        target,
        SchemaMismatchError,
        ITEMS,
        "column 'quantity' was exported as text but is integer",
    )


def test_duplicate_key_in_a_file(broken: Path, target: str) -> None:
    rewrite_file(broken, ITEMS, lambda lines: [*lines, lines[-1]])
    data = _manifest(broken)
    _job(data, ITEMS)["rows"] += 1
    _write_manifest(broken, data)
    _fails(
        broken, target, IntegrityViolation, "gyro_example.OrderItem", "rows in", ITEMS, "share id="
    )


def test_row_count_differs_from_the_manifest(broken: Path, target: str) -> None:
    data = _manifest(broken)
    _job(data, ITEMS)["rows"] += 5
    _write_manifest(broken, data)
    _fails(broken, target, BadDataError, ITEMS, "rows read, the manifest says")


def test_orphan_child_row(broken: Path, target: str) -> None:
    # An item whose order is not in the export and not in the target.
    rewrite_file(broken, ITEMS, _set_cell(1, "order_id", "987654321"))
    _fails(
        broken,
        target,
        IntegrityViolation,
        "gyro_example.OrderItem.order_id: 1 row(s) reference gyro_example.Order 987654321 "
        "(1 key(s)), not in the export",
    )


def test_orphan_child_row_of_an_unmanaged_parent(broken: Path, target: str) -> None:
    # A foreign key to a model that is not in the export and has no Importer keeps its value
    # and must exist in the target: here an item's shop is left out of the export's models.
    data = _manifest(broken)
    data["jobs"] = [job for job in data["jobs"] if job["model"] != "gyro_example.Tenant"]
    _write_manifest(broken, data)
    with registry.isolated():  # no Importer for Tenant: Gyro does not manage it
        _fails(
            broken,
            target,
            IntegrityViolation,
            "tenant_id=",
            "has no gyro_example.Tenant row",
        )


def test_target_missing_a_migration(broken: Path, target: str) -> None:
    data = _manifest(broken)
    data["migrations"]["gyro_example"].append("0099_added_later")
    _write_manifest(broken, data)
    _fails(
        broken,
        target,
        SchemaMismatchError,
        "the target is missing migration gyro_example.0099_added_later",
    )


def test_target_without_the_example_tables(broken: Path, target: str) -> None:
    with connections[target].cursor() as cursor:
        cursor.execute("DROP TABLE gyro_example_orderitem")
    with pytest.raises(
        SchemaMismatchError, match="the target has no table gyro_example_orderitem"
    ):
        load_export(broken, url_of(target))


def test_target_without_gyro_tables(broken: Path, target: str) -> None:
    with connections[target].cursor() as cursor:
        cursor.execute("DROP TABLE django_gyro_keymap")
    with pytest.raises(SchemaMismatchError, match="migrate django_gyro"):
        load_export(broken, url_of(target))


def test_unknown_model_and_strategy(broken: Path, target: str) -> None:
    with pytest.raises(LoadError, match="unknown on_conflict strategy 'replace'"):
        load_export(broken, url_of(target), on_conflict="replace")
    data = _manifest(broken)
    data["jobs"][0]["model"] = "gyro_example.Planet"
    _write_manifest(broken, data)
    _fails(broken, target, SchemaMismatchError, "model 'gyro_example.Planet' is not installed")


def test_remap_with_a_parent_missing_from_the_export(broken: Path, target: str) -> None:
    # Order rows are remapped (target not empty); an item points at an order outside the export.
    populate(target, "other", broken)

    rewrite_file(broken, ITEMS, _set_cell(1, "order_id", "987654321"))
    before = snapshot(target)
    with pytest.raises(
        IntegrityViolation,
        match=re.escape(
            "gyro_example.OrderItem.order_id: 1 row(s) reference gyro_example.Order 987654321 "
            "(1 key(s)), not in the export"
        ),
    ):
        load_export(broken, url_of(target), on_conflict="remap")
    assert snapshot(target) == before


# -- the rest of the bad inputs: one line each, naming what is wrong ---------------------------


def _alter(alias: str, sql: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql)


def test_unreachable_or_missing_target_database(broken: Path) -> None:
    # urlsplit, not rsplit("/"): the embedded server's URL has its socket path in the query.
    parts = urlsplit(url_of("default"))
    with_password = urlunsplit(
        (parts.scheme, f"gyro:s3cret@{parts.hostname}:{parts.port or 5432}", "", "", "")
    )
    missing = urlunsplit(
        (parts.scheme, parts.netloc, f"/{database_name('missing')}", parts.query, "")
    )
    with pytest.raises(LoadError) as info:
        load_export(broken, missing)
    message = str(info.value)
    assert message.startswith(f"cannot connect to database {missing}: ")
    assert "does not exist" in message and "\n" not in message
    with pytest.raises(LoadError) as info:
        load_export(broken, f"{with_password}/nowhere")
    assert "s3cret" not in str(info.value) and "gyro:***@" in str(info.value)
    with pytest.raises(LoadError, match="cannot connect to database postgres://.*:1/x: "):
        load_export(broken, f"postgres://{parts.hostname}:1/x")
    with pytest.raises(LoadError, match="needs PostgreSQL, but database sqlite:///x.db is sqlite"):
        load_export(broken, "sqlite:///x.db")


def test_a_file_where_the_export_directory_is_expected(broken: Path, target: str) -> None:
    _fails(broken / "manifest.json", target, ManifestError, "is a file, not an export directory")


def test_a_directory_where_a_file_is_expected(broken: Path, target: str) -> None:
    (broken / ITEMS).unlink()
    (broken / ITEMS).mkdir()
    _fails(broken, target, ManifestError, f"{ITEMS} (gyro_example.OrderItem) is listed")


def test_a_manifest_column_type_that_is_not_a_type(broken: Path, target: str) -> None:
    _set_manifest_type(broken, ITEMS, "quantity", "no_such_type")
    _fails(
        broken,
        target,
        SchemaMismatchError,
        f"{ITEMS} (gyro_example.OrderItem): the manifest gives column 'quantity' the type "
        "'no_such_type', which is not a type in the target",
    )
    _set_manifest_type(broken, ITEMS, "quantity", "integer); DROP TABLE gyro_example_order; --")
    _fails(broken, target, SchemaMismatchError, "which is not a PostgreSQL type name")


def test_a_check_violation_is_named_as_that_check(broken: Path, target: str) -> None:
    _alter(
        target,
        "ALTER TABLE gyro_example_orderitem ADD CONSTRAINT quantity_below_3 CHECK (quantity < 3)",
    )
    message = _fails(
        broken,
        target,
        IntegrityViolation,
        "Could not load gyro_example.OrderItem from gyro_example_orderitem.csv: the target's "
        "CHECK constraint quantity_below_3 on gyro_example_orderitem (CHECK ((quantity < 3))) "
        "is violated by ",
    )
    assert "unique" not in message


def test_a_duplicate_key_under_remap(broken: Path, target: str) -> None:
    populate(target, "other", broken)
    rewrite_file(broken, ITEMS, lambda lines: [*lines, lines[-1]])
    data = _manifest(broken)
    _job(data, ITEMS)["rows"] += 1
    _write_manifest(broken, data)
    key = (broken / ITEMS).read_text().splitlines()[-1].split(",")[0]
    before = snapshot(target)
    with pytest.raises(IntegrityViolation) as info:
        load_export(broken, url_of(target), on_conflict="remap")
    assert str(info.value) == (
        f"Could not load gyro_example.OrderItem from {ITEMS}: 2 rows share id={int(key)!r} (a "
        f"file holds each key once); the target database was not changed"
    )
    assert snapshot(target) == before


def test_unknown_labels_name_the_closest_model(broken: Path, target: str) -> None:
    before = snapshot(target)
    with pytest.raises(LoadError, match="did you mean 'gyro_example.Customer'"):
        load_export(broken, url_of(target), on_conflict={"gyro_example.Customers": "remap"})
    with pytest.raises(LoadError, match="did you mean 'gyro_example.OrderItem'"):
        load_export(broken, url_of(target), natural_keys={"gyro_example.Orderitem": ["id"]})
    with pytest.raises(LoadError, match="names 'subdomian', which is not a field; did you mean"):
        load_export(broken, url_of(target), natural_keys={"gyro_example.Tenant": ["subdomian"]})
    with pytest.raises(LoadError, match="has no foreign key 'custmer'; did you mean 'customer'"):
        load_export(broken, url_of(target), shared=["gyro_example.Order.custmer"])
    assert snapshot(target) == before


def test_a_file_changed_while_it_is_loaded_is_refused(broken: Path, target: str) -> None:
    # The sha256 is taken on the bytes COPY reads, so a file changed after the checks (here:
    # while the first file is being staged, same size, same header) is refused before commit.
    path = broken / ITEMS
    content = path.read_bytes()
    header, first, rest = content.split(b"\n", 2)
    cells = first.split(b",")
    cells[-1] = b"9" * len(cells[-1])  # total_price: same length, another value
    edited = b"\n".join([header, b",".join(cells), rest])
    assert len(edited) == len(content) and edited != content

    def edit_once(line: str) -> None:
        if line.startswith("staged") and path.read_bytes() == content:
            path.write_bytes(edited)

    before = snapshot(target)
    with pytest.raises(ManifestError, match=f"{ITEMS} .* does not match its sha256"):
        load_export(broken, url_of(target), log=edit_once)
    assert snapshot(target) == before
