"""Billing pages: read-only for everybody, invisible without billing permissions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from easyautoml_models.admin.billing import money_text
from easyautoml_models.factories import UserFactory
from easyautoml_models.models import Billing, Credit, CreditIXIOO, Debit, DebitIXIOO, Operation
from tests.admin.builders import ROW_MAKERS, make_operations

pytestmark = pytest.mark.django_db

BILLING_MODELS = ["operation", "credit", "debit", "creditixioo", "debitixioo", "billing"]
MODELS = {
    "operation": Operation,
    "credit": Credit,
    "debit": Debit,
    "creditixioo": CreditIXIOO,
    "debitixioo": DebitIXIOO,
    "billing": Billing,
}


def url(model_name: str, view: str, *args: object) -> str:
    return reverse(f"admin:easyautoml_models_{model_name}_{view}", args=args)


def snapshot() -> dict[str, Any]:
    """Every billing row and every balance, to prove that nothing changed."""
    from easyautoml_models.models import User

    rows = {
        name: sorted(map(tuple, model._default_manager.values_list()))
        for name, model in MODELS.items()
    }
    rows["balances"] = sorted(
        User.objects.values_list("pk", "user_balance", "user_ixioo_balance", "coupon_balance")
    )
    return rows


@pytest.fixture
def staff_client(client: Client) -> Client:
    """A staff user who may use the admin but has no billing permission."""
    staff = UserFactory.create(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_work", "view_user"]))
    client.force_login(staff)
    return client


@pytest.mark.parametrize("model_name", BILLING_MODELS)
def test_staff_without_billing_permissions_cannot_see_billing_pages(
    staff_client: Client, model_name: str
) -> None:
    row = ROW_MAKERS[model_name](1)[0]
    assert staff_client.get(url(model_name, "changelist")).status_code == 403
    assert staff_client.get(url(model_name, "change", row.pk)).status_code == 403
    index = staff_client.get(reverse("admin:index")).content.decode()
    assert url(model_name, "changelist") not in index
    assert url("work", "changelist") in index  # the user can use the admin otherwise


def test_view_permission_shows_the_ledger_read_only(client: Client) -> None:
    staff = UserFactory.create(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_credit"))
    client.force_login(staff)
    credit = ROW_MAKERS["credit"](1)[0]
    response = client.get(url("credit", "changelist"))
    assert response.status_code == 200
    assert url("credit", "add") not in response.content.decode()
    detail = client.get(url("credit", "change", credit.pk)).content.decode()
    assert 'name="_save"' not in detail and 'name="amount"' not in detail


@pytest.mark.parametrize("model_name", BILLING_MODELS)
def test_nobody_edits_a_billing_row_not_even_a_superuser(
    admin_client: Client, model_name: str
) -> None:
    row = ROW_MAKERS[model_name](1)[0]
    before = snapshot()
    assert admin_client.get(url(model_name, "add")).status_code == 403
    forged = {"amount": "1000000", "user": str(row.pk), "count_of_lines": "1", "_save": "Save"}
    assert admin_client.post(url(model_name, "add"), forged).status_code == 403
    assert admin_client.post(url(model_name, "change", row.pk), forged).status_code == 403
    delete = url(model_name, "delete", row.pk)
    assert admin_client.get(delete).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    changelist = admin_client.get(url(model_name, "changelist")).content.decode()
    assert "delete_selected" not in changelist
    assert url(model_name, "add") not in changelist
    response = admin_client.post(
        url(model_name, "changelist"),
        {"action": "delete_selected", "_selected_action": [str(row.pk)], "post": "yes"},
    )
    assert response.status_code in (200, 302)
    # The changelist has no editable columns either: a formset POST is ignored.
    admin_client.post(
        url(model_name, "changelist"),
        {"_save": "Save", "form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-0-id": row.pk},
    )
    assert snapshot() == before


def test_operation_list_shows_type_people_machine_and_amount(admin_client: Client) -> None:
    training, payment = make_operations(2)
    response = admin_client.get(url("operation", "changelist"))
    html = response.content.decode()
    assert training.debit_ixioo is not None and payment.credit_ixioo is not None
    assert f"−{money_text(training.debit_ixioo.amount)} EAML" in html
    assert f"+{money_text(payment.credit_ixioo.amount)} EAML" in html
    assert ">training<" in html and ">pay a bill<" in html
    assert training.machine is not None and training.machine.machine_name in html


def test_operation_filters_and_search(admin_client: Client) -> None:
    training, payment = make_operations(2)
    changelist = url("operation", "changelist")

    def ids(params: dict[str, str]) -> set[object]:
        response = admin_client.get(changelist, params)
        assert response.status_code == 200
        return {operation.pk for operation in response.context["cl"].result_list}

    assert ids({"type": "is_training_operation"}) == {training.pk}
    assert ids({"type": "is_pay_a_bill_operation"}) == {payment.pk}
    assert training.operation_user is not None and training.machine is not None
    assert ids({"q": training.operation_user.email}) == {training.pk}
    assert ids({"q": training.machine.machine_name}) == {training.pk}
    day = training.date_time
    assert ids({"date_time__year": str(day.year), "date_time__month": str(day.month)}) == {
        training.pk,
        payment.pk,
    }


def test_ledger_list_signs_amounts_and_links_the_operation(admin_client: Client) -> None:
    (payment,) = [op for op in make_operations(2) if op.credit_ixioo_id]
    response = admin_client.get(url("creditixioo", "changelist"))
    html = response.content.decode()
    assert "+2.50 EAML" in html
    assert url("operation", "change", payment.pk) in html
    user = UserFactory.create(balance=Decimal("12.5"))
    Debit.objects.decrease(user, Decimal("2"))
    html = admin_client.get(url("debit", "changelist"), {"q": user.email}).content.decode()
    assert "−2.00 USD" in html
