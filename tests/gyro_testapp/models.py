"""Shapes the example shop does not have, for the reload tests.

* :class:`Node`: a UUID primary key, a ``db_column`` with a space, and a self-referential
  foreign key (a tree).
* :class:`Author` and :class:`Book`: a foreign-key cycle (an author's favourite book is one of
  their books), which only loads in one transaction with the constraints deferred or lifted.

Their Importers are declared inside the tests (in an isolated registry), because the export
refuses a job order for a cycle declared in ``Columns`` on both sides.
"""

from __future__ import annotations

import uuid

from django.db import models

__all__ = ["Author", "Book", "Node"]


class Node(models.Model):
    """A tree node with a UUID key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    name = models.CharField(max_length=100, db_column="Node Name")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )

    # Declared explicitly: mypy's Django plugin reads the project settings, without this app.
    objects: models.Manager[Node] = models.Manager()

    def __str__(self) -> str:
        return self.name


class Author(models.Model):
    """An author; ``favourite_book`` closes a cycle with :class:`Book`."""

    name = models.CharField(max_length=100, unique=True)
    favourite_book = models.ForeignKey(
        "Book", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects: models.Manager[Author] = models.Manager()

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    """A book by an :class:`Author`."""

    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="books")
    title = models.CharField(max_length=100)

    objects: models.Manager[Book] = models.Manager()

    def __str__(self) -> str:
        return self.title
