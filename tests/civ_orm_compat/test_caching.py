"""``.cache(ttl)``: cached terminals on Django's cache, invalidated by writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from django.core.cache import cache

from civ_orm_compat.connection import db
from civ_orm_compat.optimization import query_tracker
from tests.civ_app.models import Post, Tag, User

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    cache.clear()


async def queries_of(coro_factory: Callable[[], Awaitable[Any]]) -> tuple[Any, int]:
    query_tracker.clear_stats()
    with query_tracker.recording():
        result = await coro_factory()
    return result, query_tracker.total_queries


async def test_cached_terminals_hit_the_cache_until_a_write() -> None:
    await User.create(username="a", age=1)
    adults = User.objects.filter(age__gte=1).cache(60)
    first, n1 = await queries_of(lambda: adults.count())
    again, n2 = await queries_of(lambda: adults.count())
    assert (first, n1) == (1, 1) and (again, n2) == (1, 0)
    rows, n3 = await queries_of(lambda: adults.all())
    rows_again, n4 = await queries_of(lambda: adults.all())
    assert [u.username for u in rows_again] == ["a"] and (n3, n4) == (1, 0)
    assert await adults.aggregate("age", "MAX") == 1

    await User.create(username="b", age=5)  # save() invalidates
    assert await adults.count() == 2
    assert await adults.aggregate("age", "MAX") == 5
    await User.objects.filter(username="b").aupdate(age=7)  # queryset update() invalidates
    assert await adults.aggregate("age", "MAX") == 7
    await (await User.get(username="b")).delete()  # delete() invalidates
    assert await adults.count() == 1
    await User.objects.abulk_create([User(username="c", age=2)])  # bulk_create invalidates
    assert await adults.count() == 2


async def test_joined_models_invalidate_too_and_keys_differ_per_query() -> None:
    author = await User.create(username="w")
    await Post(title="t", content="", author=author).save()
    posts = Post.objects.select_related("author").cache(60)
    assert [p.author.username for p in await posts.all()] == ["w"]
    author.username = "renamed"
    await author.save()  # a write to the joined model
    assert [p.author.username for p in await posts.all()] == ["renamed"]
    assert await User.objects.filter(username="renamed").cache(60).exists()
    assert not await User.objects.filter(username="w").cache(60).exists()
    assert await User.objects.cache(60).get(username="renamed") == author


async def test_m2m_changes_invalidate() -> None:
    author = await User.create(username="m")
    post = await Post(title="t", content="", author=author).save()
    tag = await Tag.create(name="x")
    tagged = Post.objects.filter(tags__name="x").cache(60)
    assert await tagged.count() == 0
    await tag.posts.aadd(post)
    assert await tagged.count() == 1


async def test_transactions_bypass_the_cache() -> None:
    counted = User.objects.cache(60)
    assert await counted.count() == 0
    async with db.transaction():
        await User.create(username="in-tx")
        assert await counted.count() == 1  # uncommitted rows are read, never cached
    assert await counted.count() == 1


async def test_bad_ttl_and_uncached_default() -> None:
    with pytest.raises(ValueError, match="positive number of seconds, got 0"):
        User.objects.cache(0)
    with pytest.raises(ValueError, match="positive number of seconds, got 'soon'"):
        User.objects.cache("soon")
    await User.create(username="u")
    _, n1 = await queries_of(lambda: User.objects.count())
    _, n2 = await queries_of(lambda: User.objects.count())
    assert (n1, n2) == (1, 1)  # no .cache(): every call queries


async def test_select_related_with_limit_sees_writes_to_the_joined_model() -> None:
    author = await User.create(username="a")
    await Post.objects.acreate(title="t", content="c", author=author)
    posts = Post.objects.select_related("author").limit(5).cache(60)
    assert [p.author.username for p in await posts.all()] == ["a"]
    author.username = "renamed"
    await author.save()
    assert [p.author.username for p in await posts.all()] == ["renamed"]


async def test_prefetch_related_sees_writes_to_the_prefetched_models() -> None:
    author = await User.create(username="a")
    post = await Post.objects.acreate(title="t", content="c", author=author)
    tag = await Tag.objects.acreate(name="x")
    await post.tags.aadd(tag)
    authors = User.objects.prefetch_related("posts__tags").cache(60)
    assert [[t.name for t in p.tags.all()] for p in (await authors.all())[0].posts.all()] == [
        ["x"]
    ]
    await Tag.objects.filter(pk=tag.pk).aupdate(name="y")
    assert [[t.name for t in p.tags.all()] for p in (await authors.all())[0].posts.all()] == [
        ["y"]
    ]
    await Post.objects.filter(pk=post.pk).aupdate(title="t2")
    assert [p.title for p in (await authors.all())[0].posts.all()] == ["t2"]


async def test_plain_django_writes_without_signals_invalidate() -> None:
    from asgiref.sync import sync_to_async
    from django.db import models

    await User.create(username="a", age=1)
    ages = User.objects.order_by("pk").values_list("age", flat=True).cache(60)
    assert list(await ages.all()) == [1]
    await sync_to_async(User._base_manager.filter(username="a").update)(age=2)
    assert list(await ages.all()) == [2]
    await sync_to_async(models.QuerySet(User).update)(age=3)
    assert list(await ages.all()) == [3]
    await db.execute("UPDATE users SET age = 4")  # raw SQL through Django's cursor too
    assert list(await ages.all()) == [4]


async def test_writes_in_a_transaction_invalidate_at_commit(vendor: str) -> None:
    import asyncio
    import threading

    await User.create(username="a", age=1)

    def ages() -> Any:
        return User.objects.order_by("pk").values_list("age", flat=True).cache(60)

    def read_elsewhere() -> list[int]:
        # Another thread, another context: it reads (and caches) the committed rows.
        out: list[int] = []
        thread = threading.Thread(target=lambda: out.extend(asyncio.run(ages().alist())))
        thread.start()
        thread.join()
        return out

    assert list(await ages().all()) == [1]
    async with db.transaction():
        await User.objects.filter(username="a").aupdate(age=2)
        await User.objects.filter(username="a").aupdate(age=3)
        if vendor != "sqlite":  # SQLite's in-memory test database locks readers out meanwhile
            assert await asyncio.to_thread(read_elsewhere) == [1]  # cached before the commit
    assert list(await ages().all()) == [3]  # the commit invalidated it
