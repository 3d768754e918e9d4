"""Billing pages: operations, the four ledgers and the legacy Billing table, all read-only.

Nobody adds, changes or deletes a row here, whatever their permissions. Money moves only through
the user admin's "credit balance" / "debit balance" pages, which call the ledger managers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from easyautoml_models.admin.base import ADMIN_CSS, ReadOnlyModelAdmin, admin_link, short_datetime
from easyautoml_models.models import (
    OPERATION_TYPES,
    Billing,
    Credit,
    CreditIXIOO,
    Debit,
    DebitIXIOO,
    Operation,
)

__all__ = [
    "BillingAdmin",
    "CreditAdmin",
    "CreditIXIOOAdmin",
    "DebitAdmin",
    "DebitIXIOOAdmin",
    "LedgerEntryAdmin",
    "OperationAdmin",
    "money_text",
    "operation_type_label",
    "signed_amount",
]

#: Ledger link of an Operation -> (sign, currency) of the amount it moved.
_LEDGER_LINKS = {
    "credit": (1, "USD"),
    "debit": (-1, "USD"),
    "credit_ixioo": (1, "EAML"),
    "debit_ixioo": (-1, "EAML"),
}


def operation_type_label(flag: str | None) -> str:
    """``"is_solving_with_api_operation"`` -> ``"solving with api"``; None -> ``"-"``."""
    if not flag:
        return "-"
    return flag.removeprefix("is_").removesuffix("_operation").replace("_", " ")


def signed_amount(amount: Decimal, sign: int, currency: str) -> SafeString:
    """``+25.00 USD`` in green or ``−12.50 EAML`` in red, trailing zeros trimmed to 2 places."""
    text = f"{'+' if sign > 0 else '−'}{money_text(amount)} {currency}"
    css = "eaml-amount--credit" if sign > 0 else "eaml-amount--debit"
    return format_html('<span class="eaml-amount {}">{}</span>', css, text)


def money_text(amount: Decimal) -> str:
    """At least two decimal places, no trailing zeros beyond them: 25 -> 25.00, 0.125 -> 0.125."""
    text = f"{amount.normalize():f}"
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


class OperationTypeFilter(admin.SimpleListFilter):
    """Filter operations by their type flag (training, solving, ..., pay a bill)."""

    title = "type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(flag, operation_type_label(flag)) for flag in OPERATION_TYPES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any] | None:
        value = self.value()
        if value in OPERATION_TYPES:
            return queryset.filter(**{value: True})
        return queryset


@admin.register(Operation)
class OperationAdmin(ReadOnlyModelAdmin):
    """Every billable operation, newest first, with who paid, for which machine, and how much."""

    list_display = [
        "when",
        "operation_type",
        "operation_user",
        "machine_owner",
        "machine_link",
        "lines",
        "epochs",
        "amount_charged",
    ]
    list_select_related = ["operation_user", "machine_owner", "machine", *_LEDGER_LINKS]
    list_filter = [OperationTypeFilter, "date_time"]
    date_hierarchy = "date_time"
    search_fields = ["operation_user__email", "machine__machine_name"]
    ordering = ["-date_time"]
    readonly_fields = ["operation_type", "amount_charged", "lines", "epochs"]

    class Media:
        css = ADMIN_CSS

    fieldsets = [
        (None, {"fields": ["id", "operation_type", "date_time", "amount_charged"]}),
        ("Who and what", {"fields": ["operation_user", "machine_owner", "machine"]}),
        ("Quantities", {"fields": ["count_of_lines", "count_of_training_epoch"]}),
        ("Ledger entries", {"fields": list(_LEDGER_LINKS)}),
        ("Type flags", {"classes": ["collapse"], "fields": tuple(OPERATION_TYPES)}),
        ("Idempotency", {"classes": ["collapse"], "fields": ["idempotency_key"]}),
    ]

    @admin.display(description="date", ordering="date_time")
    def when(self, obj: Operation) -> SafeString | str:
        return short_datetime(obj.date_time)

    @admin.display(description="type")
    def operation_type(self, obj: Operation) -> str:
        return operation_type_label(obj.type_flag)

    @admin.display(description="machine", ordering="machine__machine_name")
    def machine_link(self, obj: Operation) -> SafeString | str:
        return admin_link(obj.machine)

    @admin.display(description="lines", ordering="count_of_lines")
    def lines(self, obj: Operation) -> int | None:
        return obj.count_of_lines

    @admin.display(description="epochs", ordering="count_of_training_epoch")
    def epochs(self, obj: Operation) -> int | None:
        return obj.count_of_training_epoch

    @admin.display(description="amount charged")
    def amount_charged(self, obj: Operation) -> SafeString | str:
        for link, (sign, currency) in _LEDGER_LINKS.items():
            entry = getattr(obj, link)
            if entry is not None:
                return signed_amount(entry.amount, sign, currency)
        return "-"


class LedgerEntryAdmin(ReadOnlyModelAdmin):
    """A ledger: append-only rows of positive amounts; the model gives the direction."""

    #: +1 for credits, -1 for debits (for the sign shown in the list).
    sign = 1
    currency = "USD"
    #: The reverse one-to-one name from the ledger row to its Operation.
    operation_link = ""

    list_display = ["when", "user", "signed_amount", "operation"]
    list_filter = ["date_time"]
    date_hierarchy = "date_time"
    search_fields = ["user__email"]
    ordering = ["-date_time"]
    readonly_fields = ["operation"]

    class Media:
        css = ADMIN_CSS

    def get_list_select_related(self, request: HttpRequest) -> list[str]:
        return ["user", self.operation_link]

    @admin.display(description="date", ordering="date_time")
    def when(self, obj: Any) -> SafeString | str:
        return short_datetime(obj.date_time)

    @admin.display(description="amount", ordering="amount")
    def signed_amount(self, obj: Any) -> SafeString:
        return signed_amount(obj.amount, self.sign, self.currency)

    @admin.display(description="operation")
    def operation(self, obj: Any) -> SafeString | str:
        operation = getattr(obj, self.operation_link, None)
        if operation is None:
            return "-"
        return admin_link(operation, operation_type_label(operation.type_flag))


@admin.register(Credit)
class CreditAdmin(LedgerEntryAdmin):
    """USD credited to users (``User.user_balance`` up)."""

    sign, currency, operation_link = 1, "USD", "credit_operation"


@admin.register(Debit)
class DebitAdmin(LedgerEntryAdmin):
    """USD debited from users (``User.user_balance`` down)."""

    sign, currency, operation_link = -1, "USD", "debit_operation"


@admin.register(CreditIXIOO)
class CreditIXIOOAdmin(LedgerEntryAdmin):
    """EAML tokens credited to users (``User.user_ixioo_balance`` up)."""

    sign, currency, operation_link = 1, "EAML", "credit_ixioo_operation"


@admin.register(DebitIXIOO)
class DebitIXIOOAdmin(LedgerEntryAdmin):
    """EAML tokens debited from users (``User.user_ixioo_balance`` down)."""

    sign, currency, operation_link = -1, "EAML", "debit_ixioo_operation"


@admin.register(Billing)
class BillingAdmin(ReadOnlyModelAdmin):
    """The legacy per-operation billing table, kept readable for old data."""

    list_display = [
        "id",
        "Date",
        "operation_type",
        "Operation_User",
        "machine_owner_user",
        "machine",
        "lines",
        "cost_usd",
    ]
    list_select_related = ["Operation_User", "machine_owner_user", "machine"]
    list_filter = ["Date", "OperationIsTraining", "OperationIsSolving", "OperationIsSolvingAPI"]
    date_hierarchy = "Date"
    search_fields = ["Operation_User__email", "machine__machine_name"]
    ordering = ["-Date", "-id"]

    @admin.display(description="type")
    def operation_type(self, obj: Billing) -> str:
        return obj.get_operation_type() or "-"

    @admin.display(description="lines")
    def lines(self, obj: Billing) -> int | str:
        count = obj.count_lines()
        return "-" if count is None else count

    @admin.display(description="cost (USD)")
    def cost_usd(self, obj: Billing) -> str:
        return money_text(obj.operation_cost())
