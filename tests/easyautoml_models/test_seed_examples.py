"""The usage examples of seed 003, run as written (only the import path differs)."""

from __future__ import annotations

import pytest

from easyautoml_models.factories import ServerFactory
from easyautoml_models.ledger import verify_balances

pytestmark = pytest.mark.django_db


def test_seed_usage_examples_run_as_written() -> None:
    from easyautoml_models import User

    # Create regular user
    user = User.objects.create_user(
        email="user@example.com",
        password="secure_password",
        first_name="John",
        last_name="Doe",
    )

    # Create superuser
    admin = User.objects.create_superuser(
        email="admin@example.com",
        password="admin_password",
        first_name="Admin",
        last_name="User",
    )
    assert admin.is_superuser

    from easyautoml_models import Team

    # Create team
    team = Team.objects.create(name="Data Science Team", admin_user=user)
    team.create_permission()
    team.users.add(user)

    from easyautoml_models import Machine

    # Create machine
    machine = Machine.objects.create(
        machine_name="Customer Churn Prediction",
        machine_description="Predict customer churn using historical data",
        machine_owner_user=user,
        machine_owner_team=team,
        machine_level=3,
    )

    # Configure columns
    machine.dfr_columns_type_user_df = {
        "customer_id": "LABEL",
        "age": "FLOAT",
        "income": "FLOAT",
        "churn": "LABEL",
    }
    machine.save()

    ServerFactory.create(server_info_ready=True)
    from easyautoml_models import Server, Work

    # Get available server
    server = Server.objects.filter(server_info_ready=True).first()

    # Create training work
    work = Work.objects.create(
        machine=machine,
        server=server,
        is_work_training=True,
        is_work_status_wait_for_server_start=True,
    )

    from easyautoml_models import Credit, Operation

    # Create credit transaction. The seed then set ``operation.credit`` and saved the
    # Operation again; Operations are immutable financial history here, so the entry is linked
    # when the Operation is created.
    credit = Credit.objects.create(user=user, amount=100.00)

    # Create training operation
    operation = Operation.objects.create(
        machine=machine,
        machine_owner=machine.machine_owner_user,
        operation_user=user,
        is_training_operation=True,
        count_of_lines=1000,
        count_of_training_epoch=50,
        credit=credit,
    )

    # Querying examples
    user_machines = Machine.objects.filter(machine_owner_user=user)
    team_machines = Machine.objects.filter(machine_owner_team=team)
    pending_work = Work.objects.filter(is_work_status_wait_for_server_start=True)
    user_operations = Operation.objects.filter(operation_user=user)
    machine_work = Work.objects.filter(machine=machine, is_work_training=True)

    assert list(user_machines) == [machine] == list(team_machines)
    assert list(pending_work) == [work] == list(machine_work)
    assert list(user_operations) == [operation]
    stored = Operation.objects.get(pk=operation.pk)
    assert stored.credit == credit
    assert User.objects.get(pk=user.pk).user_balance == 100
    assert verify_balances() == []
    assert set(Machine.objects.get(pk=machine.pk).dfr_columns_type_user_df) == {
        "customer_id",
        "age",
        "income",
        "churn",
    }
