"""Users with hashed passwords, database sessions, roles and permissions (original style)."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from civ_orm_compat.connection import db
from civ_orm_compat.query import QueryBuilder as _QueryBuilder
from tests.civ_port.models import PortPermission, PortRole, PortUser

ITERATIONS = 1000  # kept low: tests hash many passwords

# django-stubs types every QuerySet subclass call as a queryset; QueryBuilder("table")
# returns the table-level builder.
QueryBuilder: Any = _QueryBuilder


def hash_password(password: str, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), ITERATIONS)
    return f"pbkdf2_sha256${ITERATIONS}${salt}${digest.hex()}"


def verify_password(password: str, hashed: str) -> bool:
    try:
        _algorithm, _iterations, salt, _digest = hashed.split("$")
    except ValueError:
        return False
    return hmac.compare_digest(hash_password(password, salt), hashed)


async def create_user(username: str, email: str, password: str, **extra: Any) -> PortUser:
    user = PortUser(username=username, email=email, password=password, **extra)
    await user.save()
    return user


async def authenticate(username: str, password: str) -> PortUser | None:
    user = await PortUser.get(username=username)  # the original returns None on a miss
    if user is None or not user.is_active:
        return None
    return user if verify_password(password, user.password_hash) else None


class SessionManager:
    """Sessions in the ``port_sessions`` table, through raw SQL."""

    def __init__(self, ttl_seconds: int = 3600) -> None:
        self.ttl = ttl_seconds

    async def create_session(self, user: PortUser, data: dict[str, Any] | None = None) -> str:
        key = secrets.token_urlsafe(32)
        expires = (datetime.now(UTC) + timedelta(seconds=self.ttl)).isoformat()
        await db.execute(
            "INSERT INTO port_sessions (session_key, user_id, data, expires_at) "
            "VALUES ($1, $2, $3, $4)",
            key,
            user.id,
            json.dumps(data or {}),
            expires,
        )
        return key

    async def get_session(self, key: str) -> dict[str, Any] | None:
        row = await db.fetch_one("SELECT * FROM port_sessions WHERE session_key = $1", key)
        if row is None or row["expires_at"] < datetime.now(UTC).isoformat():
            return None
        return {**row, "data": json.loads(row["data"])}

    async def get_user(self, key: str) -> PortUser | None:
        session = await self.get_session(key)
        return None if session is None else await PortUser.get(id=session["user_id"])

    async def delete_session(self, key: str) -> None:
        await db.execute("DELETE FROM port_sessions WHERE session_key = $1", key)

    async def cleanup_expired(self) -> int:
        status = await db.execute(
            "DELETE FROM port_sessions WHERE expires_at < $1", datetime.now(UTC).isoformat()
        )
        return int(status.split()[-1])


async def assign_role(user: PortUser, role: PortRole) -> None:
    await db.execute(
        "INSERT INTO port_user_roles (user_id, role_id) VALUES ($1, $2)", user.id, role.id
    )


async def grant(role: PortRole, permission: PortPermission) -> None:
    await db.execute(
        "INSERT INTO port_role_permissions (role_id, permission_id) VALUES ($1, $2)",
        role.id,
        permission.id,
    )


async def get_roles(user: PortUser) -> list[PortRole]:
    rows = await db.fetch_all(
        "SELECT r.* FROM port_roles r JOIN port_user_roles ur ON ur.role_id = r.id "
        "WHERE ur.user_id = $1 ORDER BY r.name",
        user.id,
    )
    return [PortRole(**row) for row in rows]


async def get_permissions(role: PortRole) -> list[PortPermission]:
    links = await db.fetch_all(
        "SELECT permission_id FROM port_role_permissions WHERE role_id = $1", role.id
    )
    ids = [link["permission_id"] for link in links]
    if not ids:
        return []
    sql, params = (
        QueryBuilder("port_permissions").where("id", "IN", ids).order_by("codename").build()
    )
    return [PortPermission(**row) for row in await db.fetch_all(sql, *params)]


async def has_permission(user: PortUser, codename: str) -> bool:
    if user.is_superuser:
        return True
    for role in await get_roles(user):
        if any(p.codename == codename for p in await get_permissions(role)):
            return True
    return False
