"""The auth tables, created with the original's raw-SQL migrations API."""

from __future__ import annotations

from civ_orm_compat.migrations import Migration, MigrationManager

#: The id column and timestamp type per backend (the original targeted PostgreSQL only).
SERIAL = {
    "postgresql": "SERIAL PRIMARY KEY",
    "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "mysql": "INTEGER AUTO_INCREMENT PRIMARY KEY",
}
TIMESTAMP = {
    "postgresql": "TIMESTAMP WITH TIME ZONE",
    "sqlite": "DATETIME",
    "mysql": "DATETIME(6)",
}


def auth_migrations(vendor: str) -> MigrationManager:
    """A manager holding the two migrations of the auth package."""
    manager = MigrationManager(verbosity=0)
    serial, stamp = SERIAL[vendor], TIMESTAMP[vendor]

    users = Migration("create_users", "20240101000001")
    users.up(
        f"CREATE TABLE port_users (id {serial}, username VARCHAR(150) NOT NULL UNIQUE, "
        "email VARCHAR(255) NOT NULL, password_hash VARCHAR(255) NOT NULL, "
        "is_active BOOLEAN NOT NULL DEFAULT TRUE, is_superuser BOOLEAN NOT NULL DEFAULT FALSE, "
        f"created_at {stamp} NULL)"
    )
    # auth/session.py stores ISO strings in expires_at, so the column is text.
    users.up(
        "CREATE TABLE port_sessions (session_key VARCHAR(64) PRIMARY KEY, "
        "user_id INTEGER NOT NULL, data TEXT NOT NULL, expires_at VARCHAR(40) NOT NULL)"
    )
    users.down("DROP TABLE port_sessions")
    users.down("DROP TABLE port_users")
    manager.add_migration(users)

    roles = Migration("create_roles", "20240101000002")
    roles.up(
        f"CREATE TABLE port_roles (id {serial}, name VARCHAR(80) NOT NULL UNIQUE, "
        "description TEXT NULL)"
    )
    roles.up(
        f"CREATE TABLE port_permissions (id {serial}, codename VARCHAR(100) NOT NULL UNIQUE, "
        "name VARCHAR(255) NOT NULL)"
    )
    roles.up("CREATE TABLE port_user_roles (user_id INTEGER NOT NULL, role_id INTEGER NOT NULL)")
    roles.up(
        "CREATE TABLE port_role_permissions (role_id INTEGER NOT NULL, "
        "permission_id INTEGER NOT NULL)"
    )
    for table in ("port_role_permissions", "port_user_roles", "port_permissions", "port_roles"):
        roles.down(f"DROP TABLE {table}")
    manager.add_migration(roles)
    return manager
