"""UUID keys, a self-referential foreign key and a foreign-key cycle, reloaded and remapped."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from pytest_django import DjangoDbBlocker

from django_gyro import DataSlicer, Importer, ImportJob, registry
from django_gyro.load.loader import load_export
from django_gyro.load.verify import verify_export
from tests.django_gyro.helpers import DB, url_of
from tests.gyro_testapp.models import Author, Book, Node

pytestmark = [pytest.mark.postgresql, DB]


@dataclass
class Shapes:
    directory: Path
    node_keys: set[object]
    tree: list[tuple[str, str | None]]
    favourites: list[tuple[str, str, str]]


def _create() -> None:
    root = Node.objects.create(name="root")
    for i in range(3):
        child = Node.objects.create(name=f"child {i}", parent=root)
        for j in range(2):
            Node.objects.create(name=f"leaf {i}.{j}", parent=child)
    for name in ("Ada", "Brian", "Chloe"):
        author = Author.objects.create(name=name)
        books = [Book.objects.create(author=author, title=f"{name} {n}") for n in range(2)]
        author.favourite_book = books[1]  # closes the cycle author -> book -> author
        author.save()


def _delete() -> None:
    Author.objects.update(favourite_book=None)
    Book.objects.all().delete()
    Author.objects.all().delete()
    Node.objects.update(parent=None)
    Node.objects.all().delete()


@pytest.fixture(scope="module")
def shapes(
    django_db_setup: Any,
    django_db_blocker: DjangoDbBlocker,
    tmp_path_factory: pytest.TempPathFactory,
) -> Shapes:
    """A tree of nodes and three authors whose favourite book is one of their own, exported."""
    directory = tmp_path_factory.mktemp("shapes") / "export"
    with django_db_blocker.unblock(), registry.isolated():
        if connections["default"].vendor != "postgresql":
            pytest.skip("needs PostgreSQL")
        assert str(connections["default"].settings_dict["NAME"]).startswith("test_")

        class NodeImporter(Importer):
            model = Node

            class Columns:
                parent = Node

        class AuthorImporter(Importer):
            model = Author  # favourite_book left out of Columns: the cycle is not an order

        class BookImporter(Importer):
            model = Book

            class Columns:
                author = Author

        _delete()
        _create()
        try:
            DataSlicer.run(
                source=DataSlicer.Postgres("default"),
                target=DataSlicer.File(directory),
                jobs=[ImportJob(model=Node), ImportJob(model=Author), ImportJob(model=Book)],
                progress=False,
            )
            return Shapes(
                directory=directory,
                node_keys=set(Node.objects.values_list("pk", flat=True)),
                tree=_tree("default"),
                favourites=_favourites("default"),
            )
        finally:
            _delete()


def _tree(alias: str) -> list[tuple[str, str | None]]:
    return sorted(
        (node.name, node.parent.name if node.parent else None)
        for node in Node.objects.using(alias).select_related("parent")
    )


def _favourites(alias: str) -> list[tuple[str, str, str]]:
    return sorted(
        (a.name, a.favourite_book.title, a.favourite_book.author.name)
        for a in Author.objects.using(alias).select_related("favourite_book__author")
        if a.favourite_book is not None
    )


def test_into_an_empty_target_keys_are_kept(shapes: Shapes, target: str) -> None:
    load_export(shapes.directory, url_of(target))
    assert set(Node.objects.using(target).values_list("pk", flat=True)) == shapes.node_keys
    assert _tree(target) == shapes.tree
    assert _favourites(target) == shapes.favourites
    assert verify_export(shapes.directory, url_of(target)).ok


def test_remap_gives_new_uuids_and_integer_keys_and_rewires_the_tree_and_the_cycle(
    shapes: Shapes, target: str
) -> None:
    other = Node.objects.using(target).create(name="someone else's root")
    Author.objects.using(target).create(name="Zed")
    result = load_export(shapes.directory, url_of(target), on_conflict="remap")
    assert [r.keys for r in result.models] == ["remap", "remap", "kept"]
    source_keys = shapes.node_keys
    loaded = Node.objects.using(target).exclude(pk=other.pk)
    assert loaded.count() == len(source_keys)
    assert not source_keys & set(loaded.values_list("pk", flat=True))  # all new UUIDs
    assert _tree(target) == sorted([*shapes.tree, ("someone else's root", None)])
    assert not Node.objects.using(target).filter(parent=other).exists()
    # Authors were remapped, books kept their keys (empty table) but follow their authors.
    assert _favourites(target) == shapes.favourites
    verification = verify_export(shapes.directory, url_of(target))
    assert verification.ok, "\n".join(verification.lines())


def test_an_importer_can_choose_its_models_strategy(shapes: Shapes, target: str) -> None:
    Node.objects.using(target).create(name="someone else's root")
    Author.objects.using(target).create(name="Zed")
    with registry.isolated():

        class NodeImporter(Importer):
            model = Node
            on_conflict = "remap"

            class Columns:
                parent = Node

        class AuthorImporter(Importer):
            model = Author
            on_conflict = "merge"
            natural_key = ("name",)

        result = load_export(shapes.directory, url_of(target))  # run default: "error"
    assert [r.keys for r in result.models] == ["remap", "merge", "kept"]
    assert [r.remapped for r in result.models[:2]] == [len(shapes.node_keys), 3]
    assert verify_export(shapes.directory, url_of(target)).ok
