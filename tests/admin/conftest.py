"""Fixtures for the admin tests: staff users, and a real headless Chromium for browser tests.

Browser tests (``@pytest.mark.browser``) drive Debian's chromium through Playwright's sync API
against pytest-django's ``live_server``. Playwright's own browser download is not used; the
executable is ``/usr/bin/chromium`` (override with ``ADMIN_TESTS_CHROMIUM``). Without it the
browser tests are skipped with a reason that says so.

Playwright's sync API runs an asyncio event loop in the test's thread (in a greenlet) for as long
as Playwright is started. Django's async-safety check only looks at whether *a* loop is running in
the current thread, so every ORM call in the test body would raise ``SynchronousOnlyOperation``
although nothing runs concurrently. ``DJANGO_ALLOW_ASYNC_UNSAFE`` is therefore set for exactly the
lifetime of the Playwright instance (one test module) and removed again afterwards, so the rest of
the suite keeps Django's check. The live server runs in its own thread, outside that loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from pytest_django.live_server_helper import LiveServer

CHROMIUM = Path(os.environ.get("ADMIN_TESTS_CHROMIUM", "/usr/bin/chromium"))
#: Flags for a quiet headless run in containers and CI (no sandbox without user namespaces).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Where the browser tests write the screenshots shown in README.md and docs/admin.md.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "correct horse battery staple"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the browser tests, saying why, when there is no chromium to drive."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    skip = pytest.mark.skip(
        reason=f"no chromium at {CHROMIUM}: install Debian's `chromium` package "
        "(./run test does it when run as root) or set ADMIN_TESTS_CHROMIUM"
    )
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for a test module, with Django's async check relaxed meanwhile."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            try:
                yield chromium
            finally:
                chromium.close()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page, with short timeouts and a fixed size."""
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 800}, locale="en-US"
    )
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()
