"""Every changelist renders in a constant number of SQL queries, whatever the number of rows."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.admin.builders import ROW_MAKERS

pytestmark = pytest.mark.django_db

APP = "easyautoml_models"
REGISTERED = sorted(
    str(model._meta.model_name) for model in admin.site._registry if model._meta.app_label == APP
)


def test_every_registered_model_is_measured() -> None:
    assert sorted(ROW_MAKERS) == REGISTERED


def changelist_queries(client: Client, model_name: str, rows: int) -> int:
    """Queries run by one GET of the changelist; checks that ``rows`` rows are listed."""
    url = reverse(f"admin:{APP}_{model_name}_changelist")
    with CaptureQueriesContext(connections["default"]) as queries:
        response = client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count >= rows
    return len(queries)


@pytest.mark.parametrize("model_name", REGISTERED)
def test_changelist_query_count_is_constant(admin_client: Client, model_name: str) -> None:
    make = ROW_MAKERS[model_name]
    make(1)
    with_one = changelist_queries(admin_client, model_name, 1)
    make(49)
    with_fifty = changelist_queries(admin_client, model_name, 50)
    print(f"changelist {model_name}: {with_one} queries with 1 row, {with_fifty} with 50")
    assert with_fifty == with_one
