"""Private PostgreSQL connections for Gyro: the one place that opens them.

:func:`open_connection` gives a fresh Django ``DatabaseWrapper`` for a Django alias or a database
URL. It is never one of the shared ``django.db.connections``, so an export can run its own
``REPEATABLE READ`` transaction whatever the caller's connection is doing (even inside
``atomic()``). Through Django the connection gets the project's driver (psycopg 3 when installed,
psycopg2 otherwise), its ``OPTIONS``, and a UTC session time zone, and querysets can be compiled
for it. :func:`private_alias` registers such a connection under a temporary alias, so the ORM,
``transaction.atomic(using=...)`` and management commands (``migrate --database``) can use it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.utils import ConnectionHandler, load_backend

from django_gyro.exceptions import SourceError

__all__ = [
    "Statements",
    "compose",
    "connect",
    "describe",
    "driver_name",
    "driver_version",
    "is_url",
    "mask_url",
    "open_connection",
    "private_alias",
    "raw",
    "server_version",
    "transaction",
    "url_settings",
]


def is_url(value: str) -> bool:
    """Whether ``value`` is a database URL (``scheme://...``) rather than a Django alias."""
    return "://" in value


#: URL schemes of PostgreSQL (libpq's two, and the ``pgsql`` alias dj-database-url accepts).
POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")


def url_settings(url: str) -> dict[str, Any]:
    """The ``DATABASES`` entry for a ``postgres://user:password@host:port/name?options`` URL.

    Parsed with the standard library, so Django Gyro needs no URL package of its own: user,
    password, host and database name are percent-decoded (a Unix socket directory may be given
    as an encoded host, ``%2Fvar%2Frun%2Fpostgresql``, or as ``?host=/var/run/postgresql``), and
    every query parameter becomes an ``OPTIONS`` entry (libpq keywords such as ``sslmode``).

    Raises:
        SourceError: not a PostgreSQL URL, or a malformed port.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in POSTGRES_SCHEMES:
        raise SourceError(f"Django Gyro needs PostgreSQL, but {describe(url)} is {parts.scheme}")
    credentials, _, location = parts.netloc.rpartition("@")
    user, _, password = credentials.partition(":")
    host, port = location, ""
    if location.startswith("["):  # [IPv6]:port
        host, _, rest = location[1:].partition("]")
        port = rest.removeprefix(":")
    elif ":" in location:
        host, _, port = location.rpartition(":")
    if port and not port.isdigit():
        raise SourceError(f"cannot parse the database URL: bad port {port!r}")
    config: dict[str, Any] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.removeprefix("/")),
        "USER": unquote(user),
        "PASSWORD": unquote(password),
        "HOST": unquote(host),
        "PORT": int(port) if port else "",
    }
    options = dict(parse_qsl(parts.query))
    if options:
        config["OPTIONS"] = options
    return config


def _settings_for(url_or_alias: str) -> tuple[dict[str, Any], str]:
    if is_url(url_or_alias):
        config = url_settings(url_or_alias)
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
    engine = str(settings_dict.get("ENGINE") or "")
    if not engine.startswith("django.db.backends.postgresql"):
        kind = engine.rsplit(".", 1)[-1] or "not a database"
        raise SourceError(f"Django Gyro needs PostgreSQL, but {describe(url_or_alias)} is {kind}")
    backend = load_backend(engine)
    wrapper: BaseDatabaseWrapper = backend.DatabaseWrapper(settings_dict, alias)
    return wrapper


def connect(wrapper: BaseDatabaseWrapper, url_or_alias: str) -> None:
    """Open ``wrapper``'s connection now, so that an unreachable database is one clear error.

    Raises:
        SourceError: ``cannot connect to database postgres://user:***@host/db: <reason>``
            (the driver's first line: "database ... does not exist", "Connection refused").
    """
    try:
        wrapper.ensure_connection()
    except Exception as exc:
        wrapper.close()
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        reason = reason.split("failed: ", 1)[-1].removeprefix("FATAL:").strip()
        raise SourceError(f"cannot connect to {describe(url_or_alias)}: {reason}") from exc


@contextmanager
def private_alias(url_or_alias: str, prefix: str = "gyro") -> Iterator[str]:
    """A private connection to ``url_or_alias``, registered under a temporary alias.

    Registering it lets callers use ``transaction.atomic(using=alias)``, the ORM
    (``Load.objects.using(alias)``) and management commands (``migrate --database``) on a
    connection that no caller shares, whatever the caller's own connection to the same database
    is doing. The connection is closed and the alias removed at exit.

    Args:
        url_or_alias: a Django alias or a ``postgres://`` URL.
        prefix: the start of the temporary alias's name (shown in Django's own messages).

    Yields:
        The temporary alias.

    Raises:
        SourceError: see :func:`open_connection` and :func:`connect`.
    """
    wrapper = open_connection(url_or_alias)
    connect(wrapper, url_or_alias)
    alias = f"{prefix}_{uuid.uuid4().hex[:12]}"
    wrapper.alias = alias
    connections[alias] = wrapper
    try:
        yield alias
    finally:
        try:
            wrapper.close()
        finally:
            del connections[alias]


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


def compose(wrapper: BaseDatabaseWrapper, sql: str, params: Sequence[Any] | None) -> str:
    """``sql`` with ``params`` merged in by Django's ``connection.ops.compose_sql``.

    For statements PostgreSQL cannot parameterise server-side, such as ``COPY (query)``: the
    values are quoted by the driver for this connection, so nothing in a value can change the
    statement. (django-stubs does not declare ``compose_sql``, which only PostgreSQL's
    operations have.)
    """
    operations: Any = wrapper.ops
    return str(operations.compose_sql(sql, params))


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


class Statements:
    """Quoting and one-statement helpers on ``self.wrapper``, for the loader and gyro_verify."""

    wrapper: BaseDatabaseWrapper

    def q(self, name: str) -> str:
        """``name`` quoted as an identifier by the backend."""
        return self.wrapper.ops.quote_name(name)

    def fetch(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Every row of ``sql`` run with ``params``."""
        with self.wrapper.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def execute(self, sql: str, params: Any = None) -> int:
        """Run ``sql`` with ``params``; the number of rows it touched."""
        with self.wrapper.cursor() as cursor:
            cursor.execute(sql, params)
            return int(cursor.rowcount)
