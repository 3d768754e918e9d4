"""The platform's other models: machines, graphs, consulting requests, logs and bookkeeping."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest

from easyautoml_models.admin.base import EmptyAllowedAdmin, ReadOnlyModelAdmin, field_names
from easyautoml_models.models import (
    ConsultingRequest,
    DataLinesOperation,
    EasyAutoMLLogger,
    Graph,
    Machine,
    MachineTableLockWrite,
)
from easyautoml_models.models.consulting import CONSULTING_STATUS_FLAGS

__all__ = [
    "ConsultingRequestAdmin",
    "DataLinesOperationAdmin",
    "EasyAutoMLLoggerAdmin",
    "GraphAdmin",
    "MachineAdmin",
    "MachineTableLockWriteAdmin",
    "machine_fieldsets",
]

#: Machine field groups (the inventory's sections), as (title, collapsed, field-name test).
_MACHINE_GROUPS: list[tuple[str, bool, Any]] = [
    (
        "Identity",
        False,
        lambda name: (
            name
            in {
                "id",
                "timestamp",
                "machine_original",
                "machine_owner_user",
                "machine_owner_team",
                "machine_name",
                "machine_description",
                "machine_level",
            }
        ),
    ),
    (
        "Marketplace",
        False,
        lambda name: (
            name.startswith("machine_") and (name.endswith(("_public", "_usd", "_duplicatable")))
        ),
    ),
    (
        "Re-run flags",
        True,
        lambda name: name.startswith(("machine_is_", "machine_data_lines_")),
    ),
    (
        "Column configuration",
        True,
        lambda name: name.startswith(("machine_columns_", "dfr_", "mdc_")),
    ),
    ("Feature engineering", True, lambda name: name.startswith("fe_")),
    (
        "Encoder/decoder and neural network",
        True,
        lambda name: name.startswith(("enc_dec_", "parameter_nn_")),
    ),
    ("Training", True, lambda name: name.startswith(("training_", "log_work_"))),
]


def machine_fieldsets(names: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """Group Machine's ~100 fields into the inventory's sections; anything new goes to "Other".

    Every name lands in exactly one group (the first whose test matches), so a field added to the
    model later still shows up on the page.
    """
    groups: dict[str, list[str]] = {title: [] for title, _, _ in _MACHINE_GROUPS}
    other: list[str] = []
    for name in names:
        for title, _, test in _MACHINE_GROUPS:
            if test(name):
                groups[title].append(name)
                break
        else:
            other.append(name)
    fieldsets = [
        (title, {"fields": groups[title], "classes": ["collapse"] if collapsed else []})
        for title, collapsed, _ in _MACHINE_GROUPS
        if groups[title]
    ]
    if other:
        fieldsets.append(("Other", {"fields": other, "classes": ["collapse"]}))
    return fieldsets


class MachineChangeList(ChangeList):
    """The machine list loads only the columns it shows.

    A machine row carries dozens of JSON statistics per dataset column; the list needs none of
    them, so they are not read (the change page still loads everything).
    """

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> Any:
        queryset = super().get_queryset(request, exclude_parameters)
        return queryset.only(*MACHINE_LIST_COLUMNS)


#: The Machine columns the list needs (shown, linked, ordered or filtered on).
MACHINE_LIST_COLUMNS = [
    "id",
    "machine_name",
    "machine_owner_user",
    "machine_owner_team",
    "machine_level",
    "machine_data_source_is_public",
    "machine_api_solving_is_public",
    "timestamp",
]


@admin.register(Machine)
class MachineAdmin(EmptyAllowedAdmin):
    """Machines, with their ~100 fields grouped in collapsible sections."""

    list_display = tuple(MACHINE_LIST_COLUMNS)
    list_display_links = ["id", "machine_name"]
    list_select_related = ["machine_owner_user", "machine_owner_team"]
    list_filter = [
        "machine_level",
        "machine_data_source_is_public",
        "machine_api_solving_is_public",
        "timestamp",
    ]
    date_hierarchy = "timestamp"
    search_fields = ["machine_name", "=id", "machine_owner_user__email"]
    ordering = ["-timestamp", "-id"]
    autocomplete_fields = ["machine_owner_user", "machine_owner_team"]
    raw_id_fields = ["machine_original", "enc_dec_configuration", "training_nn_model"]
    readonly_fields = ["id", "timestamp"]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return MachineChangeList

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        names = [
            name
            for name in field_names(Machine)
            if name != "id" or obj is not None  # no id before the machine exists
        ]
        return machine_fieldsets(names)


@admin.register(Graph)
class GraphAdmin(EmptyAllowedAdmin):
    """Charts of machines' data."""

    list_display = ["id", "graph_type", "machine", "x", "y", "z", "timestamp"]
    list_select_related = ["machine"]
    list_filter = ["graph_type", "timestamp"]
    search_fields = ["machine__machine_name", "x", "y", "z"]
    autocomplete_fields = ["machine"]
    readonly_fields = ["timestamp"]
    ordering = ["-timestamp", "-id"]


