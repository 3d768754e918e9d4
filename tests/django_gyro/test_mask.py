"""The mask rules, evaluated by a real PostgreSQL: determinism, NULL and "", fit, uniqueness."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connections, models
from django.db.models import Count, Value
from django.db.models.functions import Concat, Upper

from django_gyro import mask
from django_gyro.mask import FakerRule, MaskError, MaskRule, as_rule, mask_key
from gyro_example.models import Customer, Shop, Tenant

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db]

KEY = mask_key("test salt")
User = get_user_model()


def field(name: str, model: type[models.Model] = Customer) -> Any:
    return model._meta.get_field(name)


def masked(rule: MaskRule, name: str, model: type[models.Model] = Customer, key: Any = KEY) -> Any:
    """``{pk: masked value}`` of every row of ``model``."""
    expression = rule.expression(field(name, model), key)
    rows = model._default_manager.annotate(gyro_masked=expression).values_list("pk", "gyro_masked")
    return dict(rows)


@pytest.fixture
def people() -> list[Customer]:
    tenant = Tenant.objects.create(name="T", subdomain="t")
    shop = Shop.objects.create(tenant=tenant, name="S", url="http://s.example")
    rows = [
        ("ann@example.com", "Ann", "Lee", "+44 20 7946 0000"),
        ("bob@example.com", "Bob", "", ""),
        ("ANN@example.com", "Ann", "Lee", "+44 20 7946 0000"),
        ("dora@example.com", "Dora-Maria Ünal", "O'Brien", "0049 30 1234567 890"),
    ]
    return [
        Customer.objects.create(
            tenant=tenant, shop=shop, email=e, first_name=f, last_name=n, phone=p
        )
        for e, f, n, p in rows
    ]


RULES = {
    "email": (mask.email(), "email"),
    "first_name": (mask.first_name(), "first_name"),
    "last_name": (mask.last_name(), "last_name"),
    "name": (mask.name(), "first_name"),
    "phone": (mask.phone(), "phone"),
    "text": (mask.text(), "last_name"),
    "hash": (mask.hash(), "email"),
}


@pytest.mark.parametrize("kind", sorted(RULES))
def test_rules_are_deterministic_and_keep_empty_strings(kind: str, people: list[Customer]) -> None:
    rule, name = RULES[kind]
    first = masked(rule, name)
    assert masked(rule, name) == first  # same salt: same values
    for person in people:
        original = getattr(person, name)
        value = first[person.pk]
        if original == "":
            assert value == ""
        else:
            assert value != original
            assert len(value) <= field(name).max_length
    # same input, same output
    ann, _, ann_upper, _ = people
    if getattr(ann, name) == getattr(ann_upper, name):
        assert first[ann.pk] == first[ann_upper.pk]
    if rule.needs_salt:
        other = masked(rule, name, key=mask_key("another salt"))
        assert [other[p.pk] for p in people if getattr(p, name)] != [
            first[p.pk] for p in people if getattr(p, name)
        ]


def test_null_stays_null() -> None:
    user = User.objects.create(email="nobody@example.com", first_name=None, user_profile=None)
    for rule, name in [
        (mask.first_name(), "first_name"),
        (mask.name(), "last_name"),
        (mask.text(), "user_profile"),
        (mask.hash(), "user_profile"),
        (mask.constant("x"), "first_name"),
        (mask.date_shift(max_days=3), "last_login"),
        (mask.null(), "first_name"),
    ]:
        assert masked(rule, name, User) == {user.pk: None}, rule


def test_same_value_masks_alike_in_every_table(people: list[Customer]) -> None:
    user = User.objects.create(email="ann@example.com")
    in_users = masked(mask.email(), "email", User)[user.pk]
    assert in_users == masked(mask.email(), "email")[people[0].pk]


def test_outputs_fit_the_column(people: list[Customer]) -> None:
    for value in masked(mask.phone(), "phone").values():  # varchar(20)
        assert value == "" or (value.startswith("+1555") and len(value) == 12)
    # (shop, email) is unique, so a name rule there gets a distinguishing suffix
    names = masked(mask.name(), "email")
    assert len(set(names.values())) == len(people)
    assert all(len(v) <= 254 for v in names.values())


def test_date_shift_stays_within_the_bound(people: list[Customer]) -> None:
    shifted = masked(mask.date_shift(max_days=5), "created_at")
    for person in people:
        delta = shifted[person.pk] - person.created_at
        assert abs(delta.total_seconds()) <= 5 * 86400
        assert delta.total_seconds() % 86400 == 0


def test_constant_null_and_expressions(people: list[Customer]) -> None:
    assert set(masked(mask.constant("n/a"), "last_name").values()) == {"n/a"}
    redacted = as_rule(Concat(Value("customer-"), Upper("first_name")))
    assert masked(redacted, "first_name")[people[1].pk] == "customer-BOB"
    with pytest.raises(MaskError, match="nullable"):
        mask.null().expression(field("email"), KEY)
    assert mask.null().problem(field("first_name", User)) is None


def test_masking_without_a_salt_is_refused_with_how_to_set_it() -> None:
    with pytest.raises(MaskError, match="GYRO_MASK_SALT"):
        mask.email().expression(field("email"), None)
    mask.text().expression(field("last_name"), None)  # redaction needs no secret


def test_rules_that_do_not_fit_the_field_are_refused() -> None:
    assert mask.email().problem(field("created_at")) is not None
    assert mask.date_shift().problem(field("email")) is not None
    assert mask.phone().problem(field("currency", Shop)) is not None  # varchar(3)
    assert mask.constant("x" * 30).problem(field("phone")) is not None
    # one value for every row cannot satisfy unique (shop, email)
    assert "unique" in (mask.constant("x").problem(field("email")) or "")
    assert "unique" in (mask.text().problem(field("email")) or "")
    with pytest.raises(ValueError):
        mask.date_shift(max_days=0)


def test_email_and_hash_stay_distinct_on_a_million_values() -> None:
    tenant = Tenant.objects.create(name="T", subdomain="t")
    shop = Shop.objects.create(tenant=tenant, name="S", url="http://s.example")
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "INSERT INTO gyro_example_customer (tenant_id, shop_id, email, first_name, "
            "last_name, phone, created_at) SELECT %s, %s, 'person' || n || '@example.com', "
            "'', '', '', now() FROM generate_series(1, 1000000) AS n",
            [tenant.pk, shop.pk],
        )
    for rule in [mask.email(), mask.hash()]:
        counted = Customer.objects.annotate(m=rule.expression(field("email"), KEY)).aggregate(
            rows=Count("pk"), distinct=Count("m", distinct=True)
        )
        assert counted == {"rows": 1_000_000, "distinct": 1_000_000}


def test_faker_values_are_deterministic() -> None:
    faker = pytest.importorskip("faker")
    fake = faker.Faker()
    rule = as_rule(fake.email)
    assert isinstance(rule, FakerRule)
    originals = ["ann@example.com", "bob@example.com", "", "ann@example.com"]
    first = rule.fake_values(field("email"), KEY, originals)
    fake.seed_instance(1234)  # the user's own seeding must not matter
    assert rule.fake_values(field("email"), KEY, originals) == first
    assert first[0] == first[3] and first[2] == "" and first[0] != first[1]
    assert rule.fake_values(field("email"), mask_key("other"), originals) != first
    assert all(len(v) <= 254 for v in first)
    with pytest.raises(MaskError, match="GYRO_MASK_SALT"):
        rule.fake_values(field("email"), None, originals)
