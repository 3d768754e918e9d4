"""Preparing a PostgreSQL database to be a reload target: create it, migrate it.

A load never creates tables: the target must have run the project's migrations (the loader
checks this and says so). These helpers do that for a database named by a URL that Django does
not know yet, as the demo (``manage.py gyro_demo``) and scripts need.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from django.core.management import call_command
from django.db import connections

from django_gyro import db
from django_gyro.load_errors import LoadError

__all__ = ["create_database", "migrate_target", "sibling_url", "target_alias"]


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
        raise LoadError(f"{db.mask_url(url)} names no database")
    wrapper = db.open_connection(sibling_url(url, "postgres"))
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
        raise LoadError(f"cannot create database {name!r} on {db.mask_url(url)}: {exc}") from exc
    finally:
        wrapper.close()


@contextmanager
def target_alias(url_or_alias: str) -> Iterator[str]:
    """A Django alias for ``url_or_alias``: the alias itself, or a temporary one for a URL.

    The temporary alias is a private connection registered in ``django.db.connections`` (not in
    ``settings.DATABASES``), so management commands (``migrate``, ``gyro_example_data``) can
    use it; it is closed and removed at exit.
    """
    if not db.is_url(url_or_alias):
        yield url_or_alias
        return
    wrapper = db.open_connection(url_or_alias)
    alias = "gyro_target"
    wrapper.alias = alias
    connections[alias] = wrapper
    try:
        yield alias
    finally:
        wrapper.close()
        del connections[alias]


def migrate_target(url_or_alias: str, stdout: IO[str] | Any = None) -> None:
    """Run every migration of the project on the target (``manage.py migrate --database``)."""
    with target_alias(url_or_alias) as alias:
        call_command("migrate", database=alias, verbosity=0, stdout=stdout)
