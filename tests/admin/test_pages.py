"""Every admin page renders; the editable ones save through the models' own methods."""

from __future__ import annotations

from collections import Counter

import pytest
from django.contrib import admin
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from easyautoml_models.admin.platform import MachineAdmin
from easyautoml_models.factories import (
    ConsultingRequestFactory,
    MachineFactory,
    TeamFactory,
    UserFactory,
)
from easyautoml_models.models import Machine, Team, User
from tests.admin.builders import ROW_MAKERS
from tests.admin.test_queries import REGISTERED

pytestmark = pytest.mark.django_db

READ_ONLY = {
    "operation",
    "credit",
    "debit",
    "creditixioo",
    "debitixioo",
    "billing",
    "work",
    "easyautomllogger",
    "datalinesoperation",
    "machinetablelockwrite",
}


def url(model_name: str, view: str, *args: object) -> str:
    return reverse(f"admin:easyautoml_models_{model_name}_{view}", args=args)


@pytest.mark.parametrize("model_name", REGISTERED)
def test_changelist_and_detail_render(admin_client: Client, model_name: str) -> None:
    row = ROW_MAKERS[model_name](1)[0]
    assert admin_client.get(url(model_name, "changelist")).status_code == 200
    assert admin_client.get(url(model_name, "changelist"), {"q": "x"}).status_code == 200
    detail = admin_client.get(url(model_name, "change", row.pk))
    assert detail.status_code == 200
    add = admin_client.get(url(model_name, "add"))
    assert add.status_code == (403 if model_name in READ_ONLY else 200)
    assert ('name="_save"' in detail.content.decode()) == (model_name not in READ_ONLY)


def test_machine_fieldsets_show_every_field_once(admin_client: Client) -> None:
    machine = MachineFactory.create()
    model_admin = admin.site._registry[Machine]
    assert isinstance(model_admin, MachineAdmin)
    fieldsets = model_admin.get_fieldsets(None, machine)  # type: ignore[arg-type]
    shown = Counter(name for _, options in fieldsets for name in options["fields"])
    expected = {field.name for field in Machine._meta.concrete_fields}
    assert set(shown) == expected and set(shown.values()) == {1}
    titles = [title for title, _ in fieldsets]
    assert titles[:2] == ["Identity", "Marketplace"] and "Other" not in titles
    assert len(expected) > 100


