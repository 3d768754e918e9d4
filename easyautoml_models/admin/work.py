"""The work queue and the servers that process it.

The queue is read-only (house style rule 18): no add, change or delete form. Operators act on it
with two changelist actions, requeue and cancel, which call :meth:`Work.requeue` and
:meth:`Work.cancel`; those are conditional updates, so an item that moved meanwhile is skipped
and reported, never forced. The actions need the ``change_work`` permission.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.text import capfirst

from easyautoml_models.admin.base import (
    ADMIN_CSS,
    EmptyAllowedAdmin,
    ReadOnlyModelAdmin,
    admin_link,
    badge,
    format_duration,
    pretty_json,
    short_datetime,
)
from easyautoml_models.exceptions import WorkStateError
from easyautoml_models.models import Server, Work, WorkStatus

__all__ = ["ServerAdmin", "WorkAdmin", "WorkModeFilter", "WorkStatusFilter"]


class WorkStatusFilter(admin.SimpleListFilter):
    """Filter by the readable status derived from the flags (``stale`` included)."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(status.value, status.label) for status in WorkStatus]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        if value not in WorkStatus.values:
            return queryset
        if "work_status" in queryset.query.annotations:
            return queryset.filter(work_status=value)
        return queryset.with_status_in(value)  # type: ignore[attr-defined]


class WorkModeFilter(admin.SimpleListFilter):
    """Filter by mode: training or solving."""

    title = "mode"
    parameter_name = "mode"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("training", "Training"), ("solving", "Solving")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        if self.value() == "training":
            return queryset.filter(is_work_training=True)
        if self.value() == "solving":
            return queryset.filter(is_work_solving=True)
        return queryset


def _mode(work: Work) -> str:
    return "training" if work.is_work_training else "solving"


