"""The work-queue admin: list, status line, filters, search, detail page and the two actions."""

from __future__ import annotations

import html as html_module
import re
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from easyautoml_models.factories import MachineFactory, UserFactory
from easyautoml_models.models import Work
from tests.admin.builders import make_work

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:easyautoml_models_work_changelist")


def listed_ids(response: Any) -> list[int]:
    return sorted(work.pk for work in response.context["cl"].result_list)


def status_counts(response: Any) -> dict[str, int]:
    return {entry["value"]: entry["count"] for entry in response.context["status_counts"]}


def test_changelist_shows_badges_and_counts_per_status(admin_client: Client) -> None:
    for status in ["waiting", "waiting", "processing", "stale", "finished", "error", "cancelled"]:
        make_work(status)
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    assert status_counts(response) == {
        "waiting": 2,
        "processing": 1,
        "stale": 1,
        "finished": 1,
        "error": 1,
        "cancelled": 1,
    }
    html = response.content.decode()
    assert html.count('class="eaml-badge eaml-badge--waiting"') == 3  # 2 rows + status line
    assert 'class="eaml-badge eaml-badge--stale"' in html
    assert 'id="work-status-counts"' in html


@pytest.mark.parametrize(
    "status", ["waiting", "processing", "stale", "finished", "error", "cancelled"]
)
def test_status_filter(admin_client: Client, status: str) -> None:
    items = {
        name: make_work(name)
        for name in ["waiting", "processing", "stale", "finished", "error", "cancelled"]
    }
    response = admin_client.get(CHANGELIST, {"status": status})
    assert listed_ids(response) == [items[status].pk]


def test_mode_server_and_search_filters(admin_client: Client) -> None:
    # Machine names without digits: the id search must not also match a factory's "machine 12".
    training = make_work("processing", machine=MachineFactory.create(machine_name="Fraud scorer"))
    solving = make_work(
        "waiting",
        is_work_training=False,
        is_work_solving=True,
        machine=MachineFactory.create(machine_name="Demand forecast"),
    )
    named = make_work("waiting", machine=MachineFactory.create(machine_name="Churn predictor"))
    assert listed_ids(admin_client.get(CHANGELIST, {"mode": "solving"})) == [solving.pk]
    assert listed_ids(
        admin_client.get(CHANGELIST, {"server__id__exact": str(training.server_id)})
    ) == [training.pk]
    assert listed_ids(admin_client.get(CHANGELIST, {"q": "churn"})) == [named.pk]
    assert listed_ids(admin_client.get(CHANGELIST, {"q": str(solving.pk)})) == [solving.pk]
    # A search term that is not a number is no match for the id, never an error.
    response = admin_client.get(CHANGELIST, {"q": "no-such-thing"})
    assert response.status_code == 200 and listed_ids(response) == []


