"""Every usage example of seed 002, run as written (``database.`` -> ``civ_orm_compat.``).

The migrations example creates a table named ``users``, which the model example also uses,
so it runs in a subprocess on a fresh SQLite database (see ``test_migrations.py``).
"""

from __future__ import annotations

import pytest

from civ_orm_compat.exceptions import RelationNotLoaded
from tests.civ_app.models import Post, User

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_crud_example() -> None:
    # Create
    user = User(username="john", email="john@example.com", age=30)
    await user.save()

    # Read
    user = await User.get(id=user.pk)
    user = await User.get(username="john")
    assert (user.email, user.age) == ("john@example.com", 30)

    # Update
    user.age = 31
    await user.save()
    assert (await User.get(username="john")).age == 31

    # Delete
    await user.delete()
    with pytest.raises(User.DoesNotExist):
        await User.get(username="john")


@pytest.mark.django_db(transaction=True, reset_sequences=True)
async def test_crud_example_read_by_id_1() -> None:
    # The seed reads `User.get(id=1)`: with the sequences reset, the first row has id 1.
    await User(username="first", email="f@example.com").save()
    user = await User.get(id=1)
    assert user.username == "first"


async def _make_users() -> list[User]:
    users = []
    for i, age in enumerate([12, 17, 18, 25, 40, None]):
        user = User(username=f"u{i}", email=f"u{i}@example.com", age=age, deleted=(i == 3))
        await user.save()
        users.append(user)
    return users


async def test_querying_example() -> None:
    from civ_orm_compat.query import QueryBuilder

    created = await _make_users()
    assert isinstance(User.objects.filter(age__gte=18), QueryBuilder)

    # Filter
    users = await User.objects.filter(age__gte=18).all()
    assert sorted(u.username for u in users) == ["u2", "u3", "u4"]

    # Exclude
    active_users = await User.objects.exclude(deleted=True).all()
    assert "u3" not in {u.username for u in active_users} and len(active_users) == 5

    # Order by
    sorted_users = await User.objects.order_by("-created_at").all()
    stamps = [u.created_at for u in sorted_users]
    assert stamps == sorted((u.created_at for u in created), reverse=True)

    # Limit and offset
    page = await User.objects.limit(10).offset(20).all()
    assert page == []
    page = await User.objects.order_by("id").limit(2).offset(1).all()
    assert [u.username for u in page] == ["u1", "u2"]

    # Aggregations
    count = await User.objects.count()
    avg_age = await User.objects.aggregate("age", "AVG")
    assert count == 6
    assert avg_age == pytest.approx((12 + 17 + 18 + 25 + 40) / 5)


async def test_join_example() -> None:
    author = User(username="writer", email="w@example.com")
    await author.save()
    for n in range(3):
        await Post(title=f"p{n}", content="...", author=author).save()

    # Join relationships
    posts = await Post.objects.select_related("author").all()
    for post in posts:
        print(post.author.username)  # No additional query
    assert {post.author.username for post in posts} == {"writer"}

    # Without select_related, async code cannot load the author lazily: a clear error.
    bare = await Post.objects.first()
    with pytest.raises(RelationNotLoaded, match=r'select_related\("author"\)'):
        print(bare.author.username)


async def test_transactions_example() -> None:
    from civ_orm_compat.connection import db

    async with db.transaction():
        user = User(username="jane")
        await user.save()

        post = Post(title="Hello", author=user)
        await post.save()
        # Both saved together or both rolled back
    assert await User.objects.filter(username="jane").exists()
    assert await Post.objects.filter(title="Hello", author__username="jane").exists()

    with pytest.raises(ZeroDivisionError):
        async with db.transaction():
            user = User(username="jill")
            await user.save()

            post = Post(title="Hello again", author=user)
            await post.save()
            raise ZeroDivisionError("inside the block")
    assert not await User.objects.filter(username="jill").exists()
    assert not await Post.objects.filter(title="Hello again").exists()
