"""COPY between a Gyro connection and a binary file object, for psycopg 3 and psycopg2.

* :func:`copy_to`: stream ``COPY ... TO STDOUT`` into a binary file object;
* :func:`copy_from`: stream a binary file object into ``COPY ... FROM STDIN``.

COPY cannot take server-side parameters: statements are bound first with Django's
``connection.ops.compose_sql(sql, params)`` (the driver's own client-side quoting).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from django.db.backends.base.base import BaseDatabaseWrapper

from django_gyro.backend.connection import driver_name, raw

__all__ = ["COPY_READ_SIZE", "copy_from", "copy_to"]

#: Bytes handed to the driver per read when copying a file into the database.
COPY_READ_SIZE = 1024 * 1024


def copy_to(
    wrapper: BaseDatabaseWrapper,
    statement: str,
    sink: IO[bytes] | Any,
) -> int:
    """Run ``COPY ... TO STDOUT`` (already bound) and write its output to ``sink``.

    Args:
        wrapper: an open Gyro connection.
        statement: the complete COPY statement, parameters already bound
            (``connection.ops.compose_sql``).
        sink: an object with ``write(bytes)``; psycopg2 calls it once per row.

    Returns:
        The row count reported by the server in the COPY command tag.
    """
    connection = raw(wrapper)
    if driver_name() == "psycopg":
        with connection.cursor() as cursor:
            with cursor.copy(statement) as copy:
                for data in copy:
                    sink.write(data)
            return int(cursor.rowcount)
    with connection.cursor() as cursor:
        cursor.copy_expert(statement, sink)
        return int(cursor.rowcount)


def copy_from(
    wrapper: BaseDatabaseWrapper,
    statement: str,
    source: IO[bytes],
    on_chunk: Callable[[bytes], None] | None = None,
) -> int:
    """Run ``COPY ... FROM STDIN`` (already bound) reading the data from ``source``.

    Args:
        wrapper: an open Gyro connection.
        statement: the complete COPY statement, without parameters.
        source: a binary file object positioned at the start of the data.
        on_chunk: called with every chunk sent (for progress bars), if given.

    Returns:
        The row count reported by the server in the COPY command tag.
    """
    connection = raw(wrapper)

    class _Reader:
        def read(self, size: int = COPY_READ_SIZE) -> bytes:
            chunk = source.read(size)
            if on_chunk is not None and chunk:
                on_chunk(chunk)
            return chunk

        def readline(self, size: int = -1) -> bytes:  # pragma: no cover - psycopg2 API
            return source.readline(size)

    if driver_name() == "psycopg":
        with connection.cursor() as cursor:
            with cursor.copy(statement) as copy:
                reader = _Reader()
                while chunk := reader.read(COPY_READ_SIZE):
                    copy.write(chunk)
            return int(cursor.rowcount)
    with connection.cursor() as cursor:
        cursor.copy_expert(statement, _Reader() if on_chunk else source, COPY_READ_SIZE)
        return int(cursor.rowcount)
