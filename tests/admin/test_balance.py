"""Crediting and debiting a user from the admin: form, confirmation, ledger managers."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from easyautoml_models.factories import UserFactory
from easyautoml_models.models import Credit, CreditIXIOO, Debit, DebitIXIOO, User

pytestmark = pytest.mark.django_db

LEDGERS = [Credit, Debit, CreditIXIOO, DebitIXIOO]


def page(user: User, direction: str) -> str:
    return reverse(f"admin:easyautoml_models_user_{direction}", args=[user.pk])


def state(user: User) -> tuple[Any, ...]:
    """The user's balances and ledger row counts."""
    user.refresh_from_db()
    counts = tuple(model._default_manager.filter(user=user).count() for model in LEDGERS)
    return (user.user_balance, user.user_ixioo_balance, *counts)


def submit(client: Client, user: User, direction: str, confirm: bool, **data: str) -> Any:
    """Post the form; with ``confirm``, post the confirmation page's form too (as a browser)."""
    payload = {"currency": "usd", "amount": "25", "reason": "goodwill", **data}
    response = client.post(page(user, direction), payload)
    if not confirm or not response.context or not response.context.get("confirming"):
        return response
    return client.post(
        page(user, direction), {**payload, "_confirm": "yes", "_token": token(response)}
    )


def token(response: Any) -> str:
    """The one-time token of a confirmation page."""
    match = re.search(r'name="_token" value="([^"]+)"', response.content.decode())
    assert match is not None
    return match.group(1)


def test_credit_needs_the_confirmation_then_moves_balance_and_ledger_together(
    admin_client: Client,
) -> None:
    user = UserFactory.create(balance=Decimal("10"))
    form = admin_client.get(page(user, "credit"))
    assert form.status_code == 200
    assert 'name="amount"' in form.content.decode()

    confirmation = submit(admin_client, user, "credit", confirm=False, reason="refund #42")
    html = confirmation.content.decode()
    assert 'id="balance-confirmation"' in html
    assert "10 &rarr; <strong>35</strong>" in html
    assert state(user) == (Decimal("10"), Decimal("0"), 1, 0, 0, 0)  # nothing yet

    done = submit(admin_client, user, "credit", confirm=True, reason="refund #42")
    assert done.status_code == 302
    assert done["Location"] == reverse("admin:easyautoml_models_user_change", args=[user.pk])
    assert state(user) == (Decimal("35"), Decimal("0"), 2, 0, 0, 0)
    entry = Credit.objects.filter(user=user).order_by("-date_time").first()
    assert entry is not None and entry.amount == Decimal("25")
    log = LogEntry.objects.get(object_id=str(user.pk))
    assert log.get_change_message() == (f"Credited 25 USD (credit {entry.pk}). Reason: refund #42")
    detail = admin_client.get(done["Location"]).content.decode()
    assert "Credited 25 USD to" in detail and "the USD balance is now 35" in detail
    assert reverse("admin:easyautoml_models_credit_change", args=[entry.pk]) in detail


def test_debit_of_tokens_uses_the_token_ledger(admin_client: Client) -> None:
    user = UserFactory.create(ixioo_balance=Decimal("5"))
    response = submit(admin_client, user, "debit", True, currency="eaml", amount="1.25")
    assert response.status_code == 302
    assert state(user) == (Decimal("0"), Decimal("3.75"), 0, 0, 1, 1)


