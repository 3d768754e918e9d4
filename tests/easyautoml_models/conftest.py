"""Fixtures of the easyautoml_models tests."""

from __future__ import annotations

from decimal import Decimal

import pytest

from easyautoml_models.factories import MachineFactory, ServerFactory, UserFactory
from easyautoml_models.models import Machine, Server, User


@pytest.fixture
def user(db: None) -> User:
    return UserFactory.create()


@pytest.fixture
def rich_user(db: None) -> User:
    """A user with 100 USD and 50 tokens, credited through the ledger."""
    return UserFactory.create(balance=Decimal("100"), ixioo_balance=Decimal("50"))


@pytest.fixture
def machine(user: User) -> Machine:
    return MachineFactory.create(machine_owner_user=user)


@pytest.fixture
def server(db: None) -> Server:
    return ServerFactory.create()
