"""Fixtures of the easyautoml_models tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal

import pytest

from easyautoml_models.factories import MachineFactory, ServerFactory, UserFactory
from easyautoml_models.models import Machine, Server, User
from easyautoml_models.models.logger import ROOT_LOGGER_NAME


@pytest.fixture(scope="session", autouse=True)
def _close_easyautoml_logger(django_db_setup: None) -> Iterator[None]:
    """Close ``EasyAutoMLLogger``'s database handler before the test database is dropped.

    Its writer keeps a connection of its own open, and PostgreSQL refuses to drop a database
    that a session is still connected to.
    """
    yield
    for handler in logging.getLogger(ROOT_LOGGER_NAME).handlers:
        handler.close()


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
