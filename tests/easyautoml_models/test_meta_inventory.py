"""Acceptance check 7: every model's ``_meta`` against the inventory of the original.

``inventory.json`` is parsed from sections 2-8 of the inventory (``build_inventory.py``). Every
difference must be listed below with its reason; a listed difference that no longer exists fails
too, so the list stays true.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps

from easyautoml_models.models import CATEGORIES, GRAPH_TYPES, Graph
from tests.easyautoml_models._inventory import FIXTURE, differences, extra_fields

NOT_CASCADE = "deleting a user or machine never erases financial history (defect 10.1.8)"
SET_ONCE = "timestamps are set once, not rewritten on every save (defect 10.1.4)"
ONE_EMPTY_STATE = "null=True with default=dict gave two empty states (defect 10.6.7)"
LOSS = ["mean_absolute_error", "mean_squared_error", "binary_crossentropy"]
EXACT = "MoneyField: a DecimalField stored exactly (as TEXT) on SQLite too"

#: (model, field, attribute) -> (inventory, ours, why)
DEVIATIONS: dict[tuple[str, str, str], tuple[Any, Any, str]] = {
    ("Billing", "Date", "auto_now"): (True, False, SET_ONCE + "; auto_now_add instead"),
    ("Billing", "Operation_User", "on_delete"): ("CASCADE", "SET_NULL", NOT_CASCADE),
    ("Billing", "machine", "on_delete"): ("CASCADE", "SET_NULL", NOT_CASCADE),
    ("Billing", "machine_owner_user", "on_delete"): ("CASCADE", "SET_NULL", NOT_CASCADE),
    ("ConsultingRequest", "consultant_user", "on_delete"): (
        "CASCADE",
        "SET_NULL",
        "deleting a consultant must not delete the clients' requests and their amounts",
    ),
    ("Credit", "date_time", "auto_now"): (True, False, SET_ONCE),
    **{
        (model, field, "type"): ("DecimalField", "MoneyField", EXACT)
        for model, field in [
            ("Credit", "amount"),
            ("CreditIXIOO", "amount"),
            ("Debit", "amount"),
            ("DebitIXIOO", "amount"),
            ("User", "coupon_balance"),
            ("User", "user_balance"),
            ("User", "user_ixioo_balance"),
        ]
    },
    ("CreditIXIOO", "date_time", "auto_now"): (True, False, SET_ONCE),
    ("Debit", "date_time", "auto_now"): (True, False, SET_ONCE),
    ("DebitIXIOO", "date_time", "auto_now"): (True, False, SET_ONCE),
    ("Operation", "date_time", "auto_now"): (True, False, SET_ONCE),
    ("Work", "work_started_at_date_time", "auto_now"): (
        True,
        False,
        "set when a server claims the item, never by a plain save (defect 10.1.4)",
    ),
    ("Work", "work_started_at_date_time", "null"): (False, True, "NULL until claimed"),
    ("DataLinesOperation", "machine_id", "type"): (
        "IntegerField",
        "ForeignKey",
        "a real foreign key, same column name machine_id (defect 10.2.5)",
    ),
    ("EncDecConfiguration", "enc_dec_config", "null"): (True, False, ONE_EMPTY_STATE),
    ("Machine", "fe_columns_fet", "null"): (True, False, ONE_EMPTY_STATE),
    ("Machine", "fe_columns_inputs_importance_evaluation", "null"): (True, False, ONE_EMPTY_STATE),
    ("Machine", "fe_count_of_fet", "null"): (True, False, ONE_EMPTY_STATE),
    ("Machine", "mdc_columns_name_input_user_df", "null"): (True, False, ONE_EMPTY_STATE),
    ("Machine", "mdc_columns_name_output_user_df", "null"): (True, False, ONE_EMPTY_STATE),
    ("Machine", "parameter_nn_loss", "choices"): (
        "zip(LOSS, LOSS)",
        [[n, n] for n in LOSS],
        "zip() over a string gave single characters (defect 10.6.1); the Keras names "
        "EasyAutoML-Core's ML code stores",
    ),
    ("Machine", "parameter_nn_loss", "default"): (
        "",
        "<none>",
        "'' is not one of the choices; NULL means not chosen yet",
    ),
    ("Machine", "parameter_nn_optimizer", "choices"): (
        "zip(OPTIMIZERS, …)",
        [[n, n] for n in ("Adam", "SGD", "RMSprop", "Adadelta")],
        "SharedConstants' values, which EasyAutoML-Core's ML code stores, written out",
    ),
    ("Operation", "credit", "on_delete"): (
        "CASCADE",
        "PROTECT",
        "ledger entries are never deleted; PROTECT states it in the schema",
    ),
    ("Operation", "credit_ixioo", "on_delete"): ("CASCADE", "PROTECT", "as for credit"),
    ("Operation", "debit", "on_delete"): ("CASCADE", "PROTECT", "as for credit"),
    ("Operation", "debit_ixioo", "on_delete"): ("CASCADE", "PROTECT", "as for credit"),
    ("User", "email", "null"): (
        True,
        False,
        "the login is required and unique whatever its case (defect 10.5.4)",
    ),
    ("User", "coupon_balance", "null"): (True, False, "None += x raised (defect 10.1.5)"),
    ("User", "user_balance", "null"): (True, False, "None += x raised (defect 10.1.5)"),
    ("User", "user_ixioo_balance", "null"): (True, False, "None += x raised (defect 10.1.5)"),
    ("Work", "server", "on_delete"): (
        "CASCADE",
        "SET_NULL",
        "deleting a Server keeps the work history (defect 10.2.2)",
    ),
}

#: Fields we have that the inventory does not list, and why.
EXTRA_FIELDS = {
    ("User", "password"): "from AbstractBaseUser, as the inventory says",
    ("User", "last_login"): "from AbstractBaseUser",
    ("User", "is_superuser"): "from PermissionsMixin",
    ("User", "groups"): "from PermissionsMixin",
    ("User", "user_permissions"): "from PermissionsMixin",
    ("Operation", "idempotency_key"): "a retried charge is a no-op",
    **{
        (ledger, "idempotency_key"): "a retried credit or debit (the admin's confirmation) moves "
        "money once"
        for ledger in ("Credit", "Debit", "CreditIXIOO", "DebitIXIOO")
    },
    ("Work", "is_work_status_cancelled"): "the status of a cancelled item",
    ("Work", "work_attempt_count"): "lease expiry requeues with attempts + 1",
    ("Work", "work_heartbeat_date_time"): "the lease of the server holding the item",
    ("MachineTableLockWrite", "locked_by"): "a lock has an owner (defect 10.2.4)",
    ("MachineTableLockWrite", "expires_at"): "a lock expires (defect 10.2.4)",
}


def test_fixture_covers_every_model_of_the_inventory() -> None:
    counts = {name: len(entry["fields"]) for name, entry in FIXTURE["models"].items()}
    assert counts["Machine"] == 107 and counts["User"] == 18 and counts["Work"] == 21
    assert counts["Billing"] == 26 and counts["Operation"] == 20
    assert set(counts) == {
        "User",
        "Team",
        "Machine",
        "NNModel",
        "EncDecConfiguration",
        "Graph",
        "DataLinesOperation",
        "MachineTableLockWrite",
        "Server",
        "ConsultingRequest",
        "Operation",
        "Credit",
        "Debit",
        "CreditIXIOO",
        "DebitIXIOO",
        "Billing",
        "Work",
        "EasyAutoMLLogger",
    }


def test_every_field_matches_the_inventory_or_is_a_listed_deviation() -> None:
    found = differences()
    listed = {key: value[:2] for key, value in DEVIATIONS.items()}
    unexpected = {key: value for key, value in found.items() if key not in listed}
    assert unexpected == {}, "differences from the inventory that are not listed"
    stale = {key for key in listed if key not in found}
    assert stale == set(), "listed deviations that no longer exist"
    assert {key: found[key] for key in listed} == listed


def test_fields_beyond_the_inventory_are_the_listed_ones() -> None:
    assert extra_fields() == set(EXTRA_FIELDS)


def test_graph_types_and_categories_are_verbatim() -> None:
    assert [list(pair) for pair in GRAPH_TYPES] == FIXTURE["GRAPH_TYPES"]
    assert len(GRAPH_TYPES) == 13
    assert [list(pair) for pair in CATEGORIES] == FIXTURE["CATEGORIES"]
    graph = Graph(graph_type=13)
    assert graph.graph_type_str == "Horizontal bar plots"
    assert Graph(graph_type=99).graph_type_str == "Unknown graph type 99"  # no IndexError


def test_every_model_is_registered_when_the_app_loads() -> None:
    names = {model.__name__ for model in apps.get_app_config("easyautoml_models").get_models()}
    assert set(FIXTURE["models"]) <= names


@pytest.mark.parametrize("name", sorted(FIXTURE["models"]))
def test_models_are_importable_from_the_package(name: str) -> None:
    import easyautoml_models

    assert getattr(easyautoml_models, name) is apps.get_model("easyautoml_models", name)


def test_unknown_package_attribute_raises_attribute_error() -> None:
    import easyautoml_models

    assert easyautoml_models.MachineBilling is None  # as EasyAutoML-Core's package had it
    with pytest.raises(AttributeError, match="NoSuchModel"):
        easyautoml_models.NoSuchModel  # noqa: B018
