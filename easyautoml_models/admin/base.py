"""Building blocks shared by the admin pages: read-only admins, badges, durations, JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

__all__ = [
    "ADMIN_CSS",
    "EmptyAllowedAdmin",
    "JSONOrDefaultField",
    "ReadOnlyModelAdmin",
    "admin_link",
    "badge",
    "field_names",
    "format_duration",
    "pretty_json",
    "short_datetime",
]


#: The stylesheet of the badges and amounts, for ``class Media: css = ADMIN_CSS``.
ADMIN_CSS = {"all": ["easyautoml_models/admin.css"]}


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """An admin that shows rows and never changes them (house style rule 18).

    Every concrete field is read-only and add, change and delete are refused for every user,
    superusers included: the add and delete views answer 403, a POST to the change view answers
    403, and the bulk "delete selected" action is not offered. Viewing still needs the model's
    ``view`` (or ``change``) permission, so staff without it do not see the pages at all.
    """

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        concrete = [field.name for field in self.model._meta.concrete_fields]
        return concrete + [name for name in self.readonly_fields if name not in concrete]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class JSONOrDefaultField(forms.JSONField):
    """An optional JSON form field whose empty box means the model field's default.

    Django's JSON form field turns an empty box into None, which a ``NOT NULL`` column with
    ``default=dict`` rejects. Used with ``required=False``, so ``{}`` is accepted too (and, being
    "empty", is left out of the model's ``blank`` validation as Django does for optional fields).
    """

    def __init__(self, *, default: Any, **kwargs: Any) -> None:
        self.model_default = default
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> Any:
        if not self.disabled and value in (None, ""):
            default = self.model_default
            return default() if callable(default) else default
        return super().to_python(value)


class EmptyAllowedAdmin(admin.ModelAdmin):
    """An admin whose forms accept empty values wherever the database does.

    The EasyAutoML models keep the original's ``null=True`` without ``blank=True`` on dozens of
    columns (Machine has ~40), and JSON columns with ``default=dict`` but no ``blank=True``; as
    they are, the admin form would demand a value for each. Here a nullable column may be left
    empty (NULL), and a JSON column with a default accepts ``{}`` and treats an empty box as its
    default.
    """

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if isinstance(db_field, models.JSONField) and db_field.has_default() and not db_field.null:
            kwargs.update(form_class=JSONOrDefaultField, default=db_field.default, required=False)
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None and getattr(db_field, "null", False):
            formfield.required = False
        return formfield


def badge(value: str, label: str) -> SafeString:
    """A coloured pill for a status value (styled by ``easyautoml_models/admin.css``)."""
    return format_html('<span class="eaml-badge eaml-badge--{}">{}</span>', value or "none", label)


def format_duration(seconds: float | Decimal | timedelta | None) -> str:
    """``3723`` -> ``"1h 02m 03s"``; ``None`` -> ``"-"``."""
    if seconds is None:
        return "-"
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    total = max(0, round(float(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def short_datetime(value: datetime | None) -> SafeString | str:
    """``2026-11-23 14:35`` in the current time zone, the full timestamp as a tooltip."""
    if value is None:
        return "-"
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        local.isoformat(sep=" ", timespec="seconds"),
        local.strftime("%Y-%m-%d %H:%M"),
    )


def pretty_json(value: Any) -> SafeString:
    """JSON as an indented, escaped ``<pre>`` block; an empty value as ``-``."""
    if value in (None, {}, [], ""):
        return format_html("{}", "-")
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html('<pre class="eaml-json">{}</pre>', text)


def field_names(model: type[models.Model]) -> list[str]:
    """The names of a model's concrete fields, in declaration order."""
    return [field.name for field in model._meta.concrete_fields]


def admin_link(obj: models.Model | None, text: str | None = None) -> SafeString | str:
    """A link to ``obj``'s change page in the default admin site (``-`` for None).

    Builds the URL from the object's class and primary key only, so it costs no query.
    """
    if obj is None:
        return "-"
    opts = obj._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text if text is not None else str(obj))
