"""factory-boy factories for every model, for your own tests.

Needs ``factory-boy`` (``pip install "django-data-toolkit[factories]"``). Money is created the
only way it can be: ``UserFactory(balance=100, ixioo_balance=5)`` credits the user through the
ledger, and the debit factories give their user enough credit first.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth.hashers import make_password
from factory.django import DjangoModelFactory

from easyautoml_models.models import (
    Billing,
    ConsultingRequest,
    Credit,
    CreditIXIOO,
    DataLinesOperation,
    Debit,
    DebitIXIOO,
    EasyAutoMLLogger,
    EncDecConfiguration,
    Graph,
    Machine,
    MachineTableLockWrite,
    NNModel,
    Operation,
    Server,
    Team,
    User,
    Work,
)

__all__ = [
    "BillingFactory",
    "ConsultingRequestFactory",
    "CreditFactory",
    "CreditIXIOOFactory",
    "DataLinesOperationFactory",
    "DebitFactory",
    "DebitIXIOOFactory",
    "EasyAutoMLLoggerFactory",
    "EncDecConfigurationFactory",
    "GraphFactory",
    "MachineFactory",
    "MachineTableLockWriteFactory",
    "NNModelFactory",
    "OperationFactory",
    "ServerFactory",
    "TeamFactory",
    "UserFactory",
    "WorkFactory",
]


class UserFactory(DjangoModelFactory[User]):
    """A user with an unusable password; ``balance``/``ixioo_balance`` credit it via the ledger."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.LazyFunction(lambda: make_password(None))

    @factory.post_generation
    def balance(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:  # noqa: N805
        if create and extracted:
            Credit.objects.increase(obj, Decimal(str(extracted)))

    @factory.post_generation
    def ixioo_balance(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:  # noqa: N805
        if create and extracted:
            CreditIXIOO.objects.increase(obj, Decimal(str(extracted)))


class TeamFactory(DjangoModelFactory[Team]):
    """A team administered (and joined) by a new user, with its permission."""

    class Meta:
        model = Team
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Team {n}")
    admin_user = factory.SubFactory(UserFactory)

    @factory.post_generation
    def members(obj: Team, create: bool, extracted: Any, **kwargs: Any) -> None:  # noqa: N805
        if not create:
            return
        obj.create_permission()
        if obj.admin_user is not None:
            obj.add_user_to_team(obj.admin_user)
        for user in extracted or ():
            obj.add_user_to_team(user)


class NNModelFactory(DjangoModelFactory[NNModel]):
    class Meta:
        model = NNModel

    nn_model = b"\x00serialized-network"


class EncDecConfigurationFactory(DjangoModelFactory[EncDecConfiguration]):
    class Meta:
        model = EncDecConfiguration

    enc_dec_config = factory.LazyFunction(lambda: {"inputs": {}, "outputs": {}})


class MachineFactory(DjangoModelFactory[Machine]):
    """A machine with three typed columns, owned by a new user."""

    class Meta:
        model = Machine

    machine_name = factory.Sequence(lambda n: f"Machine {n}")
    machine_description = "A test machine"
    machine_owner_user = factory.SubFactory(UserFactory)
    dfr_columns_type_user_df = factory.LazyFunction(
        lambda: {"age": "FLOAT", "city": "LABEL", "churn": "LABEL"}
    )
    mdc_columns_name_input = factory.LazyFunction(lambda: ["age", "city"])
    mdc_columns_name_output = factory.LazyFunction(lambda: ["churn"])


class GraphFactory(DjangoModelFactory[Graph]):
    class Meta:
        model = Graph

    machine = factory.SubFactory(MachineFactory)
    graph_type = 1
    x = "age"
    y = "churn"


class ServerFactory(DjangoModelFactory[Server]):
    class Meta:
        model = Server

    server_name = factory.Sequence(lambda n: f"server-{n}")
    server_info_ready = True


class WorkFactory(DjangoModelFactory[Work]):
    """A waiting training item."""

    class Meta:
        model = Work

    machine = factory.SubFactory(MachineFactory)
    is_work_training = True
    is_work_solving = False
    is_work_status_wait_for_server_start = True


class DataLinesOperationFactory(DjangoModelFactory[DataLinesOperation]):
    class Meta:
        model = DataLinesOperation

    machine = factory.SubFactory(MachineFactory)
    is_added_for_learning = True
    is_added_for_solving = False


class MachineTableLockWriteFactory(DjangoModelFactory[MachineTableLockWrite]):
    class Meta:
        model = MachineTableLockWrite

    table_name = factory.Sequence(lambda n: f"Machine_{n}_DataInputLines")


class ConsultingRequestFactory(DjangoModelFactory[ConsultingRequest]):
    class Meta:
        model = ConsultingRequest

    user = factory.SubFactory(UserFactory)
    category = "1"
    description = "Help with data engineering"
    is_status_request_open = True


class EasyAutoMLLoggerFactory(DjangoModelFactory[EasyAutoMLLogger]):
    class Meta:
        model = EasyAutoMLLogger

    level = "INFO"
    logger = "easyautoml.test"
    main_module = "tests"
    main_function = "test"
    message = factory.Sequence(lambda n: f"message {n}")
    host_name = "localhost"
    ip = "127.0.0.1"


class CreditFactory(DjangoModelFactory[Credit]):
    """A USD credit (raises the user's balance)."""

    class Meta:
        model = Credit

    user = factory.SubFactory(UserFactory)
    amount = Decimal("10.00")


class CreditIXIOOFactory(DjangoModelFactory[CreditIXIOO]):
    """An EAML token credit."""

    class Meta:
        model = CreditIXIOO

    user = factory.SubFactory(UserFactory)
    amount = Decimal("10.00")


class DebitFactory(DjangoModelFactory[Debit]):
    """A USD debit; its default user is credited 1000 first."""

    class Meta:
        model = Debit

    user = factory.SubFactory(UserFactory, balance=Decimal("1000"))
    amount = Decimal("1.00")


class DebitIXIOOFactory(DjangoModelFactory[DebitIXIOO]):
    """An EAML token debit; its default user is credited 1000 tokens first."""

    class Meta:
        model = DebitIXIOO

    user = factory.SubFactory(UserFactory, ixioo_balance=Decimal("1000"))
    amount = Decimal("1.00")


class OperationFactory(DjangoModelFactory[Operation]):
    """A training operation on a new machine (no ledger entry)."""

    class Meta:
        model = Operation

    machine = factory.SubFactory(MachineFactory)
    machine_owner = factory.SelfAttribute("machine.machine_owner_user")
    operation_user = factory.SelfAttribute("machine.machine_owner_user")
    is_training_operation = True
    count_of_lines = 100


class BillingFactory(DjangoModelFactory[Billing]):
    """A legacy Billing row for a training."""

    class Meta:
        model = Billing

    machine = factory.SubFactory(MachineFactory)
    machine_owner_user = factory.SelfAttribute("machine.machine_owner_user")
    Operation_User = factory.SelfAttribute("machine.machine_owner_user")
    OperationIsTraining = True
    CountOfLinesTraining = 100
    TrainingCostMachineUSD = Decimal("1.5")
