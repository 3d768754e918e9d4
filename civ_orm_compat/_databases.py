"""Named databases: connection strings, run-time aliases, persistent connections and pools, and
the per-alias connection statistics behind ``db.pool_stats()``.

Nothing here imports another module of the package except settings and exceptions, so every other
module may use it.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import environ
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections

from civ_orm_compat.exceptions import UnsupportedDatabaseURL

__all__ = [
    "SUPPORTED_SCHEMES",
    "STATS",
    "AliasStats",
    "Stats",
    "add_database",
    "apply_pooling",
    "check_alias",
    "vendor",
    "ensure_mysql_driver",
    "masked",
    "parse_url",
    "remove_database",
]

#: URL schemes ``parse_url`` accepts, by family.
SUPPORTED_SCHEMES = {
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "pgsql": "postgresql",
    "sqlite": "sqlite",
    "mysql": "mysql",
    "mysql2": "mysql",
    "mariadb": "mysql",
}


def ensure_mysql_driver() -> str:
    """Make a MySQL/MariaDB driver importable as ``MySQLdb`` and return its name.

    ``mysqlclient`` is used when installed. Otherwise PyMySQL (pure Python, no C headers needed)
    is installed under the ``MySQLdb`` name, PyMySQL's documented way to serve Django's backend.

    Raises:
        ImproperlyConfigured: neither driver is installed.
    """
    try:
        import MySQLdb  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        pass
    else:
        module = sys.modules["MySQLdb"]
        return "pymysql" if module.__name__ == "pymysql" else "mysqlclient"
    try:
        import pymysql  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ImproperlyConfigured(
            "a mysql:// database needs a driver: install mysqlclient (needs the MariaDB/MySQL "
            "client headers) or PyMySQL (`pip install pymysql`)"
        ) from exc
    pymysql.install_as_MySQLdb()
    return "pymysql"


def parse_url(url: str, **overrides: Any) -> dict[str, Any]:
    """Parse a CIV connection string into a Django ``DATABASES`` entry.

    Parsing is django-environ's (``Env.db_url_config``); this adds the scheme check, the MySQL
    driver choice and overrides such as ``CONN_MAX_AGE``.

    Args:
        url: ``postgres://user:pass@host:5432/name``, ``sqlite:///relative.db`` or
            ``sqlite:////absolute/path.db``, ``mysql://user:pass@host:3306/name``.
        **overrides: keys merged into the result (``CONN_MAX_AGE=60``, ``OPTIONS={...}``).

    Raises:
        UnsupportedDatabaseURL: the URL has no scheme, an unknown scheme, or no database name.
    """
    if not isinstance(url, str) or "://" not in url:
        raise UnsupportedDatabaseURL(
            f"not a database URL: {url!r} (expected e.g. postgres://user@host:5432/name, "
            "sqlite:////abs/path.sqlite3 or mysql://user@host:3306/name)"
        )
    scheme = urlsplit(url).scheme.lower()
    family = SUPPORTED_SCHEMES.get(scheme)
    if family is None:
        raise UnsupportedDatabaseURL(
            f"unsupported database URL scheme {scheme!r} in {masked(url)}; supported: "
            + ", ".join(sorted(SUPPORTED_SCHEMES))
        )
    if family == "mysql":
        ensure_mysql_driver()
        url = "mysql" + url[len(scheme) :]
    config: dict[str, Any] = environ.Env.db_url_config(url)
    if not config.get("NAME"):
        raise UnsupportedDatabaseURL(f"the database URL {masked(url)} names no database")
    config.update(overrides)
    return config


def masked(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def check_alias(alias: str) -> str:
    """``alias`` if it is configured.

    Raises:
        ValueError: no such alias.
    """
    if alias not in connections.settings:
        raise ValueError(f"no database alias {alias!r}")
    return alias


def vendor(alias: str) -> str:
    """``connections[alias].vendor``, without creating a connection object in this thread.

    Raises:
        ValueError: no such alias.
    """
    engine = str(check_alias(alias) and connections.settings[alias]["ENGINE"])
    found = _VENDORS.get(engine)
    if found is None:
        found = _VENDORS[engine] = connections[alias].vendor
    return found


_VENDORS: dict[str, str] = {}


def add_database(
    alias: str,
    url: str,
    *,
    conn_max_age: int | None,
    health_checks: bool,
    pool: bool | dict[str, Any],
) -> dict[str, Any]:
    """Register ``url`` under the new ``alias``; see ``Database.add_database``."""
    if not alias.isidentifier():
        raise ValueError(f"database alias {alias!r} is not an identifier")
    if alias in connections.settings:
        raise ValueError(f"database alias {alias!r} is already configured")
    config = parse_url(url)
    config["URL_FOR_MESSAGES"] = masked(url)
    apply_pooling(alias, config, conn_max_age, health_checks, pool)
    configured = connections.configure_settings({DEFAULT_DB_ALIAS: {}, alias: config})
    connections.settings[alias] = configured[alias]
    settings.DATABASES[alias] = configured[alias]
    return configured[alias]


def remove_database(alias: str) -> None:
    """Unregister an alias added with :func:`add_database`; see ``Database.remove_database``."""
    if alias == DEFAULT_DB_ALIAS:
        raise ValueError("the default database cannot be removed")
    check_alias(alias)
    try:
        del connections[alias]
    except AttributeError:
        pass  # never used from this thread
    del connections.settings[alias]
    settings.DATABASES.pop(alias, None)


def apply_pooling(
    alias: str,
    config: dict[str, Any],
    conn_max_age: int | None,
    health_checks: bool,
    pool: bool | dict[str, Any],
) -> None:
    """Set ``CONN_MAX_AGE``/``CONN_HEALTH_CHECKS`` or a psycopg 3 pool in ``config``."""
    if conn_max_age is not None and conn_max_age < 0:
        raise ValueError(f"conn_max_age must be >= 0 or None, got {conn_max_age}")
    options = config.setdefault("OPTIONS", {})
    if pool:
        if "postgresql" not in config.get("ENGINE", ""):
            raise ImproperlyConfigured(
                f"database {alias!r}: connection pools need PostgreSQL with psycopg 3"
            )
        from django.db.backends.postgresql.psycopg_any import (  # type: ignore[import-untyped, unused-ignore]
            is_psycopg3,
        )

        if not is_psycopg3:
            raise ImproperlyConfigured(
                f"database {alias!r}: Django's connection pool needs psycopg 3 "
                "(`pip install 'psycopg[binary,pool]'`); with psycopg2 use persistent "
                "connections (conn_max_age, health_checks) or PgBouncer"
            )
        options["pool"] = pool
        # Django refuses CONN_MAX_AGE together with a pool: the pool does the keeping.
        config["CONN_MAX_AGE"] = 0
    else:
        options.pop("pool", None)
        config["CONN_MAX_AGE"] = conn_max_age
    config["CONN_HEALTH_CHECKS"] = health_checks


# --------------------------------------------------------------------------- statistics


@dataclass
class AliasStats:
    """Counters of one alias."""

    connections_created: int = 0
    connections_closed: int = 0
    in_use: int = 0
    max_in_use: int = 0
    started: int = 0
    committed: int = 0
    rolled_back: int = 0
    wait_total_ms: float = 0.0
    wait_count: int = 0
    wait_max_ms: float = 0.0


class Stats:
    """Per-alias counters, updated from any thread."""

    def __init__(self) -> None:
        self._aliases: dict[str, AliasStats] = {}
        self._lock = threading.Lock()
        self.started = time.monotonic()

    def get(self, alias: str) -> AliasStats:
        """The counters of ``alias`` (created on first use)."""
        stats = self._aliases.get(alias)
        if stats is None:
            with self._lock:
                stats = self._aliases.setdefault(alias, AliasStats())
        return stats

    def in_use(self, alias: str, delta: int) -> None:
        """A transaction block took (+1) or gave back (-1) a connection of ``alias``."""
        with self._lock:
            stats = self._aliases.setdefault(alias, AliasStats())
            stats.in_use += delta
            stats.max_in_use = max(stats.max_in_use, stats.in_use)

    def wait(self, alias: str, ms: float) -> None:
        """A transaction block waited ``ms`` for a ready connection."""
        with self._lock:
            stats = self._aliases.setdefault(alias, AliasStats())
            stats.wait_count += 1
            stats.wait_total_ms += ms
            stats.wait_max_ms = max(stats.wait_max_ms, ms)

    def connection_created(self, alias: str) -> None:
        """Django opened a connection for ``alias`` (any thread)."""
        with self._lock:
            self._aliases.setdefault(alias, AliasStats()).connections_created += 1

    def connection_closed(self, alias: str) -> None:
        """The compat layer closed a connection of ``alias``."""
        with self._lock:
            self._aliases.setdefault(alias, AliasStats()).connections_closed += 1

    def summary(self, alias: str) -> dict[str, Any]:
        """The original ``ConnectionPoolMonitor.get_stats()`` keys, plus transaction counts."""
        stats = self.get(alias)
        return {
            "connections_created": stats.connections_created,
            "connections_closed": stats.connections_closed,
            "connections_in_use": stats.in_use,
            "max_connections_used": stats.max_in_use,
            "avg_wait_time_ms": (stats.wait_total_ms / stats.wait_count)
            if stats.wait_count
            else 0.0,
            "max_wait_time_ms": stats.wait_max_ms,
            "uptime_seconds": time.monotonic() - self.started,
            "transactions_started": stats.started,
            "transactions_committed": stats.committed,
            "transactions_rolled_back": stats.rolled_back,
        }


#: The process's connection statistics.
STATS = Stats()
