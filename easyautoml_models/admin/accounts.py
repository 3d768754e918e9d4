"""Users (e-mail login, preferences, read-only balances, teams, manual credit/debit) and teams."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from easyautoml_models.admin.base import ADMIN_CSS, EmptyAllowedAdmin, admin_link
from easyautoml_models.admin.billing import signed_amount
from easyautoml_models.admin.forms import (
    CURRENCIES,
    BalanceChangeForm,
    EmailUserChangeForm,
    EmailUserCreationForm,
)
from easyautoml_models.exceptions import InsufficientFunds
from easyautoml_models.models import Team, User

__all__ = ["TeamAdmin", "UserAdmin"]

#: Newest ledger entries shown on a user's page (per ledger, then merged).
RECENT_LEDGER_ENTRIES = 10
DIRECTIONS = ("credit", "debit")


def plain(value: Decimal) -> str:
    """A Decimal without exponent or trailing zeros: ``Decimal("25.00000000")`` -> ``"25"``."""
    text = f"{value.normalize():f}"
    return text


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Users: e-mail login, preferences, the three balances (read-only), teams, and two pages
    that credit or debit a balance through the ledger managers."""

    form = EmailUserChangeForm
    add_form = EmailUserCreationForm
    list_display = [
        "email",
        "first_name",
        "last_name",
        "is_staff",
        "is_active",
        "user_balance",
        "user_ixioo_balance",
        "coupon_balance",
        "date_joined",
    ]
    list_filter = ["is_staff", "is_superuser", "is_super_admin", "is_active", "groups"]
    search_fields = ["email", "first_name", "last_name"]
    ordering = ["email"]
    readonly_fields = [
        "user_balance",
        "user_ixioo_balance",
        "coupon_balance",
        "last_billing_time",
        "recent_ledger_entries",
        "teams",
        "last_login",
        "date_joined",
    ]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Personal info", {"fields": ["first_name", "last_name", "user_profile"]}),
        (
            "Preferences",
            {
                "fields": [
                    "time_format",
                    "date_format",
                    "date_separator",
                    "datetime_separator",
                    "decimal_separator",
                    "coupons_activated_date",
                ]
            },
        ),
        (
            "Balances",
            {
                "description": "Balances change only through the ledger: use the "
                "“Credit balance” and “Debit balance” buttons at the top of this page.",
                "fields": [
                    "user_balance",
                    "user_ixioo_balance",
                    "coupon_balance",
                    "last_billing_time",
                    "recent_ledger_entries",
                ],
            },
        ),
        ("Teams", {"fields": ["teams"]}),
        (
            "Permissions",
            {
                "fields": [
                    "is_active",
                    "is_staff",
                    "is_superuser",
                    "is_super_admin",
                    "groups",
                    "user_permissions",
                ]
            },
        ),
        ("Important dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["email", "usable_password", "password1", "password2"],
            },
        ),
    ]
    actions = ["credit_balance", "debit_balance"]

    class Media:
        css = ADMIN_CSS

    # Read-only fields --------------------------------------------------------------------

    @admin.display(description="teams")
    def teams(self, obj: User) -> SafeString | str:
        teams = list(obj.get_user_teams()) if obj.pk else []
        if not teams:
            return "-"
        return format_html_join(", ", "{}", ((admin_link(team),) for team in teams))

    @admin.display(description="recent ledger entries")
    def recent_ledger_entries(self, obj: User) -> SafeString | str:
        if obj.pk is None:
            return "-"
        entries: list[tuple[Any, int, str, Any]] = []
        for currency in CURRENCIES.values():
            ledgers: list[tuple[int, Any]] = [
                (1, currency.credit_model),
                (-1, currency.debit_model),
            ]
            for sign, model in ledgers:
                rows = model._default_manager.filter(user=obj).order_by("-date_time")
                short = "USD" if currency.key == "usd" else "EAML"
                entries += [
                    (row.date_time, sign, short, row) for row in rows[:RECENT_LEDGER_ENTRIES]
                ]
        if not entries:
            return "-"
        entries.sort(key=lambda entry: entry[0], reverse=True)
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    date_time.strftime("%Y-%m-%d %H:%M:%S"),
                    admin_link(row, type(row)._meta.verbose_name),
                    signed_amount(row.amount, sign, short),
                )
                for date_time, sign, short, row in entries[:RECENT_LEDGER_ENTRIES]
            ),
        )
        return format_html(
            '<table class="eaml-ledger"><thead><tr><th>when</th><th>ledger</th><th>amount</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            body,
        )

    # Credit / debit ----------------------------------------------------------------------

    @property
    def _url_prefix(self) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}"

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        urls = [
            path(
                f"<path:object_id>/{direction}/",
                view(self.balance_view),
                {"direction": direction},
                name=f"{self._url_prefix}_{direction}",
            )
            for direction in DIRECTIONS
        ]
        return urls + super().get_urls()

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        links = [
            {
                "direction": direction,
                "label": f"{direction.capitalize()} balance",
                "url": reverse(f"admin:{self._url_prefix}_{direction}", args=[object_id]),
            }
            for direction in DIRECTIONS
            if self.allowed_currencies(request, direction)
        ]
        context = {"balance_links": links, **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context=context)

    def allowed_currencies(self, request: HttpRequest, direction: str) -> list[str]:
        """Currency keys ``request.user`` may move in ``direction`` (``add`` on the ledger)."""
        return [
            key
            for key, currency in CURRENCIES.items()
            if request.user.has_perm(currency.permission(direction))
        ]

    def has_credit_permission(self, request: HttpRequest) -> bool:
        return bool(self.allowed_currencies(request, "credit"))

    def has_debit_permission(self, request: HttpRequest) -> bool:
        return bool(self.allowed_currencies(request, "debit"))

    @admin.action(description="Credit balance of the selected user…", permissions=["credit"])
    def credit_balance(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        return self._redirect_to_balance_page(request, queryset, "credit")

    @admin.action(description="Debit balance of the selected user…", permissions=["debit"])
    def debit_balance(self, request: HttpRequest, queryset: QuerySet[User]) -> Any:
        return self._redirect_to_balance_page(request, queryset, "debit")

    def _redirect_to_balance_page(
        self, request: HttpRequest, queryset: QuerySet[User], direction: str
    ) -> HttpResponseRedirect | None:
        users = list(queryset[:2])
        if len(users) != 1:
            self.message_user(
                request,
                f"Select exactly one user to {direction}: each balance change is confirmed on "
                "its own page.",
                messages.WARNING,
            )
            return None
        return HttpResponseRedirect(
            reverse(f"admin:{self._url_prefix}_{direction}", args=[users[0].pk])
        )

    def balance_view(self, request: HttpRequest, object_id: str, direction: str) -> HttpResponse:
        """Credit or debit one balance of one user, with a confirmation step.

        GET shows the form; a valid POST shows what will happen; the confirmed POST calls the
        ledger manager (``Credit.objects.increase``, ``Debit.objects.decrease``, ...), which
        changes the balance and writes the ledger row in one transaction. A refused debit
        (:class:`InsufficientFunds`) shows the error on the form and nothing changes.
        """
        if direction not in DIRECTIONS:  # pragma: no cover - the URLs only pass these two
            raise Http404(direction)
        user = self.get_object(request, unquote(object_id))
        if user is None:
            return self._get_obj_does_not_exist_redirect(  # type: ignore[attr-defined]
                request, self.opts, object_id
            )
        allowed = self.allowed_currencies(request, direction)
        if not allowed or not self.has_view_or_change_permission(request, user):
            raise PermissionDenied
        form = BalanceChangeForm(
            request.POST or None, allowed=allowed, user=user, direction=direction
        )
        confirming = False
        if request.method == "POST" and "_edit" not in request.POST and form.is_valid():
            if "_confirm" not in request.POST:
                confirming = True
            else:
                nonce = self._redeemable_confirmation(request, user, direction, form)
                if nonce is not None:
                    done = self._move_money(request, user, direction, form, nonce)
                    if done is not None:
                        return done
        return self._render_balance_page(request, user, direction, form, confirming)

    def _confirmed_values(
        self, request: HttpRequest, user: User, direction: str, form: BalanceChangeForm
    ) -> dict[str, str]:
        """What a confirmation binds: operator, user, direction, currency, amount, reason."""
        data = form.cleaned_data
        return {
            "operator": str(request.user.pk),
            "user": str(user.pk),
            "direction": direction,
            "currency": str(data["currency"]),
            "amount": str(data["amount"]),
            "reason": str(data["reason"]),
        }

    def _issue_confirmation(
        self, request: HttpRequest, user: User, direction: str, form: BalanceChangeForm
    ) -> str:
        """A signed token of exactly what the confirmation page shows, and a one-time nonce.

        The nonce becomes the ledger entry's idempotency key when the confirmation is redeemed,
        so the unique key of the INSERT that moves the money decides, in the same statement,
        whether this confirmation was already used: any number of concurrent or repeated POSTs
        moves the money at most once.
        """
        values = self._confirmed_values(request, user, direction, form)
        values["nonce"] = secrets.token_urlsafe(16)
        return signing.dumps(values, salt=CONFIRMATION_SALT)

    def _redeemable_confirmation(
        self, request: HttpRequest, user: User, direction: str, form: BalanceChangeForm
    ) -> str | None:
        """The nonce of the posted confirmation if it confirms this very change, else None.

        Refusals are added to the form: an unknown or expired token, or posted values that are
        not the confirmed ones (another amount, currency, reason, user or direction).
        """
        try:
            confirmed = signing.loads(
                request.POST.get("_token", ""),
                salt=CONFIRMATION_SALT,
                max_age=CONFIRMATION_MAX_AGE,
            )
        except signing.BadSignature:
            form.add_error(None, ALREADY_USED)
            return None
        posted = self._confirmed_values(request, user, direction, form)
        changed = [name for name, value in posted.items() if confirmed.get(name) != value]
        if changed:
            form.add_error(
                None,
                f"This request does not match what was confirmed ({', '.join(changed)} "
                "differ), so nothing was done. Continue again to confirm the new values.",
            )
            return None
        return str(confirmed["nonce"])

    def _move_money(
        self,
        request: HttpRequest,
        user: User,
        direction: str,
        form: BalanceChangeForm,
        nonce: str,
    ) -> HttpResponse | None:
        currency, amount = form.chosen, form.cleaned_data["amount"]
        ledger = currency.ledger(direction)
        manager: Any = ledger._default_manager
        move = manager.increase if direction == "credit" else manager.decrease
        try:
            entry = move(user, amount, idempotency_key=f"admin-balance:{nonce}")
        except InsufficientFunds as exc:
            balance = exc.balance if exc.balance is not None else Decimal(0)
            form.add_error(
                None,
                f"Insufficient funds: {user.email} has {plain(balance)} "
                f"{currency.label}, which does not cover a debit of {plain(amount)} "
                f"{currency.label}. Nothing was changed.",
            )
            self.message_user(request, "The debit was refused; nothing changed.", messages.ERROR)
            return None
        except ValueError as exc:
            form.add_error(None, f"{str(exc).capitalize()}. Nothing was changed.")
            return None
        if entry.replayed:  # a concurrent or repeated POST of this confirmation moved it
            form.add_error(None, ALREADY_USED)
            return None
        user.refresh_from_db(fields=[currency.balance_field])
        balance = getattr(user, currency.balance_field)
        verb = "Credited" if direction == "credit" else "Debited"
        reason = form.cleaned_data["reason"]
        self.log_change(
            request,
            user,
            f"{verb} {plain(amount)} {currency.label} "
            f"({ledger._meta.verbose_name} {entry.pk}). Reason: {reason}",
        )
        self.message_user(
            request,
            format_html(
                "{} {} {} {} {}: the {} balance is now {}. Ledger entry {}.",
                verb,
                plain(amount),
                currency.label,
                "to" if direction == "credit" else "from",
                user.email,
                currency.label,
                plain(balance),
                admin_link(entry, str(entry.pk)),
            ),
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse(f"admin:{self._url_prefix}_change", args=[user.pk]))

    def _render_balance_page(
        self,
        request: HttpRequest,
        user: User,
        direction: str,
        form: BalanceChangeForm,
        confirming: bool,
    ) -> TemplateResponse:
        opts = self.opts
        context = {
            **self.admin_site.each_context(request),
            "title": f"{direction.capitalize()} balance of {user.email}",
            "subtitle": None,
            "opts": opts,
            "original": user,
            "direction": direction,
            "form": form,
            "confirming": confirming,
            "balances": [
                (currency.label, getattr(user, currency.balance_field))
                for currency in CURRENCIES.values()
            ],
            "has_view_permission": self.has_view_permission(request, user),
            "media": self.media + form.media,
        }
        if confirming:
            currency = form.chosen
            before = getattr(user, currency.balance_field) or Decimal(0)
            amount = form.cleaned_data["amount"]
            after = before + amount if direction == "credit" else before - amount
            context.update(
                token=self._issue_confirmation(request, user, direction, form),
                currency=currency,
                amount=plain(amount),
                before=plain(before),
                after=plain(after),
                overdraft=after < 0,
            )
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request, f"admin/{opts.app_label}/{opts.model_name}/balance_form.html", context
        )


