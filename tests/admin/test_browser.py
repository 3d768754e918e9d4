"""The admin in a real headless Chromium (Playwright), against pytest-django's live server."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page

from tests.admin.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_page_then_index(page: Page) -> None:
    get_user_model().objects.create_superuser("root@example.com", PASSWORD)
    page.goto("/admin/")
    assert page.url.endswith("/admin/login/?next=/admin/")
    page.fill("#id_username", "root@example.com")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    assert page.locator("#site-name").inner_text() == "Django administration"
