"""Compare the app's ``_meta`` with ``inventory.json`` (shared by the test and for review)."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db.models import NOT_PROVIDED, Field
from django.utils import timezone

FIXTURE = json.loads((Path(__file__).with_name("inventory.json")).read_text(encoding="utf-8"))
ALWAYS = ("type", "null", "blank", "default")
_CALLABLES = {
    dict: "dict()",
    list: "list()",
    timezone.now: "timezone.now()",
    uuid.uuid4: "uuid4()",
}


def _default(field: Field) -> Any:
    value = field.default
    if value is NOT_PROVIDED:
        return "<none>"
    if callable(value):
        return _CALLABLES.get(value, repr(value))
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else str(value)
    return value


def actual(model: Any, field: Field, key: str) -> Any:
    """The value of inventory attribute ``key`` for our ``field``."""
    remote = getattr(field, "remote_field", None)
    if key == "type":
        return type(field).__name__
    if key == "default":
        return _default(field)
    if key == "on_delete":
        return remote.on_delete.__name__ if remote else None
    if key == "related_name":
        return remote.related_name if remote else None
    if key == "related_name_suffix":
        name = remote.related_name if remote else None
        return "_operation" if name and name.endswith("_operation") else name
    if key == "to":
        target = remote.model if remote else None
        if target is model:
            return "self"
        if target is not None and target._meta.app_label == "auth":
            return f"auth.{target._meta.object_name}"
        return target._meta.object_name if target else None
    if key == "choices":
        return [list(choice) for choice in field.choices] if field.choices else None
    if key == "encoder":
        encoder = getattr(field, "encoder", None)
        return encoder.__name__ if encoder else None
    return getattr(field, key, None)


def expected(spec: dict[str, Any], key: str) -> Any:
    if key == "blank" and (spec.get("auto_now") or spec.get("auto_now_add")):
        return True  # Django makes auto_now/auto_now_add fields blank=True, editable=False
    if key in ("null", "blank"):
        return spec.get(key, False)
    if key == "default":
        return spec.get("default", "<none>")
    if key == "choices" and spec.get(key) in ("GRAPH_TYPES", "CATEGORIES"):
        return FIXTURE[spec[key]]
    return spec.get(key)


def differences() -> dict[tuple[str, str, str], tuple[Any, Any]]:
    """(model, field, attribute) -> (inventory, ours) for every difference, db_table included."""
    found: dict[tuple[str, str, str], tuple[Any, Any]] = {}
    for name, entry in FIXTURE["models"].items():
        model = apps.get_model("easyautoml_models", name)
        if entry["db_table"] is not None and model._meta.db_table != entry["db_table"]:
            found[(name, "", "db_table")] = (entry["db_table"], model._meta.db_table)
        for field_name, spec in entry["fields"].items():
            try:
                field = model._meta.get_field(field_name)
            except Exception:
                found[(name, field_name, "exists")] = (True, False)
                continue
            for key in dict.fromkeys((*ALWAYS, *spec)):
                want, have = expected(spec, key), actual(model, field, key)
                if want != have:
                    found[(name, field_name, key)] = (want, have)
    return found


def extra_fields() -> set[tuple[str, str]]:
    """Concrete fields and many-to-many fields we have that the inventory does not list."""
    extra = set()
    for name, entry in FIXTURE["models"].items():
        model = apps.get_model("easyautoml_models", name)
        for field in [*model._meta.concrete_fields, *model._meta.many_to_many]:
            known = field.name in entry["fields"] or field.attname in entry["fields"]
            if not known and field.name != "id":
                extra.add((name, field.name))
    return extra
