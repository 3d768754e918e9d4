"""Every model has a factory, and every factory builds a valid, saved instance."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone

from easyautoml_models import factories
from easyautoml_models.ledger import verify_balances
from easyautoml_models.models import Credit, Debit, User

pytestmark = pytest.mark.django_db

FACTORIES = [getattr(factories, name) for name in factories.__all__]


def test_every_model_has_a_factory() -> None:
    covered = {factory._meta.model for factory in FACTORIES}
    assert covered == set(apps.get_app_config("easyautoml_models").get_models())


@pytest.mark.parametrize("factory", FACTORIES, ids=lambda f: f.__name__)
def test_factory_creates_a_valid_instance(factory) -> None:
    instance = factory.create()
    instance.refresh_from_db()
    assert instance.pk is not None
    assert verify_balances() == []  # money made by factories goes through the ledger


def test_user_factory_balances_are_ledger_credits() -> None:
    user = factories.UserFactory.create(balance=12, ixioo_balance=3)
    fresh = User.objects.get(pk=user.pk)
    assert (fresh.user_balance, fresh.user_ixioo_balance) == (12, 3)
    assert Credit.objects.for_user(user).total() == 12


def test_ledger_queries_by_user_and_date(rich_user: User) -> None:
    Debit.objects.decrease(rich_user, 1)
    later = Debit.objects.decrease(rich_user, 2)
    assert list(Debit.objects.get_all_by_user(rich_user))[0] == later  # newest first
    now = timezone.now()
    window = Debit.objects.get_by_user_in_date_range(rich_user, now - timedelta(hours=1), now)
    assert window.total() == 3
    old = Debit.objects.get_by_user_in_date_range(
        rich_user, now - timedelta(days=2), now - timedelta(days=1)
    )
    assert old.total() == 0