def test_detail_page_shows_the_error_json_readably(admin_client: Client) -> None:
    work = make_work("error")
    response = admin_client.get(reverse("admin:easyautoml_models_work_change", args=[work.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    block = re.search(r'<pre class="eaml-json">(.*?)</pre>', html, re.S)
    assert block is not None
    # Escaped (the message contains "<while training>"), indented, one key per line.
    assert "<while training>" not in html
    text = html_module.unescape(block.group(1))
    assert '\n  "message": "CUDA out of memory <while training>",\n' in text
    assert '\n  "type": "RuntimeError"\n' in text
    # Read-only: no save button, no form inputs for the fields.
    assert 'name="_save"' not in html


def post_action(client: Client, action: str, works: list[Work]) -> Any:
    return client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [str(work.pk) for work in works]},
        follow=True,
    )


def test_requeue_action_requeues_errored_and_stale_and_skips_the_rest(
    admin_client: Client,
) -> None:
    errored, stale, waiting = make_work("error"), make_work("stale"), make_work("waiting")
    response = post_action(admin_client, "requeue_items", [errored, stale, waiting])
    messages = [str(message) for message in response.context["messages"]]
    assert messages == [
        "Requeued 2 work items.",
        f"Skipped 1 that is not errored or stale: #{waiting.pk} (waiting).",
    ]
    for work in (errored, stale):
        work.refresh_from_db()
        assert work.status == "waiting"
        assert work.work_attempt_count == 1
        assert work.server_id is None
    waiting.refresh_from_db()
    assert (waiting.status, waiting.work_attempt_count) == ("waiting", 0)
    assert LogEntry.objects.filter(object_id=str(errored.pk)).count() == 1


def test_cancel_action_cancels_waiting_items_only(admin_client: Client) -> None:
    waiting, processing = make_work("waiting"), make_work("processing")
    response = post_action(admin_client, "cancel_items", [waiting, processing])
    messages = [str(message) for message in response.context["messages"]]
    assert messages == [
        "Cancelled 1 work item.",
        f"Skipped 1 that is not waiting: #{processing.pk} (processing).",
    ]
    waiting.refresh_from_db()
    processing.refresh_from_db()
    assert (waiting.status, processing.status) == ("cancelled", "processing")


def test_actions_need_the_change_work_permission(client: Client) -> None:
    staff = UserFactory.create(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_work"))
    client.force_login(staff)
    errored = make_work("error")
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert "requeue_items" not in response.content.decode()
    # A crafted POST of the action is refused by the action form and changes nothing.
    response = post_action(client, "requeue_items", [errored])
    assert response.status_code == 200
    errored.refresh_from_db()
    assert errored.status == "error"

    staff.user_permissions.add(Permission.objects.get(codename="change_work"))
    client.force_login(staff)
    assert "requeue_items" in client.get(CHANGELIST).content.decode()
    post_action(client, "requeue_items", [errored])
    errored.refresh_from_db()
    assert errored.status == "waiting"


def test_work_is_read_only_even_for_a_superuser(admin_client: Client) -> None:
    work = make_work("error")
    change = reverse("admin:easyautoml_models_work_change", args=[work.pk])
    forged = {"is_work_status_server_error": "", "is_work_status_server_finished": "on"}
    assert admin_client.post(change, forged).status_code == 403
    assert admin_client.get(reverse("admin:easyautoml_models_work_add")).status_code == 403
    delete = reverse("admin:easyautoml_models_work_delete", args=[work.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    post_action(admin_client, "delete_selected", [work])
    work.refresh_from_db()
    assert work.status == "error"


def test_detail_page_buttons_requeue_and_cancel(client: Client) -> None:
    staff = UserFactory.create(is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_work", "change_work"])
    )
    client.force_login(staff)
    errored, waiting, finished = make_work("error"), make_work("waiting"), make_work("finished")

    def page(work: Work) -> str:
        return reverse("admin:easyautoml_models_work_change", args=[work.pk])

    def button(work: Work, name: str) -> str:
        return reverse(f"admin:easyautoml_models_work_{name}", args=[work.pk])

    html = client.get(page(errored)).content.decode()
    assert f'action="{button(errored, "requeue")}"' in html and 'id="cancel-button"' not in html
    html = client.get(page(waiting)).content.decode()
    assert 'id="cancel-button"' in html and 'id="requeue-button"' not in html
    html = client.get(page(finished)).content.decode()
    assert 'id="cancel-button"' not in html and 'id="requeue-button"' not in html

    assert client.get(button(errored, "requeue")).status_code == 405  # POST only
    response = client.post(button(errored, "requeue"), follow=True)
    assert [str(m) for m in response.context["messages"]] == ["Requeued 1 work item."]
    assert response.redirect_chain[-1][0] == page(errored)
    errored.refresh_from_db()
    assert (errored.status, errored.work_attempt_count) == ("waiting", 1)

    # A crafted POST for a status the button does not apply to changes nothing.
    response = client.post(button(finished, "cancel"), follow=True)
    assert [str(m) for m in response.context["messages"]][-1] == (
        f"Skipped 1 that is not waiting: #{finished.pk} (finished)."
    )
    finished.refresh_from_db()
    assert finished.status == "finished"
    assert client.post(button(waiting, "cancel")).status_code == 302
    waiting.refresh_from_db()
    assert waiting.status == "cancelled"
    missing = reverse("admin:easyautoml_models_work_requeue", args=["999999"])
    assert client.post(missing).status_code == 404

    # Without change_work: no buttons, and the URLs answer 403.
    viewer = UserFactory.create(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_work"))
    client.force_login(viewer)
    other = make_work("error")
    assert 'id="requeue-button"' not in client.get(page(other)).content.decode()
    assert client.post(button(other, "requeue")).status_code == 403
    other.refresh_from_db()
    assert other.status == "error"
