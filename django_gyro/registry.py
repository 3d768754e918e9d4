"""The registry of Importer classes: one Importer per model.

The registry is a private mapping behind functions. Importer classes register themselves when
their class statement runs; :func:`isolated` gives tests (and notebooks) a scoped, empty registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.db import models

from django_gyro.exceptions import DuplicateImporter

if TYPE_CHECKING:
    from django_gyro.importers import Importer

__all__ = ["get_importer", "isolated", "register", "registered", "unregister"]

_registry: dict[str, type[Importer]] = {}


def _key(model: type[models.Model]) -> str:
    return model._meta.label_lower


def _same_declaration(a: type[Importer], b: type[Importer]) -> bool:
    # A class statement executed twice (a notebook cell run again, a module reloaded) creates a new
    # class object with the same module and qualified name: that replaces, it does not duplicate.
    return (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def register(importer: type[Importer]) -> None:
    """Register ``importer`` for its model.

    Raises:
        DuplicateImporter: another Importer class is already registered for the same model.
    """
    key = _key(importer.model)
    existing = _registry.get(key)
    if (
        existing is not None
        and existing is not importer
        and not _same_declaration(existing, importer)
    ):
        raise DuplicateImporter(
            f"Importer '{importer.__module__}.{importer.__qualname__}' is declared for model "
            f"'{importer.model._meta.label}', which already has Importer "
            f"'{existing.__module__}.{existing.__qualname__}'; keep one Importer per model"
        )
    _registry[key] = importer


def unregister(importer_or_model: type[Importer] | type[models.Model]) -> None:
    """Remove the Importer of a model (given the Importer class or the model). No-op if absent."""
    model: Any = getattr(importer_or_model, "model", importer_or_model)
    _registry.pop(_key(model), None)


def get_importer(model: type[models.Model]) -> type[Importer] | None:
    """The Importer registered for ``model``, or None."""
    return _registry.get(_key(model))


def registered() -> tuple[type[Importer], ...]:
    """Every registered Importer, in registration order."""
    return tuple(_registry.values())


@contextmanager
def isolated() -> Iterator[None]:
    """Run a block with an empty registry, and restore the previous registry afterwards.

    Importers declared inside the block are forgotten when it ends, so tests can declare
    Importers for throw-away models without touching the project's registry.
    """
    saved = dict(_registry)
    _registry.clear()
    try:
        yield
    finally:
        _registry.clear()
        _registry.update(saved)