@admin.register(Work)
class WorkAdmin(ReadOnlyModelAdmin):
    """The queue: one row per work item, its status as a badge, and a count per status."""

    list_display = [
        "id",
        "machine_link",
        "mode",
        "status_badge",
        "server",
        "created",
        "started",
        "finished",
        "duration",
        "attempts",
    ]
    list_display_links = ["id"]
    list_select_related = ["machine", "server"]
    list_filter = [WorkStatusFilter, WorkModeFilter, "server", "creation_date_time"]
    date_hierarchy = "creation_date_time"
    # "id__exact" compares the id as text, so a non-numeric search term is simply no match.
    search_fields = ["machine__machine_name", "id__exact"]
    search_help_text = "Machine name, or the exact id of a work item."
    ordering = ["-creation_date_time", "-id"]
    actions = ["requeue_items", "cancel_items"]
    readonly_fields = ["status_badge", "mode", "machine_link", "duration", "error", "warnings"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "id",
                    "status_badge",
                    "mode",
                    "machine_link",
                    "server",
                    "work_attempt_count",
                ]
            },
        ),
        ("Error and warnings", {"fields": ["error", "warnings"]}),
        (
            "Times",
            {
                "fields": [
                    "creation_date_time",
                    "work_started_at_date_time",
                    "work_heartbeat_date_time",
                    "work_finished_at_date_time",
                    "duration",
                    "work_duration_estimation_seconds",
                    "work_finished_duration_seconds",
                    "learning_delay_elapsed_seconds",
                    "solving_delay_elapsed_seconds",
                ]
            },
        ),
        (
            "Servers and lines",
            {
                "fields": [
                    "work_started_by_server_name",
                    "work_finished_by_server_name",
                    "work_started_count_of_line_to_process",
                    "work_finished_count_of_line_to_process",
                ]
            },
        ),
        (
            "Flags",
            {
                "classes": ["collapse"],
                "fields": [
                    "is_work_training",
                    "is_work_solving",
                    "is_work_status_wait_for_server_start",
                    "is_work_status_server_processing",
                    "is_work_status_server_finished",
                    "is_work_status_server_error",
                    "is_work_status_cancelled",
                ],
            },
        ),
    ]

    class Media:
        css = ADMIN_CSS

    def get_queryset(self, request: HttpRequest) -> QuerySet[Work]:
        return super().get_queryset(request).with_status()  # type: ignore[attr-defined]

    # Columns -----------------------------------------------------------------------------

    @admin.display(description="machine", ordering="machine__machine_name")
    def machine_link(self, obj: Work) -> SafeString | str:
        return admin_link(obj.machine)

    @admin.display(description="created", ordering="creation_date_time")
    def created(self, obj: Work) -> SafeString | str:
        return short_datetime(obj.creation_date_time)

    @admin.display(description="started", ordering="work_started_at_date_time")
    def started(self, obj: Work) -> SafeString | str:
        return short_datetime(obj.work_started_at_date_time)

    @admin.display(description="finished", ordering="work_finished_at_date_time")
    def finished(self, obj: Work) -> SafeString | str:
        return short_datetime(obj.work_finished_at_date_time)

    @admin.display(description="attempts", ordering="work_attempt_count")
    def attempts(self, obj: Work) -> int:
        return obj.work_attempt_count

    @admin.display(description="mode")
    def mode(self, obj: Work) -> str:
        return _mode(obj)

    @admin.display(description="status", ordering="work_status")
    def status_badge(self, obj: Work) -> SafeString:
        status = obj.status
        label = WorkStatus(status).label if status in WorkStatus.values else "unknown"
        return badge(status, str(label))

    @admin.display(description="duration")
    def duration(self, obj: Work) -> str:
        if obj.work_finished_duration_seconds is not None:
            return format_duration(obj.work_finished_duration_seconds)
        started = obj.work_started_at_date_time
        if started is None:
            return "-"
        end = obj.work_finished_at_date_time
        if end is None and obj.is_work_status_server_processing:
            return f"{format_duration(timezone.now() - started)} (running)"
        return format_duration(end - started) if end is not None else "-"

    @admin.display(description="error")
    def error(self, obj: Work) -> SafeString:
        return pretty_json(obj.text_error)

    @admin.display(description="warnings")
    def warnings(self, obj: Work) -> SafeString:
        return pretty_json(obj.text_warning)

    # Status line -------------------------------------------------------------------------

    def status_counts(self, request: HttpRequest) -> list[dict[str, Any]]:
        """One entry per status, in queue order: value, label and number of items (one query)."""
        queryset: Any = self.get_queryset(request)  # the plugin cannot see annotations
        rows = queryset.order_by().values("work_status").annotate(count=Count("pk"))
        counts = {row["work_status"]: row["count"] for row in rows}
        return [
            {"value": status.value, "label": status.label, "count": counts.get(status.value, 0)}
            for status in WorkStatus
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        context = {"status_counts": self.status_counts(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    # Actions -----------------------------------------------------------------------------

    #: Detail-page buttons: URL name suffix -> (method, past tense, statuses it applies to).
    ITEM_TRANSITIONS: dict[str, tuple[Callable[[Work], None], str, str, tuple[str, ...]]] = {
        "requeue": (Work.requeue, "requeued", "errored or stale", ("error", "stale")),
        "cancel": (Work.cancel, "cancelled", "waiting", ("waiting",)),
    }

    def get_urls(self) -> list[URLPattern]:
        opts = self.opts
        urls = [
            path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(self.item_transition_view),
                {"transition": name},
                name=f"{opts.app_label}_{opts.model_name}_{name}",
            )
            for name in self.ITEM_TRANSITIONS
        ]
        return urls + super().get_urls()

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        buttons = []
        work = self.get_object(request, unquote(object_id))
        if work is not None and self.has_queue_permission(request):
            opts = self.opts
            for name, (_, _, _, statuses) in self.ITEM_TRANSITIONS.items():
                if work.status in statuses:
                    url = reverse(
                        f"admin:{opts.app_label}_{opts.model_name}_{name}", args=[work.pk]
                    )
                    buttons.append({"name": name, "label": name.capitalize(), "url": url})
        context = {"queue_buttons": buttons, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context=context)

    def item_transition_view(
        self, request: HttpRequest, object_id: str, transition: str
    ) -> HttpResponse:
        """POST-only: requeue or cancel one item from its page, like the changelist action."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_queue_permission(request):
            raise PermissionDenied
        work = self.get_object(request, unquote(object_id))
        if work is None:
            raise Http404(f"no work item {object_id!r}")
        method, done, allowed, _ = self.ITEM_TRANSITIONS[transition]
        self._transition(
            request, self.get_queryset(request).filter(pk=work.pk), method, done, allowed
        )
        opts = self.opts
        return HttpResponseRedirect(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[work.pk])
        )

    def has_queue_permission(self, request: HttpRequest) -> bool:
        """Requeue and cancel need the model's ``change`` permission (the form stays off)."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(
        description="Requeue selected errored or stale %(verbose_name_plural)s",
        permissions=["queue"],
    )
    def requeue_items(self, request: HttpRequest, queryset: QuerySet[Work]) -> None:
        self._transition(request, queryset, Work.requeue, "requeued", "errored or stale")

    @admin.action(
        description="Cancel selected waiting %(verbose_name_plural)s", permissions=["queue"]
    )
    def cancel_items(self, request: HttpRequest, queryset: QuerySet[Work]) -> None:
        self._transition(request, queryset, Work.cancel, "cancelled", "waiting")

    def _transition(
        self,
        request: HttpRequest,
        queryset: QuerySet[Work],
        method: Callable[[Work], None],
        done: str,
        allowed: str,
    ) -> None:
        changed: list[Work] = []
        skipped: list[str] = []
        for work in queryset.order_by("pk"):
            before = work.status
            try:
                method(work)
            except WorkStateError:
                skipped.append(f"#{work.pk} ({before})")
                continue
            changed.append(work)
            self.log_change(request, work, f"{capfirst(done)} from the admin (was {before}).")
        noun = self.opts.verbose_name if len(changed) == 1 else self.opts.verbose_name_plural
        self.message_user(
            request,
            f"{capfirst(done)} {len(changed)} {noun}.",
            messages.SUCCESS if changed else messages.WARNING,
        )
        if skipped:
            self.message_user(
                request,
                f"Skipped {len(skipped)} that {'is' if len(skipped) == 1 else 'are'} not "
                f"{allowed}: {', '.join(skipped)}.",
                messages.WARNING,
            )


@admin.register(Server)
class ServerAdmin(EmptyAllowedAdmin):
    """The servers; each row shows how many items it holds now and how many it failed."""

    list_display = [
        "server_name",
        "server_info_ready",
        "server_date_time",
        "items_processing",
        "items_errored",
    ]
    list_filter = ["server_info_ready"]
    search_fields = ["server_name"]
    ordering = ["server_name"]
    readonly_fields = ["server_date_time"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Server]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                processing_count=Count(
                    "work", filter=Q(work__is_work_status_server_processing=True)
                ),
                error_count=Count("work", filter=Q(work__is_work_status_server_error=True)),
            )
        )

    @admin.display(description="processing", ordering="processing_count")
    def items_processing(self, obj: Any) -> int:
        return int(obj.processing_count)

    @admin.display(description="errored", ordering="error_count")
    def items_errored(self, obj: Any) -> int:
        return int(obj.error_count)