#: How long a confirmation page may be confirmed, in seconds.
CONFIRMATION_MAX_AGE = 3600
CONFIRMATION_SALT = "easyautoml_models.admin.balance-confirmation"
ALREADY_USED = (
    "This confirmation was already used or has expired, so nothing was done. "
    "Check the balance above, then continue again if the change is still needed."
)


@admin.register(Team)
class TeamAdmin(EmptyAllowedAdmin):
    """Teams. Adding or removing members grants or revokes the team's permission."""

    fields = ["name", "admin_user", "users", "url", "permission"]
    # Django 6 assumes https for scheme-less URLs; say so now (and silence the 5.x warning).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "admin_user", "member_count", "url"]
    list_select_related = ["admin_user"]
    search_fields = ["name", "admin_user__email"]
    autocomplete_fields = ["admin_user", "users"]
    readonly_fields = ["permission"]
    ordering = ["name", "pk"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(members=Count("users", distinct=True))

    @admin.display(description="members", ordering="members")
    def member_count(self, obj: Any) -> int:
        return int(obj.members)

    def save_model(self, request: HttpRequest, obj: Team, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        obj.create_permission()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Membership goes through the model so the team's permission follows it.
        wanted = form.cleaned_data.pop("users", None)
        super().save_related(request, form, formsets, change)
        if wanted is None:
            return
        team = form.instance
        current = set(team.users.all())
        for user in sorted(current - set(wanted), key=lambda u: u.pk):
            team.remove_user_from_team(user)
        for user in sorted(set(wanted) - current, key=lambda u: u.pk):
            team.add_user_to_team(user)
