"""The demo's reload target: a second PostgreSQL database, created and migrated.

A Gyro load never creates tables: the target must have run the project's migrations (the loader
checks this and says so). ``manage.py gyro_demo`` uses these helpers for a database named by a
URL that Django does not know yet; the URL is derived from the ``default`` database's settings,
so the demo needs nothing from the host project besides ``DATABASES``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from django.core.management import call_command
from django.db import connections

from django_gyro.backend.connection import is_url, mask_url, open_connection, private_alias
from django_gyro.exceptions import LoadError

__all__ = ["create_database", "database_url", "migrate_target", "sibling_url", "target_alias"]


def database_url(alias: str = "default") -> str:
    """A ``postgres://`` URL for the database of ``alias``, built from its settings.

    A Unix-socket ``HOST`` (a path) goes into the ``host`` query parameter.
    """
    config = connections[alias].settings_dict
    user = quote(str(config.get("USER") or ""), safe="")
    password = quote(str(config.get("PASSWORD") or ""), safe="")
    host = str(config.get("HOST") or "")
    port = str(config.get("PORT") or "")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    query = ""
    if host.startswith("/"):
        query, host = f"host={quote(host, safe='')}", ""
    netloc = credentials + host + (f":{port}" if port else "")
    name = quote(str(config.get("NAME") or ""), safe="")
    return urlunsplit(("postgres", netloc, "/" + name, query, ""))


def sibling_url(url: str, database: str) -> str:
    """``url`` with its database name replaced by ``database`` (same server and credentials)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def create_database(url: str) -> bool:
    """Create the database ``url`` names if it does not exist; return whether it was created.

    Connects to the server's ``postgres`` database with the same credentials.

    Raises:
        LoadError: the server cannot be reached or the user may not create databases.
    """
    name = unquote(urlsplit(url).path.lstrip("/"))
    if not name:
        raise LoadError(f"{mask_url(url)} names no database")
    wrapper = open_connection(sibling_url(url, "postgres"))
    try:
        wrapper.ensure_connection()
        wrapper.set_autocommit(True)
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is not None:
                return False
            cursor.execute(f"CREATE DATABASE {wrapper.ops.quote_name(name)}")
            return True
    except Exception as exc:
        raise LoadError(f"cannot create database {name!r} on {mask_url(url)}: {exc}") from exc
    finally:
        wrapper.close()


@contextmanager
def target_alias(url_or_alias: str) -> Iterator[str]:
    """A Django alias for ``url_or_alias``: the alias itself, or a private one for a URL.

    The private alias (:func:`~django_gyro.backend.connection.private_alias`) is registered in
    ``django.db.connections`` (not in ``settings.DATABASES``), so management commands
    (``migrate``, ``gyro_example_data``) can use it; it is closed and removed at exit.
    """
    if not is_url(url_or_alias):
        yield url_or_alias
        return
    with private_alias(url_or_alias, prefix="gyro_demo_target") as alias:
        yield alias


def migrate_target(url_or_alias: str, stdout: IO[str] | Any = None) -> None:
    """Run every migration of the project on the target (``manage.py migrate --database``)."""
    with target_alias(url_or_alias) as alias:
        call_command("migrate", database=alias, verbosity=0, stdout=stdout)