class ConsultingStatusFilter(admin.SimpleListFilter):
    """Filter consulting requests by the status their flags give (at most one is true)."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name.replace("_", " ")) for name in CONSULTING_STATUS_FLAGS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        flag = CONSULTING_STATUS_FLAGS.get(self.value() or "")
        return queryset.filter(**{flag: True}) if flag else queryset


@admin.register(ConsultingRequest)
class ConsultingRequestAdmin(EmptyAllowedAdmin):
    """Consulting requests; the status column and filter come from the six status flags."""

    list_display = [
        "id",
        "category",
        "status",
        "user",
        "team",
        "machine",
        "consultant_user",
        "amount_usd",
        "date_time_creation",
    ]
    list_select_related = ["user", "team", "machine", "consultant_user"]
    list_filter = ["category", ConsultingStatusFilter, "date_time_creation"]
    search_fields = ["user__email", "consultant_user__email", "description"]
    autocomplete_fields = ["user", "team", "machine", "consultant_user"]
    readonly_fields = ["date_time_creation"]
    ordering = ["-date_time_creation", "-id"]

    @admin.display(description="status")
    def status(self, obj: ConsultingRequest) -> str:
        return obj.status.replace("_", " ") or "-"


@admin.register(EasyAutoMLLogger)
class EasyAutoMLLoggerAdmin(ReadOnlyModelAdmin):
    """The log table written by ``DatabaseLogHandler``: read-only."""

    list_display = ["timestamp", "level", "logger", "short_message", "main_module", "host_name"]
    list_filter = ["level", "logger", "host_name", "timestamp"]
    search_fields = ["message", "logger", "main_module", "main_function"]
    date_hierarchy = "timestamp"
    ordering = ["-timestamp", "-id"]

    @admin.display(description="message")
    def short_message(self, obj: EasyAutoMLLogger) -> str:
        message = obj.message or ""
        return message if len(message) <= 120 else message[:119] + "…"


@admin.register(DataLinesOperation)
class DataLinesOperationAdmin(ReadOnlyModelAdmin):
    """Batches of data lines added to machines: read-only bookkeeping."""

    list_display = ["id", "machine", "date_time", "is_added_for_learning", "is_added_for_solving"]
    list_select_related = ["machine"]
    list_filter = ["is_added_for_learning", "is_added_for_solving", "date_time"]
    search_fields = ["machine__machine_name"]
    ordering = ["-date_time", "-id"]


@admin.register(MachineTableLockWrite)
class MachineTableLockWriteAdmin(ReadOnlyModelAdmin):
    """Advisory write locks on per-machine tables: read-only (the ML code owns them)."""

    list_display = ["table_name", "locked_by", "locked_at", "expires_at"]
    search_fields = ["table_name", "locked_by"]
    ordering = ["-locked_at"]
