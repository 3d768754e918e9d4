"""Code written for the original CIV/Emu-Soft ``database`` package (``tests/civ_orm_compat/port``),
run unchanged on PostgreSQL, SQLite and MariaDB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from django.db import connections

from civ_orm_compat.connection import db
from civ_orm_compat.orm import Field
from tests.civ_orm_compat.port import auth
from tests.civ_orm_compat.port.admin import ModelAdmin
from tests.civ_orm_compat.port.schema import auth_migrations
from tests.civ_orm_compat.port.serializers import ModelSerializer
from tests.civ_port.models import PortPermission, PortRole, PortUser

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


@pytest_asyncio.fixture
async def schema(settings: Any) -> AsyncIterator[Any]:
    """The auth tables, made by the original's migrations API (and removed by its rollback)."""
    settings.CIV_ORM_GET_RETURNS_NONE = True  # the original's get(): None on a miss
    manager = auth_migrations(connections["default"].vendor)
    assert await manager.migrate() == ["20240101000001", "20240101000002"]
    assert await manager.migrate() == []  # applied versions are skipped
    try:
        yield manager
    finally:
        assert await manager.rollback(steps=2) == ["20240101000002", "20240101000001"]
        assert await manager.get_applied_migrations() == []


async def test_users_passwords_and_sessions(schema: Any) -> None:
    ann = await auth.create_user("ann", "ann@example.com", "s3cret!")
    assert ann.id is not None and ann.password_hash.startswith("pbkdf2_sha256$")
    assert "s3cret!" not in ann.password_hash
    # Loaded from the database: the custom __init__(**kwargs) gets the row as keywords.
    loaded = await PortUser.get(username="ann")
    assert loaded is not None and loaded.password_hash == ann.password_hash
    assert [u.username for u in await PortUser.all()] == ["ann"]
    # Fields a query defers stay deferred (not filled with defaults by __init__).
    (partial,) = await PortUser.objects.only("id", "username").all()
    assert partial.get_deferred_fields() >= {"password_hash", "is_active", "email"}
    assert await auth.authenticate("ann", "s3cret!") == loaded
    assert await auth.authenticate("ann", "wrong") is None
    assert await auth.authenticate("nobody", "s3cret!") is None
    loaded.is_active = False
    await loaded.save()
    assert await auth.authenticate("ann", "s3cret!") is None

    sessions = auth.SessionManager(ttl_seconds=60)
    key = await sessions.create_session(ann, {"cart": [1, 2]})
    assert (await sessions.get_session(key))["data"] == {"cart": [1, 2]}  # type: ignore[index]
    user = await sessions.get_user(key)
    assert user is not None and user.username == "ann"
    expired = auth.SessionManager(ttl_seconds=-1)
    old = await expired.create_session(ann)
    assert await expired.get_session(old) is None
    assert await sessions.cleanup_expired() == 1
    await sessions.delete_session(key)
    assert await sessions.get_user(key) is None


async def test_roles_and_permissions_through_raw_tables(schema: Any) -> None:
    bob = await auth.create_user("bob", "bob@example.com", "pw")
    root = await auth.create_user("root", "root@example.com", "pw", is_superuser=True)
    editor = PortRole(name="editor", description="edits")
    await editor.save()
    viewer = PortRole(name="viewer")
    await viewer.save()
    perms = {}
    for codename in ("post-edit", "post-view", "user-delete"):
        perms[codename] = PortPermission(codename=codename, name=codename.replace("-", " "))
        await perms[codename].save()
    await auth.grant(editor, perms["post-edit"])
    await auth.grant(editor, perms["post-view"])
    await auth.grant(viewer, perms["post-view"])
    await auth.assign_role(bob, editor)
    assert [r.name for r in await auth.get_roles(bob)] == ["editor"]
    assert [p.codename for p in await auth.get_permissions(editor)] == ["post-edit", "post-view"]
    assert await auth.get_permissions(PortRole(id=999, name="ghost")) == []
    assert await auth.has_permission(bob, "post-edit")
    assert not await auth.has_permission(bob, "user-delete")
    assert await auth.has_permission(root, "user-delete")
    assert [p.codename for p in await PortPermission.filter(codename="post-view")] == ["post-view"]
    # The class-level table builder of the original.
    sql, params = PortRole.query().select("name").where("name", "LIKE", "%er").build()
    assert [r["name"] for r in await db.fetch_all(sql, *params)] == ["viewer"]


async def test_admin_listing_with_search_filters_and_pages(schema: Any) -> None:
    class UserAdmin(ModelAdmin):
        list_display = ("id", "username", "email", "is_active")
        search_fields = ("username", "email")
        list_filter = ("is_active",)
        per_page = 2

    for i, name in enumerate(["alice", "bruno", "carla", "dario", "elena"]):
        await auth.create_user(name, f"{name}@{'corp' if i % 2 else 'mail'}.org", "pw")
    dario = await PortUser.get(username="dario")
    assert dario is not None
    dario.is_active = False
    await dario.save()
    admin = UserAdmin(PortUser)
    page = await admin.get_list(page=1)
    assert page["total"] == 5 and page["pages"] == 3
    assert [r["username"] for r in page["results"]] == ["alice", "bruno"]
    assert set(page["results"][0]) == {"id", "username", "email", "is_active"}
    assert [r["username"] for r in (await admin.get_list(search="CORP"))["results"]] == [
        "bruno",
        "dario",
    ]
    inactive = await admin.get_list(filters={"is_active": False})
    assert [r["username"] for r in inactive["results"]] == ["dario"]
    with pytest.raises(ValueError, match="cannot filter on 'email'"):
        await admin.get_list(filters={"email": "x"})
    assert (await admin.get_object(dario.id)).username == "dario"
    assert await admin.get_object(10_000) is None
    assert await admin.delete_object(dario.id) and not await admin.delete_object(dario.id)
    assert (await admin.get_list())["total"] == 4
    required = {f["name"] for f in admin.form_fields() if f["required"]}
    assert {"username", "email", "password_hash"} <= required and "id" not in required
    assert all(isinstance(field, Field) for field in PortUser._fields.values())


async def test_serializer_reads_instance_fields_and_creates(schema: Any) -> None:
    class UserSerializer(ModelSerializer):
        model = PortUser
        exclude = ("password_hash",)

    serializer = UserSerializer()
    ann = await serializer.create(
        {"id": 77, "username": "ann", "email": "a@x.org", "password": "pw"}
    )
    assert ann.id != 77  # read-only id: the database numbered it
    data = serializer.to_dict(await PortUser.get(username="ann"))
    # instance._fields, not __dict__: no _state or other internals leak.
    assert data == {
        "id": ann.id,
        "username": "ann",
        "email": "a@x.org",
        "is_active": True,
        "is_superuser": False,
        "created_at": None,
    }
    assert PortUser._table_name == ann._table_name == "port_users"
    await serializer.update(ann, {"email": "new@x.org", "unknown": 1})
    assert [u["email"] for u in serializer.many(await PortUser.all())] == ["new@x.org"]
