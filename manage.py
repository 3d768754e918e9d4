#!/usr/bin/env python
"""Django's command-line utility for the host project."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    from settings.database import DatabaseUnavailable, unreachable_message

    try:
        execute_from_command_line(sys.argv)
    except DatabaseUnavailable as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(1)
    except OperationalError as exc:
        # A server that is down or a database that does not exist: one line, not a traceback.
        from django.db import connections

        alias = _failing_alias()
        if alias is None:
            raise
        sys.stderr.write(unreachable_message(alias, connections[alias].settings_dict, exc) + "\n")
        sys.exit(1)


def _failing_alias() -> str | None:
    """The first configured alias that cannot connect, or None if all of them can."""
    from django.db import connections
    from django.db.utils import OperationalError

    for alias in connections:
        try:
            connections[alias].ensure_connection()
        except OperationalError:
            return alias
    return None


if __name__ == "__main__":
    main()
