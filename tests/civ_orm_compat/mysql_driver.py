"""pytest plugin for running the civ tests on MariaDB/MySQL through PyMySQL.

Django loads the default database backend while it imports the models (``django.setup()``),
before any conftest runs, so the driver must be in place earlier: load this module with
``-p tests.civ_orm_compat.mysql_driver`` (and ``PYTHONPATH=.``). mysqlclient, when
installed, is used as is.
"""

from __future__ import annotations

from civ_orm_compat.connection import ensure_mysql_driver

DRIVER = ensure_mysql_driver()
