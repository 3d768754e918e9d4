"""Models, fields, CRUD and the QueryBuilder: the contract of seed 002 beyond its examples."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldError
from django.db import models
from django.test import Client
from django.test.utils import isolate_apps

from civ_orm_compat import orm
from civ_orm_compat.exceptions import RelationNotLoaded
from civ_orm_compat.query import QueryBuilder
from tests.civ_app.models import Post, Tag, User

asyncio_db = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def seed_users() -> None:
    rows = [
        ("alice", "Alice@Example.com", 30),
        ("bob", "bob@example.org", 17),
        ("carol", "carol@example.com", 45),
        ("dave", "dave@test.net", None),
    ]
    for username, email, age in rows:
        await User(username=username, email=email, age=age).save()


# ------------------------------------------------------------------------------ models


def test_meta_table_name_and_indexes_become_django_options() -> None:
    assert User._meta.db_table == "users" and Post._meta.db_table == "posts"
    assert [index.fields for index in User._meta.indexes] == [["username"], ["email"]]
    assert [index.fields for index in Tag._meta.indexes] == [["weight", "since"]]
    assert all(index.name for index in User._meta.indexes)
    # The original's legacy attributes.
    assert User._table_name == "users"
    assert list(User._fields) == ["id", "username", "email", "age", "deleted", "created_at"]
    assert isinstance(User._fields["username"], orm.CharField)


def test_field_types_and_defaults() -> None:
    assert orm.CharField().max_length == 255
    fk = Post._meta.get_field("author")
    assert isinstance(fk, orm.ForeignKey) and fk.remote_field.on_delete is models.CASCADE
    assert fk.remote_field.related_name == "posts"
    assert (
        orm.ForeignKey("civ_app.User", on_delete="set_null", null=True).remote_field.on_delete
        is models.SET_NULL
    )
    with pytest.raises(ValueError, match="unknown on_delete 'EXPLODE'"):
        orm.ForeignKey("civ_app.User", on_delete="EXPLODE")
    # Migrations see Django's own classes.
    assert orm.CharField(max_length=3).deconstruct()[1] == "django.db.models.CharField"
    assert fk.deconstruct()[1] == "django.db.models.ForeignKey"
    for name in (
        "TextField",
        "IntegerField",
        "FloatField",
        "BooleanField",
        "DateTimeField",
        "DateField",
        "JSONField",
        "ManyToManyField",
    ):
        assert issubclass(getattr(orm, name), getattr(models, name))


@isolate_apps("tests.civ_app")
def test_bad_meta_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match=r"Broken\.Meta\.table_name must be a non-empty string"):

        class Broken(orm.Model):
            class Meta:
                app_label = "civ_app"
                table_name = ""

    with pytest.raises(TypeError, match=r"Broken2\.Meta\.indexes: 42 is not a field name"):

        class Broken2(orm.Model):
            class Meta:
                app_label = "civ_app"
                indexes = [42]  # type: ignore[list-item]

    with pytest.raises(TypeError, match="both table_name and db_table"):

        class Broken3(orm.Model):
            class Meta:
                app_label = "civ_app"
                table_name = "a"
                db_table = "b"


@pytest.mark.django_db
def test_sync_code_gets_django_semantics_and_the_admin_works() -> None:
    # In sync code (views, the admin, management commands) save() is Django's save().
    user = User(username="sync", email="s@example.com")
    assert user.save() is None and user.pk is not None
    assert User.objects.count() == 1 and User.objects.first() == user
    assert User.objects.aggregate("age", "COUNT") == 0
    admin = get_user_model().objects.create_superuser(email="root@example.com", password="pw")
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/civ_app/user/add/",
        {"username": "from-admin", "email": "a@example.com", "age": "3", "deleted": ""},
    )
    assert response.status_code == 302, response.content[:2000]
    assert User.objects.get(username="from-admin").age == 3
    assert client.get("/admin/civ_app/user/").status_code == 200
    post = Post.objects.create(title="t", content="c", author=user)
    assert client.get("/admin/civ_app/post/").status_code == 200
    assert (
        client.post(f"/admin/civ_app/post/{post.pk}/delete/", {"post": "yes"}).status_code == 302
    )
    assert not Post.objects.exists()


# ------------------------------------------------------------------------------ CRUD


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_get_errors_get_or_none_and_create(settings) -> None:
    await seed_users()
    with pytest.raises(User.DoesNotExist):
        await User.get(username="nobody")
    with pytest.raises(User.MultipleObjectsReturned):
        await User.get(email__icontains="example")
    assert await User.get_or_none(username="nobody") is None
    assert (await User.get_or_none(username="alice")).age == 30  # type: ignore[union-attr]
    made = await User.create(username="erin", email="e@example.com")
    assert made.pk and (await User.get(pk=made.pk)).username == "erin"
    settings.CIV_ORM_GET_RETURNS_NONE = True  # the original's behaviour, opt-in
    assert await User.get(username="nobody") is None
    assert await User.objects.filter(age__gt=100).get() is None


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_save_returns_instance_delete_and_all_field_types() -> None:
    author = await User.create(username="a")
    post = await Post(title="p", content="text", author=author).save()
    assert isinstance(post, Post) and post.pk
    tag = Tag(name="t", weight=2.5, since=datetime.date(2024, 1, 2), data={"k": [1, 2]})
    await tag.save()
    await tag.posts.aadd(post)
    stored = await Tag.get(name="t")
    assert (stored.weight, stored.since, stored.data) == (
        2.5,
        datetime.date(2024, 1, 2),
        {"k": [1, 2]},
    )
    assert [p.title for p in await stored.posts.all()] == ["p"]  # type: ignore[misc]
    assert [t.name for t in await post.tags.all()] == ["t"]  # type: ignore[attr-defined]
    assert [p.title for p in await author.fetch("posts")] == ["p"]
    assert (await post.fetch("author")).username == "a"
    assert post.author.username == "a"  # cached by fetch(): no lazy load needed
    with pytest.raises(
        AttributeError, match="Post has no relation 'writer'; relations: author, tags"
    ):
        await post.fetch("writer")
    # Django's creation helpers are awaitable too in async code (they call the CIV save()).
    made = await User.objects.create(username="via-create")
    again, created = await User.objects.get_or_create(username="via-create")
    assert again == made and created is False
    updated, created = await User.objects.update_or_create(
        username="via-create", defaults={"age": 9}
    )
    assert (updated.age, created) == (9, False)
    assert (await User.objects.aget_or_create(username="new-one"))[1] is True
    await User.objects.filter(username__in=["via-create", "new-one"]).adelete()
    deleted, per_model = await author.delete()
    assert deleted == 3 and per_model["civ_app.Post"] == 1
    assert not await Post.objects.exists()


# ------------------------------------------------------------------------------ queries


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("lookup", "value", "expected"),
    [
        ("username__exact", "alice", ["alice"]),
        ("email__iexact", "alice@example.com", ["alice"]),
        ("email__contains", "example", ["bob", "carol"]),
        ("email__icontains", "EXAMPLE.COM", ["alice", "carol"]),
        ("username__in", ["bob", "dave", "zed"], ["bob", "dave"]),
        ("age__gt", 30, ["carol"]),
        ("age__gte", 30, ["alice", "carol"]),
        ("age__lt", 30, ["bob"]),
        ("age__lte", 30, ["alice", "bob"]),
        ("username__startswith", "ca", ["carol"]),
        ("email__endswith", ".net", ["dave"]),
    ],
)
async def test_the_eleven_lookups(
    lookup: str, value: object, expected: list[str], vendor: str
) -> None:
    if lookup == "email__contains" and vendor == "sqlite":
        # SQLite's LIKE ignores case, so contains acts as icontains there (Django documents it).
        expected = ["alice", "bob", "carol"]
    await seed_users()
    rows = await User.objects.filter(**{lookup: value}).order_by("username").all()
    assert [u.username for u in rows] == expected


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_chaining_in_any_order_with_limit_and_offset_applied_last() -> None:
    await seed_users()
    a = await User.objects.limit(2).offset(1).order_by("username").filter(age__isnull=False).all()
    b = await User.objects.filter(age__isnull=False).offset(1).order_by("username").limit(2).all()
    assert [u.username for u in a] == [u.username for u in b] == ["bob", "carol"]
    page = User.objects.order_by("username").limit(2).offset(1)
    assert await page.count() == 2
    assert (await page.first()).username == "bob"
    assert (await page.last()).username == "carol"
    assert (await User.objects.order_by("username").offset(3).last()).username == "dave"
    assert await User.objects.offset(4).last() is None
    assert await page.exists() and not await User.objects.offset(10).exists()
    assert await page.aggregate("age", "MAX") == 45
    assert [u.username async for u in page] == ["bob", "carol"]
    assert len(await page.exclude(username="bob").all()) == 2  # window stays last
    with pytest.raises(ValueError, match=r"limit\(\) takes a non-negative integer, got -1"):
        User.objects.limit(-1)
    with pytest.raises(TypeError, match=r"offset\(\) takes a non-negative integer, got '3'"):
        User.objects.offset("3")
    with pytest.raises(TypeError, match=r"delete\(\) cannot be combined with limit"):
        await page.adelete()
    assert await User.objects.count() == 4  # nothing deleted


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_aggregates_and_their_errors() -> None:
    await seed_users()
    assert await User.objects.aggregate("age", "COUNT") == 3
    assert await User.objects.aggregate("age", "sum") == 92
    # MariaDB returns AVG as a DECIMAL with 4 places.
    assert float(await User.objects.aggregate("age", "AVG")) == pytest.approx(92 / 3, abs=1e-3)
    assert await User.objects.aggregate("age", "MIN") == 17
    assert await User.objects.filter(age__lt=40).aggregate("age", "MAX") == 30
    assert await User.objects.aggregate(total=models.Sum("age")) == {"total": 92}
    with pytest.raises(ValueError, match="unknown aggregate function 'MEDIAN'; use one of COUNT"):
        await User.objects.aggregate("age", "MEDIAN")
    with pytest.raises(FieldError, match="Cannot resolve keyword 'height'"):
        await User.objects.aggregate("height", "AVG")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_select_and_prefetch_related_and_the_unloaded_relation_error() -> None:
    await seed_users()
    alice = await User.get(username="alice")
    for n in range(3):
        await Post(title=f"p{n}", content="", author=alice).save()
    posts = await Post.objects.select_related("author").order_by("title").all()
    assert [p.author.username for p in posts] == ["alice"] * 3
    users = await User.objects.prefetch_related("posts").order_by("username").all()
    assert [len(await u.posts.all()) for u in users] == [3, 0, 0, 0]
    plain = await Post.objects.first()
    with pytest.raises(RelationNotLoaded) as excinfo:
        plain.author  # noqa: B018
    assert 'add .select_related("author") to the query that fetched the Post rows' in str(
        excinfo.value
    )


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_raw_sql_with_parameters() -> None:
    await seed_users()
    table = "users"
    rows = await User.objects.raw(f"SELECT * FROM {table} WHERE age >= %s ORDER BY age", [30])
    assert [u.username for u in rows] == ["alice", "carol"]
    hostile = "x' OR '1'='1"
    assert await User.objects.raw("SELECT * FROM users WHERE username = %s", [hostile]) == []


def test_querybuilder_is_a_queryset() -> None:
    assert isinstance(User.objects.all(), QueryBuilder)
    assert isinstance(User.objects.filter(age=1), models.QuerySet)