@pytest.mark.parametrize("currency", ["usd", "eaml"])
def test_overdraft_shows_the_error_and_changes_nothing(
    admin_client: Client, currency: str
) -> None:
    user = UserFactory.create(balance=Decimal("10"), ixioo_balance=Decimal("10"))
    before = state(user)
    response = submit(admin_client, user, "debit", True, currency=currency, amount="50")
    assert response.status_code == 200
    html = response.content.decode()
    label = "USD" if currency == "usd" else "EAML tokens"
    assert (
        f"Insufficient funds: {user.email} has 10 {label}, which does not cover a debit of 50 "
        f"{label}. Nothing was changed."
    ) in html
    assert state(user) == before
    assert not LogEntry.objects.filter(object_id=str(user.pk)).exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"amount": "abc"}, "amount", "Enter a number."),
        ({"amount": "-5"}, "amount", "Ensure this value is greater than or equal to 0."),
        ({"amount": "0"}, "amount", "An amount must be positive, not &#x27;0&#x27;"),
        ({"amount": "NaN"}, "amount", "Enter a number."),
        ({"amount": "1.123456789"}, "amount", "no more than 8 decimal places"),
        ({"amount": "1e30"}, "amount", "no more than 20 digits in total"),
        ({"amount": "1234567890123.5"}, "amount", "no more than 12 digits before the decimal"),
        ({"reason": "  "}, "reason", "This field is required."),
        ({"currency": "btc"}, "currency", "Select a valid choice. btc is not one of"),
    ],
)
def test_bad_input_names_the_field_and_changes_nothing(
    admin_client: Client, data: dict[str, str], field: str, message: str
) -> None:
    user = UserFactory.create(balance=Decimal("10"))
    before = state(user)
    response = submit(admin_client, user, "credit", True, **data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in response.content.decode()
    assert state(user) == before


def test_edit_goes_back_to_the_form_with_the_values(admin_client: Client) -> None:
    user = UserFactory.create()
    response = admin_client.post(
        page(user, "credit"), {"currency": "usd", "amount": "7", "reason": "x", "_edit": "1"}
    )
    html = response.content.decode()
    assert 'id="continue-button"' in html and 'value="7"' in html
    assert state(user) == (Decimal("0"), Decimal("0"), 0, 0, 0, 0)


def test_balance_pages_need_the_ledger_add_permission(client: Client) -> None:
    staff = UserFactory.create(is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_user", "change_user", "add_credit"])
    )
    client.force_login(staff)
    user = UserFactory.create(balance=Decimal("10"), ixioo_balance=Decimal("10"))
    before = state(user)
    # May credit USD only: the debit page is forbidden, the token currency is not offered.
    assert client.get(page(user, "debit")).status_code == 403
    assert submit(client, user, "debit", True).status_code == 403
    form = client.get(page(user, "credit")).content.decode()
    assert 'value="usd"' in form and 'value="eaml"' not in form
    crafted = submit(client, user, "credit", True, currency="eaml")
    assert crafted.status_code == 200 and list(crafted.context["form"].errors) == ["currency"]
    assert state(user) == before
    change = client.get(reverse("admin:easyautoml_models_user_change", args=[user.pk]))
    assert 'id="credit-balance-link"' in change.content.decode()
    assert 'id="debit-balance-link"' not in change.content.decode()

    nobody = UserFactory.create(is_staff=True)
    nobody.user_permissions.add(*Permission.objects.filter(codename__in=["view_user"]))
    client.force_login(nobody)
    assert client.get(page(user, "credit")).status_code == 403


def test_the_user_form_cannot_change_a_balance(admin_client: Client) -> None:
    user = UserFactory.create(balance=Decimal("10"))
    change = reverse("admin:easyautoml_models_user_change", args=[user.pk])
    response = admin_client.get(change)
    form = response.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(
        email=user.email,
        user_balance="1000000",
        user_ixioo_balance="1000000",
        coupon_balance="1000000",
        date_joined_0="2020-01-01",
        date_joined_1="00:00:00",
        groups=[],
        user_permissions=[],
        coupons_activated_date="{}",
        first_name="Renamed",
    )
    data = {key: value for key, value in data.items() if not isinstance(value, (list, dict))}
    response = admin_client.post(change, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.first_name == "Renamed"
    assert (user.user_balance, user.user_ixioo_balance, user.coupon_balance) == (
        Decimal("10"),
        Decimal("0"),
        Decimal("0"),
    )


def test_changelist_actions_lead_to_the_balance_page_for_one_user(admin_client: Client) -> None:
    first, second = UserFactory.create(), UserFactory.create()
    changelist = reverse("admin:easyautoml_models_user_changelist")
    one = admin_client.post(
        changelist, {"action": "credit_balance", "_selected_action": [str(first.pk)]}
    )
    assert one.status_code == 302 and one["Location"] == page(first, "credit")
    two = admin_client.post(
        changelist,
        {"action": "debit_balance", "_selected_action": [str(first.pk), str(second.pk)]},
        follow=True,
    )
    assert [str(m) for m in two.context["messages"]] == [
        "Select exactly one user to debit: each balance change is confirmed on its own page."
    ]


def test_a_confirmation_moves_money_once(admin_client: Client) -> None:
    user = UserFactory.create()
    payload = {"currency": "usd", "amount": "5", "reason": "bonus"}
    confirmation = admin_client.post(page(user, "credit"), payload)
    confirmed = {**payload, "_confirm": "yes", "_token": token(confirmation)}
    assert admin_client.post(page(user, "credit"), confirmed).status_code == 302
    # The same POST again (reload, double click): refused, nothing moves.
    again = admin_client.post(page(user, "credit"), confirmed)
    assert again.status_code == 200
    assert "This confirmation was already used or has expired" in again.content.decode()
    assert state(user) == (Decimal("5"), Decimal("0"), 1, 0, 0, 0)
    # A crafted confirmation that never went through the confirmation page does nothing either.
    forged = {**payload, "_confirm": "yes", "_token": "guess"}
    assert admin_client.post(page(user, "credit"), forged).status_code == 200
    assert admin_client.post(page(user, "credit"), {**payload, "_confirm": "y"}).status_code == 200
    assert state(user) == (Decimal("5"), Decimal("0"), 1, 0, 0, 0)


@pytest.mark.parametrize(
    "changed",
    [
        {"amount": "5000", "currency": "eaml"},
        {"amount": "5000"},
        {"currency": "eaml"},
        {"reason": "something else"},
    ],
)
def test_a_confirmation_moves_only_what_was_confirmed(
    admin_client: Client, changed: dict[str, str]
) -> None:
    user = UserFactory.create()
    payload = {"currency": "usd", "amount": "1", "reason": "bonus"}
    confirmation = admin_client.post(page(user, "credit"), payload)
    assert "credit" in confirmation.content.decode().lower()
    tampered = {**payload, **changed, "_confirm": "yes", "_token": token(confirmation)}
    response = admin_client.post(page(user, "credit"), tampered)
    assert response.status_code == 200
    assert "does not match what was confirmed" in response.content.decode()
    assert state(user) == (Decimal("0"), Decimal("0"), 0, 0, 0, 0)
    # The confirmation of the original values still works, once.
    original = {**payload, "_confirm": "yes", "_token": token(confirmation)}
    assert admin_client.post(page(user, "credit"), original).status_code == 302
    assert state(user) == (Decimal("1"), Decimal("0"), 1, 0, 0, 0)


def test_a_confirmation_for_another_user_or_direction_is_refused(admin_client: Client) -> None:
    user, other = UserFactory.create(balance=Decimal("10")), UserFactory.create()
    payload = {"currency": "usd", "amount": "1", "reason": "bonus"}
    confirmation = admin_client.post(page(user, "credit"), payload)
    confirmed = {**payload, "_confirm": "yes", "_token": token(confirmation)}
    assert "does not match" in admin_client.post(page(other, "credit"), confirmed).content.decode()
    assert "does not match" in admin_client.post(page(user, "debit"), confirmed).content.decode()
    assert state(user) == (Decimal("10"), Decimal("0"), 1, 0, 0, 0)
    assert state(other) == (Decimal("0"), Decimal("0"), 0, 0, 0, 0)


def test_crediting_past_the_column_limit_is_a_message_not_a_500(admin_client: Client) -> None:
    user = UserFactory.create(balance=Decimal("999999999999"))
    # The form refuses it before the confirmation page ...
    response = submit(admin_client, user, "credit", False, amount="1")
    assert response.status_code == 200
    assert "999999999999.99999999" in response.content.decode()
    assert not response.context.get("confirming")
    assert state(user) == (Decimal("999999999999"), Decimal("0"), 1, 0, 0, 0)


def test_a_balance_that_grew_after_the_confirmation_page_is_a_message_not_a_500(
    admin_client: Client,
) -> None:
    user = UserFactory.create(balance=Decimal("999999999990"))
    payload = {"currency": "usd", "amount": "5", "reason": "bonus"}
    confirmation = admin_client.post(page(user, "credit"), payload)
    Credit.objects.increase(user, Decimal("9"))  # meanwhile, elsewhere
    confirmed = {**payload, "_confirm": "yes", "_token": token(confirmation)}
    response = admin_client.post(page(user, "credit"), confirmed)
    assert response.status_code == 200
    assert "999999999999.99999999" in response.content.decode()
    assert state(user) == (Decimal("999999999999"), Decimal("0"), 2, 0, 0, 0)


@pytest.mark.parametrize("amount", ["1e20", "123456789012345678901", "1E+11"])
def test_the_form_refuses_amounts_the_ledger_cannot_hold(
    admin_client: Client, amount: str
) -> None:
    user = UserFactory.create(balance=Decimal("999999999999"))
    response = submit(admin_client, user, "credit", True, amount=amount)
    assert response.status_code == 200
    assert response.context["form"].errors
    assert state(user) == (Decimal("999999999999"), Decimal("0"), 1, 0, 0, 0)
