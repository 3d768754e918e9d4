"""System checks of the Importer declarations (ids ``gyro.E001``... and ``gyro.W001``...).

The ids are stable; ``docs/checks.md`` lists them. They run with every management command (and
so stop ``gyro_export`` before any SQL runs) and in ``manage.py check``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from django_gyro import registry
from django_gyro.exceptions import DeclarationError

__all__ = ["check_importers", "raise_for_models"]


def _name(importer: type) -> str:
    return importer.__name__


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, models.Model)


def _importer_messages(importer: Any) -> Iterable[checks.CheckMessage]:
    model: type[models.Model] = importer.model
    label = model._meta.label
    declared: dict[str, Any] = importer.columns
    for key, target in declared.items():
        if not _is_model(target):
            yield checks.Error(
                f"Importer '{_name(importer)}' declares Columns.{key} = {target!r}, which is not "
                f"a Django model class.",
                hint=f"Set Columns.{key} to the model the foreign key '{key}' points to.",
                obj=importer,
                id="gyro.E005",
            )
            continue
        try:
            field = model._meta.get_field(key)
        except FieldDoesNotExist:
            yield checks.Error(
                f"Importer '{_name(importer)}' declares Columns.{key}, but model '{label}' has "
                f"no field '{key}'.",
                hint=f"Use the name of a foreign key of {label} (without '_id'), or remove it.",
                obj=importer,
                id="gyro.E001",
            )
            continue
        if not (field.many_to_one or field.one_to_one) or not field.concrete:
            yield checks.Error(
                f"Importer '{_name(importer)}' declares Columns.{key}, but '{label}.{key}' is "
                f"not a foreign key.",
                hint="Columns only lists foreign keys (ForeignKey or OneToOneField); remove it.",
                obj=importer,
                id="gyro.E002",
            )
            continue
        related = field.related_model
        assert related is not None and not isinstance(related, str)
        if related._meta.label_lower != target._meta.label_lower:
            yield checks.Error(
                f"Importer '{_name(importer)}' declares FK '{key}' → '{target._meta.label}', but "
                f"'{label}.{key}' points to '{related._meta.label}'.",
                hint=f"Set Columns.{key} = {related.__name__}.",
                obj=importer,
                id="gyro.E003",
            )
            continue
        if registry.get_importer(target) is None:
            yield checks.Error(
                f"Importer '{_name(importer)}' declares FK '{key}' → '{target._meta.label}', "
                f"which has no registered Importer.",
                hint=f"Declare an Importer with model = {target.__name__}.",
                obj=importer,
                id="gyro.E004",
            )
    shared = getattr(importer, "shared", ()) or ()
    for name in [shared] if isinstance(shared, str) else shared:
        try:
            target_field = model._meta.get_field(name)
        except FieldDoesNotExist:
            target_field = None
        if target_field is None or not (target_field.many_to_one or target_field.one_to_one):
            yield checks.Error(
                f"Importer '{_name(importer)}' declares shared = {tuple(shared)!r}, but "
                f"'{label}.{name}' is not a foreign key.",
                hint="List the foreign keys (field names, without '_id') whose parent rows are "
                "shared lookup rows already in every target.",
                obj=importer,
                id="gyro.E006",
            )
    for field in model._meta.concrete_fields:
        if (field.many_to_one or field.one_to_one) and field.name not in declared:
            if getattr(field.remote_field, "parent_link", False):
                continue  # multi-table inheritance pointer, not a relation the user declares
            related = field.related_model
            assert related is not None and not isinstance(related, str)
            yield checks.Warning(
                f"Importer '{_name(importer)}' leaves out the foreign key '{field.name}' → "
                f"'{related._meta.label}' of '{label}' from Columns.",
                hint=(
                    f"Add `{field.name} = {related.__name__}` to {_name(importer)}.Columns so "
                    f"job order and the closure report cover it, or silence gyro.W001."
                ),
                obj=importer,
                id="gyro.W001",
            )


@checks.register(checks.Tags.models)
def check_importers(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Check every registered Importer whose model belongs to one of ``app_configs`` (or all)."""
    wanted = None if app_configs is None else {config.label for config in app_configs}
    messages: list[checks.CheckMessage] = []
    for importer in registry.registered():
        if wanted is not None and importer.model._meta.app_label not in wanted:
            continue
        messages.extend(_importer_messages(importer))
    return messages


def raise_for_models(models_: Iterable[type[models.Model]]) -> None:
    """Run the checks of the Importers of ``models_`` and raise if any is an error.

    ``DataSlicer.run``, the export and the load call this before they touch a database or a
    file, so a notebook (which never runs ``manage.py check``) is stopped like a command.

    Raises:
        DeclarationError: naming every failing check by id, with its message and hint.
    """
    wanted = {model._meta.label_lower for model in models_}
    errors = [
        message
        for importer in registry.registered()
        if importer.model._meta.label_lower in wanted
        for message in _importer_messages(importer)
        if message.is_serious()
    ]
    if errors:
        details = "; ".join(
            f"{e.id} {e.msg}" + (f" Hint: {e.hint}" if e.hint else "") for e in errors
        )
        raise DeclarationError(
            f"the Importers fail Gyro's system checks (see docs/checks.md): {details}"
        )
