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

from django_gyro import mask, registry
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
        if mask.is_rule(target):
            yield from _mask_messages(importer, key, mask.as_rule(target))
            continue
        if not _is_model(target):
            yield checks.Error(
                f"Importer '{_name(importer)}' declares Columns.{key} = {target!r}, which is not "
                f"a Django model class, a mask rule or a Faker method.",
                hint=(
                    f"Set Columns.{key} to the model the foreign key '{key}' points to, or to "
                    f"a rule of django_gyro.mask (mask.email(), ...) for a plain field."
                ),
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


def _mask_messages(importer: Any, key: str, rule: mask.MaskRule) -> Iterable[checks.CheckMessage]:
    model: type[models.Model] = importer.model
    label = model._meta.label
    try:
        field = model._meta.get_field(key)
    except FieldDoesNotExist:
        yield checks.Error(
            f"Importer '{_name(importer)}' masks Columns.{key} with {rule!r}, but model "
            f"'{label}' has no field '{key}'.",
            hint=f"Use the name of a concrete field of {label}, or remove it.",
            obj=importer,
            id="gyro.E001",
        )
        return
    if field.is_relation or not field.concrete or getattr(field, "primary_key", False):
        yield checks.Error(
            f"Importer '{_name(importer)}' masks '{label}.{key}' with {rule!r}, but it is a "
            f"primary key, a relation or not a column.",
            hint=(
                "Keys cannot be masked (the reload and the closure report need them); mask "
                "the plain fields that hold the personal data instead."
            ),
            obj=importer,
            id="gyro.E007",
        )
        return
    assert isinstance(field, models.Field)
    problem = rule.problem(field)
    if problem is not None:
        yield checks.Error(
            f"Importer '{_name(importer)}' masks '{label}.{key}' with {rule!r}: {problem}.",
            hint="Choose a rule that fits the field (see docs/gyro.md, Masking).",
            obj=importer,
            id="gyro.E008",
        )


def _personal_messages(importer: Any) -> Iterable[checks.CheckMessage]:
    model: type[models.Model] = importer.model
    rules = {key for key, value in importer.columns.items() if mask.is_rule(value)}
    for field in model._meta.concrete_fields:
        if field.name in rules or getattr(field, "generated", False):
            continue
        reason = mask.personal_reason(field)
        if reason is None:
            continue
        yield checks.Warning(
            f"Importer '{_name(importer)}' exports '{model._meta.label}.{field.name}' "
            f"unmasked, and it looks personal ({reason}).",
            hint=(
                f"Add `{field.name} = mask.<rule>()` to {_name(importer)}.Columns (see "
                f"django_gyro.mask), exclude it from the job, or list it in "
                f"ImportJob(..., unmasked=({field.name!r},)) after review. With "
                f"GYRO_REQUIRE_MASKS = True the export refuses it."
            ),
            obj=importer,
            id="gyro.W002",
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
        messages.extend(_personal_messages(importer))
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
