"""EasyAutoML-Core's entry point to the models, at its ``models/EasyAutoMLDBModels.py`` path.

Every ML module of EasyAutoML reaches the models through it::

    from easyautoml_models.EasyAutoMLDBModels import EasyAutoMLDBModels

    db = EasyAutoMLDBModels()  # sets Django up if (and only if) it is not set up yet
    machine = db.Machine.objects.get(id=42)
    logger = db.logger  # a new EasyAutoMLLogger at every access, as in EasyAutoML-Core
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

__all__ = ["EasyAutoMLDBModels"]

#: Attribute -> model name in ``easyautoml_models.models``; imported without a fallback.
_CORE = (
    "User",
    "Team",
    "Machine",
    "EasyAutoMLLogger",
    "Graph",
    "NNModel",
    "DataLinesOperation",
    "MachineTableLockWrite",
    "EncDecConfiguration",
)
#: EasyAutoML-Core's "WWW-only" models: None when they cannot be imported.
_WWW = ("Server", "Operation", "ConsultingRequest", "Work", "Billing")


class EasyAutoMLDBModels:
    """The model classes, ``connections``, ``logger`` and ``get_cursor()``, as attributes.

    Not a singleton: each instance resolves the same classes. ``MachineBilling`` is None (it
    always was in EasyAutoML-Core).
    """

    User: Any
    Team: Any
    Machine: Any
    EasyAutoMLLogger: Any
    Graph: Any
    NNModel: Any
    DataLinesOperation: Any
    MachineTableLockWrite: Any
    EncDecConfiguration: Any
    Server: Any
    Operation: Any
    ConsultingRequest: Any
    Work: Any
    Billing: Any

    def __init__(self) -> None:
        from django.apps import apps

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
        if not apps.ready:
            import django

            try:
                django.setup()
            except RuntimeError as exc:  # called while the registry is being populated
                if "populate() isn't reentrant" not in str(exc):
                    raise
        models = importlib.import_module("easyautoml_models.models")
        for name in _CORE:
            setattr(self, name, getattr(models, name))
        for name in _WWW:
            try:
                setattr(
                    self, name, getattr(importlib.import_module("easyautoml_models.models"), name)
                )
            except ImportError:
                setattr(self, name, None)
        self.MachineBilling: Any = None
        self.Consulting = self.ConsultingRequest
        self.Logger = self.EasyAutoMLLogger
        self.connections = connections
        self.cursor: Any = None

    @property
    def logger(self) -> Any:
        """A new :class:`~easyautoml_models.models.EasyAutoMLLogger`, named after the caller."""
        logger = self.EasyAutoMLLogger()
        caller = sys._getframe(1).f_globals.get("__name__") or "EasyAutoML"
        logger._logger_name = f"EasyAutoMLLogger.{caller}"
        return logger

    def get_cursor(self) -> Any:
        """A cursor on the default database, opened on first use and kept in ``self.cursor``.

        Returns None (after a warning on stderr) when the database cannot be reached.
        """
        if self.cursor is None:
            try:
                self.cursor = connections[DEFAULT_DB_ALIAS].cursor()
            except Exception as exc:
                print(f"EasyAutoMLDBModels: no database cursor: {exc}", file=sys.stderr)
                return None
        return self.cursor
