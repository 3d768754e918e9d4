"""Models written the way the original CIV/Emu-Soft ``database`` package's users wrote them (its
``auth/models.py``): ``_table_name``, an explicit ``IntegerField(primary_key=True)`` over a
SERIAL column, a custom ``__init__(**kwargs)``. Their tables are created by the original's
raw-SQL migrations API (``tests/civ_orm_compat/port/schema.py``), so the models are unmanaged.
"""

from __future__ import annotations

from civ_orm_compat.orm import (
    BooleanField,
    CharField,
    DateTimeField,
    IntegerField,
    Model,
    SlugField,
    TextField,
)


class PortUser(Model):
    _table_name = "port_users"

    id = IntegerField(primary_key=True)
    username = CharField(max_length=150, unique=True)
    email = CharField(max_length=255)
    password_hash = CharField(max_length=255)
    is_active = BooleanField(default=True)
    is_superuser = BooleanField(default=False)
    created_at = DateTimeField(null=True)

    def __init__(self, **kwargs: object) -> None:
        password = kwargs.pop("password", None)
        super().__init__(**kwargs)
        if password is not None:
            self.set_password(str(password))

    def __str__(self) -> str:
        return self.username

    def set_password(self, password: str) -> None:
        from tests.civ_orm_compat.port.auth import hash_password

        self.password_hash = hash_password(password)


class PortRole(Model):
    _table_name = "port_roles"

    id = IntegerField(primary_key=True)
    name = CharField(max_length=80, unique=True)
    description = TextField(null=True)

    def __str__(self) -> str:
        return self.name


class PortPermission(Model):
    _table_name = "port_permissions"

    id = IntegerField(primary_key=True)
    codename = SlugField(max_length=100, unique=True)
    name = CharField(max_length=255)

    def __str__(self) -> str:
        return self.codename
