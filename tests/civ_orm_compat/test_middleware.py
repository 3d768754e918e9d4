"""``NPlusOneMiddleware`` around sync and async views."""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from pytest_django.fixtures import Settings

from civ_orm_compat.exceptions import NPlusOneDetected, NPlusOneWarning
from civ_orm_compat.middleware import NPlusOneMiddleware
from tests.civ_app.models import Post, User


async def make_posts() -> None:
    for i in range(3):
        author = await User.create(username=f"mw{i}")
        await Post(title=f"t{i}", content="", author=author).save()


async def async_view(request: HttpRequest) -> HttpResponse:
    names = [(await User.get(pk=post.author_id)).username for post in await Post.objects.all()]
    return HttpResponse(",".join(names))


async def async_view_fixed(request: HttpRequest) -> HttpResponse:
    posts = await Post.objects.select_related("author").all()
    return HttpResponse(",".join(post.author.username for post in posts))


def sync_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(",".join(post.author.username for post in Post.objects.all()))


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_async_requests_are_checked(settings: Settings) -> None:
    await make_posts()
    request = RequestFactory().get("/")
    with pytest.warns(NPlusOneWarning, match=r'select_related\("author"\) to the Post query'):
        response = await NPlusOneMiddleware(async_view)(request)
    assert response.content == b"mw0,mw1,mw2"
    assert (await NPlusOneMiddleware(async_view_fixed)(request)).content == b"mw0,mw1,mw2"
    settings.CIV_ORM_NPLUSONE = "raise"
    with pytest.raises(NPlusOneDetected):
        await NPlusOneMiddleware(async_view)(request)


@pytest.mark.django_db
def test_sync_requests_are_checked(settings: Settings) -> None:
    author = User.objects.create(username="s")
    for i in range(3):
        Post.objects.create(title=f"t{i}", content="", author=author)
    middleware = NPlusOneMiddleware(sync_view)
    with pytest.warns(NPlusOneWarning, match="test_middleware.py"):
        assert middleware(RequestFactory().get("/")).content == b"s,s,s"
    settings.CIV_ORM_NPLUSONE = "off"
    assert middleware(RequestFactory().get("/")).status_code == 200
