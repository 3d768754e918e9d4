"""PostgreSQL connections for Gyro endpoints, and the COPY primitives on top of them.

:func:`open_connection` gives a fresh Django ``DatabaseWrapper`` for a Django alias or a database
URL. It is never one of the shared ``django.db.connections``, so an export can run its own
``REPEATABLE READ`` transaction whatever the caller's connection is doing (even inside
``atomic()``). Through Django the connection gets the project's driver (psycopg 3 when installed,
psycopg2 otherwise), its ``OPTIONS``, and a UTC session time zone, and querysets can be compiled
for it. The helpers below hide the differences between the two drivers:

* :func:`bind`: the driver merges parameters into a statement client-side (``mogrify``), for
  statements such as COPY that cannot take server-side parameters;
* :func:`copy_to`: stream ``COPY ... TO STDOUT`` into a binary file object;
* :func:`copy_from`: stream a binary file object into ``COPY ... FROM STDIN``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import ConnectionHandler, load_backend

from django_gyro.exceptions import SourceError

__all__ = [
    "bind",
    "copy_from",
    "copy_to",
    "describe",
    "driver_name",
    "driver_version",
    "mask_url",
    "is_url",
    "open_connection",
    "raw",
    "server_version",
    "transaction",
]

#: Bytes handed to the driver per read when copying a file into the database.
COPY_READ_SIZE = 1024 * 1024


def is_url(value: str) -> bool:
    """Whether ``value`` is a database URL (``scheme://...``) rather than a Django alias."""
    return "://" in value


def _settings_for(url_or_alias: str) -> tuple[dict[str, Any], str]:
    if is_url(url_or_alias):
        import environ

        try:
            config = environ.Env.db_url_config(url_or_alias)
        except Exception as exc:  # django-environ raises several types for bad URLs
            raise SourceError(f"cannot parse database URL: {exc}") from exc
        # Fill Django's defaults (AUTOCOMMIT, OPTIONS, TIME_ZONE, ...) the way DATABASES gets them.
        settings_dict = ConnectionHandler({DEFAULT_DB_ALIAS: config}).settings[DEFAULT_DB_ALIAS]
        return settings_dict, "gyro-url"
    if url_or_alias not in connections.settings:
        known = ", ".join(sorted(connections.settings)) or "none"
        raise SourceError(
            f"unknown database alias {url_or_alias!r} (configured aliases: {known}); pass a "
            f"Django alias or a postgres:// URL"
        )
    return connections.settings[url_or_alias], url_or_alias


def open_connection(url_or_alias: str) -> BaseDatabaseWrapper:
    """A new, unshared Django connection to ``url_or_alias``; the caller must ``close()`` it.

    Args:
        url_or_alias: a database URL (``postgres://user:pass@host:5432/db``) or an alias of
            ``settings.DATABASES``.

    Raises:
        SourceError: unknown alias, unparsable URL, or a database that is not PostgreSQL.
    """
    settings_dict, alias = _settings_for(url_or_alias)
    backend = load_backend(settings_dict["ENGINE"])
    wrapper: BaseDatabaseWrapper = backend.DatabaseWrapper(settings_dict, alias)
    if wrapper.vendor != "postgresql":
        raise SourceError(
            f"Django Gyro needs PostgreSQL, but {describe(url_or_alias)} is {wrapper.vendor}"
        )
    return wrapper


def describe(url_or_alias: str) -> str:
    """A printable name of an endpoint: the alias, or the URL with its password masked."""
    if not is_url(url_or_alias):
        return f"database alias '{url_or_alias}'"
    return f"database {mask_url(url_or_alias)}"


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def raw(wrapper: BaseDatabaseWrapper) -> Any:
    """The driver connection of ``wrapper``, connecting first if needed."""
    wrapper.ensure_connection()
    return wrapper.connection


def driver_name() -> str:
    """``"psycopg"`` (3) or ``"psycopg2"``: the driver Django's PostgreSQL backend uses."""
    from django.db.backends.postgresql.psycopg_any import (  # type: ignore[import-untyped,unused-ignore]
        is_psycopg3,
    )

    return "psycopg" if is_psycopg3 else "psycopg2"


def driver_version() -> str:
    """The version of the driver in use, e.g. ``"psycopg2 2.9.10"``."""
    if driver_name() == "psycopg":
        import psycopg  # type: ignore[import-not-found,unused-ignore]

        return f"psycopg {psycopg.__version__}"
    import psycopg2

    return f"psycopg2 {str(getattr(psycopg2, '__version__', '?')).split()[0]}"


def bind(wrapper: BaseDatabaseWrapper, sql: str, params: Sequence[Any] | None) -> str:
    """Merge ``params`` into ``sql`` client-side with the driver's own quoting (``mogrify``).

    Used for statements that PostgreSQL cannot parameterise server-side, such as ``COPY (query)``.
    The values are escaped by the driver for this connection, so nothing in a value can change
    the statement.
    """
    connection = raw(wrapper)
    if driver_name() == "psycopg":
        import psycopg  # type: ignore[import-not-found,unused-ignore]

        return psycopg.ClientCursor(connection).mogrify(sql, params)
    with connection.cursor() as cursor:
        bound = cursor.mogrify(sql, params)
    return bytes(bound).decode("utf-8")


def copy_to(
    wrapper: BaseDatabaseWrapper,
    statement: str,
    sink: IO[bytes] | Any,
) -> int:
    """Run ``COPY ... TO STDOUT`` (already bound) and write its output to ``sink``.

    Args:
        wrapper: an open Gyro connection.
        statement: the complete COPY statement, without parameters (see :func:`bind`).
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


def server_version(wrapper: BaseDatabaseWrapper) -> dict[str, Any]:
    """``{"version": "18.0", "version_num": 180000}`` of the server behind ``wrapper``."""
    with raw(wrapper).cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('server_version'), current_setting('server_version_num')"
        )
        text, number = cursor.fetchone()
    return {"version": text, "version_num": int(number)}


@contextmanager
def transaction(
    wrapper: BaseDatabaseWrapper,
    isolation: str = "REPEATABLE READ",
    read_only: bool = True,
) -> Iterator[Any]:
    """One explicit transaction on the driver connection of ``wrapper``; yields that connection.

    Commits when the block ends normally, rolls back on an exception. ``isolation`` is one of
    PostgreSQL's levels (``READ COMMITTED``, ``REPEATABLE READ``, ``SERIALIZABLE``).
    """
    levels = {"READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"}
    if isolation not in levels:
        raise ValueError(f"isolation must be one of {sorted(levels)}, got {isolation!r}")
    wrapper.ensure_connection()
    wrapper.set_autocommit(True)
    connection = wrapper.connection
    mode = "READ ONLY" if read_only else "READ WRITE"
    with connection.cursor() as cursor:
        cursor.execute(f"BEGIN ISOLATION LEVEL {isolation}, {mode}")  # both fixed keywords
    try:
        yield connection
    except BaseException:
        try:
            with connection.cursor() as cursor:
                cursor.execute("ROLLBACK")
        except Exception:  # the connection itself failed; closing it discards the transaction
            wrapper.close()
        raise
    with connection.cursor() as cursor:
        cursor.execute("COMMIT")
