"""The balance confirmation moves money once, whatever arrives at the live server at once.

These tests speak HTTP to pytest-django's ``live_server`` (a threaded server: every request runs
in its own thread with its own database connection) from several client threads released
together, as a double-clicking operator's browser would.
"""

from __future__ import annotations

import http.cookiejar
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from pytest_django.live_server_helper import LiveServer

from easyautoml_models.factories import UserFactory
from easyautoml_models.ledger import verify_balances
from easyautoml_models.models import Credit, Debit, User
from tests.admin.conftest import PASSWORD

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

EMAIL = "operator@example.com"


class Browser:
    """A cookie-keeping HTTP client logged in to the admin of ``live_server``."""

    def __init__(self, live_server: LiveServer) -> None:
        self.base = live_server.url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        login = self.get("/admin/login/")
        self.post("/admin/login/", {"username": EMAIL, "password": PASSWORD, **login.hidden})

    def _open(self, request: urllib.request.Request) -> Page:
        try:
            with self.opener.open(request, timeout=60) as response:
                return Page(response.status, response.read().decode(), response.url)
        except urllib.error.HTTPError as exc:
            return Page(exc.code, exc.read().decode(), request.full_url)

    def get(self, path: str) -> Page:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, data: dict[str, str]) -> Page:
        body = urllib.parse.urlencode(data).encode()
        return self._open(
            urllib.request.Request(self.base + path, data=body, headers={"Referer": self.base})
        )


class Page:
    def __init__(self, status: int, html: str, url: str) -> None:
        self.status, self.html, self.url = status, html, url

    @property
    def hidden(self) -> dict[str, str]:
        """The hidden inputs of the page's form (CSRF token, confirmation token)."""
        found = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', self.html)
        return dict(found)


def confirmation(browser: Browser, user: User, direction: str, **data: str) -> dict[str, str]:
    """Fill the balance form and return the payload the confirmation page would post."""
    path = reverse(f"admin:easyautoml_models_user_{direction}", args=[user.pk])
    form = browser.get(path)
    assert form.status == 200, form.html[:500]
    payload = {"currency": "usd", "amount": "1", "reason": "goodwill", **data}
    page = browser.post(path, {**payload, **form.hidden})
    assert 'id="balance-confirmation"' in page.html, page.html[:2000]
    return {**payload, **page.hidden, "_confirm": "yes"}


def post_together(browser: Browser, path: str, payloads: list[dict[str, str]]) -> list[Page]:
    barrier = threading.Barrier(len(payloads))
    results: list[Any] = [None] * len(payloads)

    def run(index: int) -> None:
        barrier.wait(timeout=30)
        results[index] = browser.post(path, payloads[index])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(payloads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.fixture
def browser(live_server: LiveServer) -> Browser:
    get_user_model().objects.create_superuser(EMAIL, PASSWORD)
    return Browser(live_server)


@pytest.mark.parametrize("count", [2, 10])
def test_concurrent_posts_of_one_confirmation_credit_once(browser: Browser, count: int) -> None:
    user = UserFactory.create()
    payload = confirmation(browser, user, "credit", amount="1")
    path = reverse("admin:easyautoml_models_user_credit", args=[user.pk])
    pages = post_together(browser, path, [payload] * count)
    assert all(page.status == 200 for page in pages), [page.status for page in pages]
    done = [page for page in pages if "Credited 1 USD to" in page.html]
    refused = [page for page in pages if "already used" in page.html]
    assert (len(done), len(refused)) == (1, count - 1)
    assert User.objects.get(pk=user.pk).user_balance == Decimal("1")
    assert Credit.objects.filter(user=user).count() == 1
    assert verify_balances() == []


def test_a_second_click_ten_ms_later_debits_once(browser: Browser) -> None:
    user = UserFactory.create(balance=Decimal("100"))
    path = reverse("admin:easyautoml_models_user_debit", args=[user.pk])
    for _ in range(5):  # five confirmations, each clicked twice 10 ms apart
        payload = confirmation(browser, user, "debit", amount="3")
        results: list[Page] = []
        first = threading.Thread(
            target=lambda p=payload, r=results: r.append(browser.post(path, p))
        )
        first.start()
        time.sleep(0.01)
        results.append(browser.post(path, payload))
        first.join(timeout=60)
        assert len(results) == 2
    assert User.objects.get(pk=user.pk).user_balance == Decimal("85")
    assert Debit.objects.filter(user=user).count() == 5
    assert verify_balances() == []