def test_machine_change_form_saves_through_the_model(admin_client: Client) -> None:
    machine = MachineFactory.create()
    column_types = Machine.objects.get(pk=machine.pk).dfr_columns_type_user_df
    change = url("machine", "change", machine.pk)
    form = admin_client.get(change).context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name)
        data[name] = field.prepare_value(value) if value is not None else ""
    data.update(
        machine_name="Renamed",
        machine_owner_user=str(machine.machine_owner_user_id),
        machine_level="3",
    )
    data = {key: value for key, value in data.items() if value is not False}
    response = admin_client.post(change, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    machine.refresh_from_db()
    assert (machine.machine_name, machine.machine_level) == ("Renamed", 3)
    # The column types (loaded as enums) survive the round trip through the JSON textarea.
    assert machine.dfr_columns_type_user_df == column_types
    # Machine.save() validation is the form's: a reserved name for a non-superuser is refused.
    data["machine_name"] = "__system__"
    response = admin_client.post(change, data)
    assert response.status_code == 200
    assert "reserved for machines owned by a superuser" in response.content.decode()


def test_add_user_with_email_login(admin_client: Client) -> None:
    response = admin_client.post(
        url("user", "add"),
        {
            "email": "New.Person@Example.com",
            "usable_password": "true",
            "password1": "a sufficiently long passphrase",
            "password2": "a sufficiently long passphrase",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email__iexact="new.person@example.com")
    assert user.check_password("a sufficiently long passphrase")
    assert (user.user_balance, user.user_ixioo_balance) == (0, 0)
    # The e-mail is unique whatever its case.
    again = admin_client.post(
        url("user", "add"),
        {
            "email": "NEW.PERSON@example.com",
            "usable_password": "true",
            "password1": "a sufficiently long passphrase",
            "password2": "a sufficiently long passphrase",
        },
    )
    assert again.status_code == 200
    assert User.objects.filter(email__iexact="new.person@example.com").count() == 1


def test_user_page_lists_teams_and_recent_ledger_entries(admin_client: Client) -> None:
    user = UserFactory.create(balance=3)
    team = TeamFactory.create(members=[user])
    html = admin_client.get(url("user", "change", user.pk)).content.decode()
    assert url("team", "change", team.pk) in html
    assert 'class="eaml-ledger"' in html and "+3.00 USD" in html


def test_team_membership_goes_through_the_model(admin_client: Client) -> None:
    owner, alice, bob = UserFactory.create(), UserFactory.create(), UserFactory.create()
    response = admin_client.post(
        url("team", "add"),
        {"name": "Data team", "admin_user": owner.pk, "users": [owner.pk, alice.pk], "url": ""},
    )
    assert response.status_code == 302
    team = Team.objects.get(name="Data team")
    assert team.permission is not None
    codename = f"easyautoml_models.{team.permission.codename}"
    assert sorted(team.users.values_list("pk", flat=True)) == sorted([owner.pk, alice.pk])
    assert User.objects.get(pk=alice.pk).has_perm(codename)

    response = admin_client.post(
        url("team", "change", team.pk),
        {"name": "Data team", "admin_user": owner.pk, "users": [owner.pk, bob.pk], "url": ""},
    )
    assert response.status_code == 302
    assert sorted(team.users.values_list("pk", flat=True)) == sorted([owner.pk, bob.pk])
    assert not User.objects.get(pk=alice.pk).has_perm(codename)
    assert User.objects.get(pk=bob.pk).has_perm(codename)


def test_autocomplete_finds_users_and_machines(admin_client: Client) -> None:
    UserFactory.create(email="findme@example.com")
    MachineFactory.create(machine_name="Needle machine")
    autocomplete = reverse("admin:autocomplete")
    users = admin_client.get(
        autocomplete,
        {
            "term": "findme",
            "app_label": "easyautoml_models",
            "model_name": "machine",
            "field_name": "machine_owner_user",
        },
    ).json()
    assert [result["text"] for result in users["results"]] == ["findme@example.com"]
    machines = admin_client.get(
        autocomplete,
        {
            "term": "needle",
            "app_label": "easyautoml_models",
            "model_name": "graph",
            "field_name": "machine",
        },
    ).json()
    assert [result["text"] for result in machines["results"]][0].startswith("Needle machine")


def test_add_machine_with_only_a_name_and_an_owner(admin_client: Client) -> None:
    owner = UserFactory.create()
    response = admin_client.post(
        url("machine", "add"),
        {"machine_name": "Fresh machine", "machine_owner_user": owner.pk, "machine_level": "1"},
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    machine = Machine.objects.get(machine_name="Fresh machine")
    # Empty JSON boxes take the column's default; empty nullable columns are NULL.
    assert machine.fe_columns_fet == {} and machine.mdc_columns_name_input == {}
    assert machine.fe_budget_total is None and machine.machine_owner_user_id == owner.pk


def test_consulting_request_with_two_statuses_is_a_form_error(admin_client: Client) -> None:
    request = ConsultingRequestFactory.create()
    change = url("consultingrequest", "change", request.pk)
    data = {
        "user": request.user_id,
        "category": "2",
        "description": "x",
        "is_status_request_open": "true",
        "is_status_contract": "true",
    }
    response = admin_client.post(change, data)
    assert response.status_code == 200
    assert "consulting_one_status" in response.content.decode()
    request.refresh_from_db()
    assert (request.category, request.status) == ("1", "request_open")
    data.pop("is_status_request_open")
    assert admin_client.post(change, data).status_code == 302
    request.refresh_from_db()
    assert (request.category, request.status) == ("2", "contract")


def test_machine_list_does_not_read_the_statistics_columns(admin_client: Client) -> None:
    MachineFactory.create(machine_name="Wide dataset")
    with CaptureQueriesContext(connections["default"]) as queries:
        response = admin_client.get(url("machine", "changelist"))
    assert "Wide dataset" in response.content.decode()
    listing = [q["sql"] for q in queries.captured_queries if '"machine_name"' in q["sql"]]
    assert listing, "the list query was not captured"
    assert not any("mdc_columns_values_mean" in sql for sql in listing)
    # The change page still shows everything.
    machine = Machine.objects.get(machine_name="Wide dataset")
    detail = admin_client.get(url("machine", "change", machine.pk)).content.decode()
    assert 'name="mdc_columns_values_mean"' in detail
