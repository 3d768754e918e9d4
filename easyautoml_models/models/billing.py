"""Money: the append-only ledgers, operations, and the legacy Billing table.

A balance changes only when a ledger row is inserted: ``Credit``/``Debit`` move
``User.user_balance`` (USD), ``CreditIXIOO``/``DebitIXIOO`` move ``User.user_ixioo_balance``
(EAML tokens). The insert and a conditional ``UPDATE`` of the balance run in one transaction, so
they happen together or not at all, and a debit that would take the balance below zero raises
:class:`~easyautoml_models.exceptions.InsufficientFunds` and changes nothing. Amounts are always
positive; the model says which way the money moves.
"""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import DataError, IntegrityError, connections, models, router, transaction
from django.db.models import signals
from django.utils import timezone

from easyautoml_models.conf import app_settings, decimal_places, max_digits
from easyautoml_models.exceptions import (
    IdempotencyKeyReused,
    InsufficientFunds,
    InvalidAmount,
    LedgerEntryImmutable,
)
from easyautoml_models.models._common import ZERO, D, M, exactly_one_true

if TYPE_CHECKING:
    from datetime import datetime

    from easyautoml_models.models.machine import Machine
    from easyautoml_models.models.user import User

__all__ = [
    "OPERATION_TYPES",
    "OPERATION_TYPE_LABELS",
    "Billing",
    "Credit",
    "CreditIXIOO",
    "Debit",
    "DebitIXIOO",
    "LedgerEntry",
    "LedgerQuerySet",
    "MachineOperationsManager",
    "Operation",
    "OperationQuerySet",
    "largest_amount",
    "to_amount",
]

_SMALLEST = Decimal(1).scaleb(-decimal_places())


def largest_amount() -> Decimal:
    """The largest value the money columns hold: ``999999999999.99999999`` for (20, 8)."""
    places = decimal_places()
    return Decimal(f"{'9' * (max_digits() - places)}.{'9' * places}")


def to_amount(value: Any) -> Decimal:
    """Convert ``value`` to a positive money amount with the project's precision.

    Floats go through their shortest ``repr`` (``100.0`` -> ``Decimal("100.0")``), never through
    their binary expansion. Every check runs before any database work.

    Raises:
        InvalidAmount: (a ``ValueError``) not a number, not finite, zero or negative, more
            decimal places than the columns keep, or more digits before the point; the message
            names the limit.
    """
    if isinstance(value, bool):
        raise InvalidAmount(f"an amount must be a number, not {value!r}")
    try:
        amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidAmount(f"an amount must be a number, not {value!r}") from None
    if not amount.is_finite():
        raise InvalidAmount(f"an amount must be finite, not {value!r}")
    if amount <= 0:
        raise InvalidAmount(f"an amount must be positive, not {value!r}")
    places, whole = decimal_places(), max_digits() - decimal_places()
    if amount.adjusted() >= whole:
        raise InvalidAmount(
            f"the amount {value!r} is too large: at most {whole} digits before the decimal point "
            f"(at most {largest_amount()})"
        )
    if amount.normalize().as_tuple().exponent < -places:  # type: ignore[operator]
        raise InvalidAmount(f"an amount has at most {places} decimal places, not {value!r}")
    return amount.quantize(_SMALLEST)


def _past_the_column(field_name: str, user_id: Any, amount: Decimal) -> InvalidAmount:
    return InvalidAmount(
        f"crediting {amount} would take {field_name} of user {user_id} past the largest value "
        f"the column holds ({largest_amount()})"
    )


def _to_money(value: Any) -> Decimal:
    """A balance read back from the database, as a Decimal with the project's precision."""
    if isinstance(value, float):
        value = repr(value)
    return Decimal(value).quantize(_SMALLEST)


def _balance_update(
    connection: Any,
    *,
    user_id: Any,
    field_name: str,
    amount: Decimal,
    sign: int,
    stamp_billing_time: datetime | None = None,
) -> tuple[str, list[Any], str]:
    """``UPDATE "user" SET balance = balance +/- %s WHERE id = %s [AND balance >= %s]``.

    A debit carries ``balance >= amount`` in its WHERE clause: the database decides, so
    concurrent debits can never take a balance below zero. Identifiers are quoted by the backend,
    values are parameters. Returns the SQL, its parameters and the quoted balance column.
    """
    from easyautoml_models.models.user import User

    qn = connection.ops.quote_name
    opts = User._meta
    column = qn(str(opts.get_field(field_name).column))  # type: ignore[union-attr]
    table, pk = qn(opts.db_table), qn(str(opts.pk.column))
    params: list[Any] = [amount]
    assignments = f"{column} = {column} {'+' if sign > 0 else '-'} %s"
    if stamp_billing_time is not None:
        stamp_column = str(opts.get_field("last_billing_time").column)
        assignments += f", {qn(stamp_column)} = %s"
        params.append(stamp_billing_time)
    where = f"{pk} = %s"
    params.append(user_id)
    if sign < 0:
        where += f" AND {column} >= %s"
        params.append(amount)
    return f"UPDATE {table} SET {assignments} WHERE {where}", params, column


def _refuse(using: str, user_id: Any, field_name: str, amount: Decimal) -> NoReturn:
    """Explain why a balance UPDATE matched no row: no such user, or not enough money."""
    from easyautoml_models.models.user import User

    row = User.objects.using(using).filter(pk=user_id).values_list("email", field_name).first()
    if row is None:
        raise ValueError(f"no user with primary key {user_id!r}")
    email, balance = row
    raise InsufficientFunds(email or user_id, balance, amount, field_name)


def _change_balance(
    *, using: str, user_id: Any, field_name: str, amount: Decimal, **kw: Any
) -> Decimal:
    """Run :func:`_balance_update` and return the new balance.

    Raises:
        InsufficientFunds: the debit was refused (nothing changed).
        ValueError: no user has this primary key.
    """
    connection = connections[using]
    if connection.vendor == "sqlite":
        return _change_balance_exactly(connection, user_id, field_name, amount, **kw)
    sql, params, column = _balance_update(
        connection, user_id=user_id, field_name=field_name, amount=amount, **kw
    )
    with connection.cursor() as cursor:
        if connection.features.can_return_columns_from_insert:  # SQLite >= 3.35, PostgreSQL
            cursor.execute(f"{sql} RETURNING {column}", params)
            row = cursor.fetchone()
        else:  # older SQLite, MySQL: read the new value back in the same transaction
            cursor.execute(sql, params)
            row = None
            if cursor.rowcount == 1:
                from easyautoml_models.models.user import User

                row = (
                    User.objects.using(using)
                    .filter(pk=user_id)
                    .values_list(field_name, flat=False)
                    .get()
                )
    if row is None:
        _refuse(using, user_id, field_name, amount)
    return _to_money(row[0])


def _change_balance_exactly(
    connection: Any,
    user_id: Any,
    field_name: str,
    amount: Decimal,
    *,
    sign: int,
    stamp_billing_time: datetime | None = None,
) -> Decimal:
    """SQLite: the balance arithmetic in Python, on exact TEXT values, under the write lock.

    Must run inside the caller's transaction. The first statement is a write (a no-op UPDATE of
    the row), so this transaction holds SQLite's write lock before it reads the balance: no other
    writer can change it between the read and the write back.
    """
    from easyautoml_models.models.user import User

    qn = connection.ops.quote_name
    opts = User._meta
    field: Any = opts.get_field(field_name)
    column, table, pk = qn(field.column), qn(opts.db_table), qn(str(opts.pk.column))
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = {column} WHERE {pk} = %s", [user_id])
        cursor.execute(f"SELECT {column} FROM {table} WHERE {pk} = %s", [user_id])
        row = cursor.fetchone()
        if row is None:
            raise ValueError(f"no user with primary key {user_id!r}")
        before = field.from_db_value(row[0], None, connection) or ZERO
        after = before + amount if sign > 0 else before - amount
        if after < 0:
            _refuse(connection.alias, user_id, field_name, amount)
        if after > largest_amount():
            raise _past_the_column(field_name, user_id, amount)
        assignments, params = f"{column} = %s", [field.get_db_prep_save(after, connection)]
        if stamp_billing_time is not None:
            stamp: Any = opts.get_field("last_billing_time")
            assignments += f", {qn(stamp.column)} = %s"
            params.append(stamp.get_db_prep_save(stamp_billing_time, connection))
        cursor.execute(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", [*params, user_id])
    return after.quantize(_SMALLEST)


class LedgerQuerySet(models.QuerySet):
    """Queries over ledger entries; updates and deletes are refused (append-only)."""

    def for_user(self, user: Any) -> LedgerQuerySet:
        """Entries of ``user`` (a User or a primary key)."""
        return self.filter(user=user)

    def get_all_by_user(self, user: Any) -> LedgerQuerySet:
        """Entries of ``user``, newest first (the original's name)."""
        return self.for_user(user).order_by("-date_time")

    def get_by_user_in_date_range(
        self, user: Any, start: datetime, end: datetime
    ) -> LedgerQuerySet:
        """Entries of ``user`` with ``start <= date_time <= end``, newest first."""
        return self.get_all_by_user(user).filter(date_time__range=(start, end))

    def total(self) -> Decimal:
        """The sum of the amounts (0 when empty), exact on every backend."""
        if connections[self.db].vendor == "sqlite":  # TEXT amounts: add them up in Python
            return sum(self.values_list("amount", flat=True).iterator(), ZERO)
        return self.aggregate(total=models.Sum("amount"))["total"] or ZERO

    def update(self, **kwargs: Any) -> int:
        # The only update allowed is Django's own SET_NULL when a user is deleted.
        if set(kwargs) == {"user"} and kwargs["user"] is None:
            return super().update(**kwargs)
        raise LedgerEntryImmutable(
            f"{self.model.__name__} entries are append-only: add an opposite entry instead of "
            "updating"
        )

    update.queryset_only = True  # type: ignore[attr-defined]

    def delete(self) -> tuple[int, dict[str, int]]:
        raise LedgerEntryImmutable(f"{self.model.__name__} entries are append-only: not deleted")

    delete.queryset_only = True  # type: ignore[attr-defined]

    def bulk_create(self, *args: Any, **kwargs: Any) -> list[Any]:
        raise LedgerEntryImmutable(
            f"{self.model.__name__}.objects.bulk_create() would skip the balance update: create "
            "entries one by one through the manager"
        )

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise LedgerEntryImmutable(f"{self.model.__name__} entries are append-only")


class LedgerManager(models.Manager.from_queryset(LedgerQuerySet)):  # type: ignore[misc]
    """Manager of a ledger: ``create()`` is the balance change."""

    def _entry(
        self, user: Any, amount: Any, idempotency_key: str | None = None, **extra: Any
    ) -> Any:
        """Insert one entry; with ``idempotency_key``, at most one entry per key.

        The key is a unique column of the entry, so the INSERT itself (in the same statement or
        transaction as the balance change) decides which of several concurrent calls moves the
        money; the others get the stored entry back, flagged ``replayed = True``.

        Raises:
            IdempotencyKeyReused: the key is stored for another user or amount.
        """
        using = self._db or router.db_for_write(self.model)
        if idempotency_key is not None:
            if not isinstance(idempotency_key, str) or not idempotency_key.strip():
                raise ValueError("an idempotency key must be a non-empty string")
            amount = to_amount(amount)
            existing = self._replayed(using, idempotency_key, user, amount)
            if existing is not None:
                return existing
        entry = self.model(user=user, amount=amount, idempotency_key=idempotency_key, **extra)
        try:
            entry.save(using=using)
        except IntegrityError:
            if idempotency_key is None:
                raise
            existing = self._replayed(using, idempotency_key, user, amount)
            if existing is None:
                raise
            return existing
        entry.replayed = False
        return entry

    def _replayed(self, using: str, key: str, user: Any, amount: Decimal) -> Any:
        existing = self.db_manager(using).filter(idempotency_key=key).first()
        if existing is None:
            return None
        user_id = getattr(user, "pk", user)
        if existing.user_id != user_id or existing.amount != amount:
            raise IdempotencyKeyReused(
                f"idempotency key {key!r} was used for {self.model.__name__} {existing.amount} "
                f"of user {existing.user_id}, not {amount} of user {user_id}; use a new key for "
                "a new charge"
            )
        existing.replayed = True
        return existing


class CreditManager(LedgerManager):
    """``Credit.objects``: :meth:`increase` adds USD to a user's balance."""

    def increase(self, user: User, amount: Any, *, idempotency_key: str | None = None) -> Credit:
        """Credit ``amount`` USD to ``user`` (ledger row + balance, one transaction).

        With ``idempotency_key``, a repeated call credits nothing and returns the first entry
        (``entry.replayed`` is True).

        Raises:
            ValueError: ``amount`` is not a positive amount (:class:`InvalidAmount`), the user
                does not exist, or the key was used for another user or amount
                (:class:`IdempotencyKeyReused`).
        """
        return self._entry(user, amount, idempotency_key)


class DebitManager(LedgerManager):
    """``Debit.objects``: :meth:`decrease` takes USD from a user's balance."""

    def decrease(self, user: User, amount: Any, *, idempotency_key: str | None = None) -> Debit:
        """Debit ``amount`` USD from ``user``; the balance never goes below zero.

        With ``idempotency_key``, a repeated call debits nothing and returns the first entry.

        Raises:
            InsufficientFunds: the balance is lower than ``amount`` (nothing changed).
            ValueError: as :meth:`CreditManager.increase`.
        """
        return self._entry(user, amount, idempotency_key)


class CreditIXIOOManager(LedgerManager):
    """``CreditIXIOO.objects``: token credits and bill payments."""

    def increase(
        self, user: User, amount: Any, *, idempotency_key: str | None = None
    ) -> CreditIXIOO:
        """Credit ``amount`` EAML tokens to ``user`` (see :meth:`CreditManager.increase`)."""
        return self._entry(user, amount, idempotency_key)

    def pay_bill(
        self, user: User, amount: Any, *, idempotency_key: str | None = None
    ) -> Operation:
        """Record a paid bill: credit ``amount`` tokens, stamp ``last_billing_time``.

        Creates the :class:`CreditIXIOO` entry and an :class:`Operation` flagged
        ``is_pay_a_bill_operation`` in one transaction. With ``idempotency_key``, paying the same
        bill again returns the first Operation and credits nothing.

        Returns:
            The Operation; its ``credit_ixioo`` is the ledger entry.

        Raises:
            ValueError: ``amount`` is not a positive amount, or the user does not exist.
        """
        using = self._db or router.db_for_write(self.model)
        amount = to_amount(amount)

        def charge() -> dict[str, Any]:
            entry = self.model(user=user, amount=amount)
            entry._stamp_billing_time = True
            entry.save(using=using)
            return {"credit_ixioo": entry}

        operation = Operation.objects.using(using)._record(
            charge,
            idempotency_key=idempotency_key,
            amount=amount,
            is_pay_a_bill_operation=True,
            operation_user=user,
            machine_owner=user,
        )
        # EasyAutoML-Core set last_billing_time on the caller's object: give it the stored stamp.
        user.last_billing_time = (
            type(user)._base_manager.using(using).values_list("last_billing_time", flat=True)
        ).get(pk=user.pk)
        return operation


class DebitIXIOOManager(LedgerManager):
    """``DebitIXIOO.objects``: :meth:`decrease` takes EAML tokens from a user."""

    def decrease(
        self, user: User, amount: Any, *, idempotency_key: str | None = None
    ) -> DebitIXIOO:
        """Debit ``amount`` EAML tokens from ``user`` (see :meth:`DebitManager.decrease`).

        Raises:
            InsufficientFunds: the token balance is lower than ``amount`` (nothing changed).
            ValueError: as :meth:`CreditManager.increase`.
        """
        return self._entry(user, amount, idempotency_key)


class LedgerEntry(models.Model):
    """One append-only ledger row: a positive ``amount`` moved into or out of a balance.

    Saving a new entry changes the user's balance in the same transaction (so
    ``Credit.objects.create(user=user, amount=100)`` is a credit); saving it again, updating or
    deleting it raises :class:`~easyautoml_models.exceptions.LedgerEntryImmutable`.
    """

    #: The ``User`` column this ledger moves.
    balance_field: ClassVar[str]
    #: +1 for credits, -1 for debits.
    sign: ClassVar[int]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    date_time = models.DateTimeField(auto_now_add=True)
    amount = M(validators=[MinValueValidator(_SMALLEST)])
    idempotency_key = models.CharField(
        max_length=255,
        null=True,
        blank=True,
        editable=False,
        help_text="At most one entry per key: a retried credit or debit moves money once",
    )

    _stamp_billing_time = False
    #: True on an entry a manager returned for a repeated ``idempotency_key`` (nothing moved).
    replayed = False

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.amount} for user {self.user_id} at {self.date_time}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Insert the entry and move the balance, atomically. Never updates.

        Raises:
            LedgerEntryImmutable: the entry is already stored.
            InsufficientFunds: a debit larger than the balance (nothing stored).
            ValueError: bad amount, no user, or the user does not exist.
        """
        if not self._state.adding:
            raise LedgerEntryImmutable(
                f"{type(self).__name__} {self.pk} is already recorded: ledger entries are "
                "append-only"
            )
        if self.user_id is None:
            raise ValueError(f"a {type(self).__name__} entry needs a user")
        self.amount = to_amount(self.amount)
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        change = {
            "user_id": self.user_id,
            "field_name": self.balance_field,
            "amount": self.amount,
            "sign": self.sign,
            "stamp_billing_time": timezone.now() if self._stamp_billing_time else None,
        }
        if connections[using].vendor == "postgresql":
            balance = self._insert_moving_balance(using, change)
        else:
            kwargs["using"] = using
            kwargs["force_insert"] = True
            with transaction.atomic(using=using):
                balance = _change_balance(using=using, **change)
                super().save(*args, **kwargs)
        if type(self).user.is_cached(self):
            setattr(self.user, self.balance_field, balance)

    def _insert_moving_balance(self, using: str, change: dict[str, Any]) -> Decimal:
        """PostgreSQL: the balance UPDATE and the entry INSERT as one statement.

        ``WITH moved AS (UPDATE ... RETURNING balance) INSERT ... SELECT ... FROM moved``: the
        row is inserted only if the UPDATE matched, both or neither happen (one statement is
        atomic), and there is no BEGIN/COMMIT round trip. Django's ``pre_save``/``post_save``
        signals are sent as for any save.
        """
        connection = connections[using]
        qn = connection.ops.quote_name
        opts = self._meta
        cls = type(self)
        signals.pre_save.send(
            sender=cls, instance=self, raw=False, using=using, update_fields=None
        )
        fields = list(opts.local_concrete_fields)
        values = [
            field.get_db_prep_save(field.pre_save(self, True), connection) for field in fields
        ]
        update, params, column = _balance_update(connection, **change)
        columns = ", ".join(qn(str(field.column)) for field in fields)
        placeholders = ", ".join(["%s"] * len(fields))
        sql = (
            f"WITH moved AS ({update} RETURNING {column} AS balance) "
            f"INSERT INTO {qn(opts.db_table)} ({columns}) SELECT {placeholders} FROM moved "
            "RETURNING (SELECT balance FROM moved)"
        )
        # Inside the caller's transaction a failed statement would abort it: use a savepoint.
        # In autocommit mode the statement is its own transaction.
        guard = transaction.atomic(using=using) if connection.in_atomic_block else nullcontext()
        try:
            with guard, connection.cursor() as cursor:
                cursor.execute(sql, [*params, *values])
                row = cursor.fetchone()
        except DataError:  # numeric field overflow: the balance would not fit its column
            raise _past_the_column(
                change["field_name"], change["user_id"], change["amount"]
            ) from None
        if row is None:
            _refuse(using, change["user_id"], change["field_name"], change["amount"])
        self._state.adding = False
        self._state.db = using
        signals.post_save.send(
            sender=cls, instance=self, created=True, update_fields=None, raw=False, using=using
        )
        return _to_money(row[0])

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise LedgerEntryImmutable(
            f"{type(self).__name__} {self.pk}: ledger entries are append-only and never deleted"
        )


def _ledger_indexes(table: str) -> list[models.Index]:
    """The indexes every ledger table has, named after ``table``."""
    short = table.replace("billing_", "ledger_")  # index names are limited to 30 characters
    return [
        models.Index(fields=["user"], name=f"{short}_user_idx"),
        models.Index(fields=["date_time"], name=f"{short}_dt_idx"),
        models.Index(fields=["user", "date_time"], name=f"{short}_udt_idx"),
    ]


def _ledger_constraints(table: str) -> list[models.BaseConstraint]:
    """The constraints every ledger table has, named after ``table``."""
    return [
        models.CheckConstraint(condition=models.Q(amount__gt=0), name=f"{table}_amount_gt_0"),
        # Partial: entries without a key (nearly all) cost nothing in this index.
        models.UniqueConstraint(
            fields=["idempotency_key"],
            condition=models.Q(idempotency_key__isnull=False),
            name=f"{table}_key_unique",
        ),
    ]


class Credit(LedgerEntry):
    """USD added to ``User.user_balance``."""

    balance_field = "user_balance"
    sign = 1
    objects = CreditManager()

    class Meta:
        db_table = "billing_credit"
        base_manager_name = "objects"
        indexes = _ledger_indexes("billing_credit")
        constraints = _ledger_constraints("billing_credit")


class Debit(LedgerEntry):
    """USD taken from ``User.user_balance`` (amount positive)."""

    balance_field = "user_balance"
    sign = -1
    objects = DebitManager()

    class Meta:
        db_table = "billing_debit"
        base_manager_name = "objects"
        indexes = _ledger_indexes("billing_debit")
        constraints = _ledger_constraints("billing_debit")


class CreditIXIOO(LedgerEntry):
    """EAML tokens added to ``User.user_ixioo_balance``."""

    balance_field = "user_ixioo_balance"
    sign = 1
    objects = CreditIXIOOManager()

    class Meta:
        db_table = "billing_creditixioo"
        base_manager_name = "objects"
        verbose_name = "credit IXIOO"
        verbose_name_plural = "credits IXIOO"
        indexes = _ledger_indexes("billing_creditixioo")
        constraints = _ledger_constraints("billing_creditixioo")


class DebitIXIOO(LedgerEntry):
    """EAML tokens taken from ``User.user_ixioo_balance`` (amount positive)."""

    balance_field = "user_ixioo_balance"
    sign = -1
    objects = DebitIXIOOManager()

    class Meta:
        db_table = "billing_debitixioo"
        base_manager_name = "objects"
        verbose_name = "debit IXIOO"
        verbose_name_plural = "debits IXIOO"
        indexes = _ledger_indexes("billing_debitixioo")
        constraints = _ledger_constraints("billing_debitixioo")


#: The Operation type flags, in the order ``Operation.get_type`` checks them.
OPERATION_TYPES = [
    "is_training_operation",
    "is_solving_operation",
    "is_solving_with_api_operation",
    "is_solving_with_api_market_operation",
    "is_buy_data_source_operation",
    "is_machine_copy_operation",
    "is_machine_copy_update_operation",
    "is_credit_from_user_operation",
    "is_pay_a_bill_operation",
]


#: ``Operation.get_type``'s display strings, in EasyAutoML-Core's check order (pay-bill before
#: credit-from-user; exactly one flag is true anyway).
OPERATION_TYPE_LABELS = [
    ("is_training_operation", "Training"),
    ("is_solving_operation", "Solving"),
    ("is_solving_with_api_operation", "Solving API"),
    ("is_solving_with_api_market_operation", "Solving API Market"),
    ("is_buy_data_source_operation", "Buy data source"),
    ("is_machine_copy_operation", "Machine copy"),
    ("is_machine_copy_update_operation", "Machine copy update"),
    ("is_pay_a_bill_operation", "Pay bill"),
    ("is_credit_from_user_operation", "Credit from user"),
]


class OperationQuerySet(models.QuerySet):
    """Queries over operations."""

    def of_type(self, flag: str) -> OperationQuerySet:
        """Operations whose type flag ``flag`` (one of :data:`OPERATION_TYPES`) is set."""
        if flag not in OPERATION_TYPES:
            raise ValueError(f"unknown operation type {flag!r}; expected one of {OPERATION_TYPES}")
        return self.filter(**{flag: True})

    def for_user(self, user: Any) -> OperationQuerySet:
        """Operations made by ``user``."""
        return self.filter(operation_user=user)

    def delete(self) -> tuple[int, dict[str, int]]:
        raise LedgerEntryImmutable("operations are financial history and are never deleted")

    delete.queryset_only = True  # type: ignore[attr-defined]

    def update(self, **kwargs: Any) -> int:
        # The only update allowed is Django's own SET_NULL when a user or machine is deleted.
        if set(kwargs) <= _OPERATION_NULLABLE and all(value is None for value in kwargs.values()):
            return super().update(**kwargs)
        raise LedgerEntryImmutable(
            "operations are financial history and never change: record a new Operation"
        )

    update.queryset_only = True  # type: ignore[attr-defined]

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise LedgerEntryImmutable("operations are financial history and never change")

    def _record(
        self,
        charge: Any,
        *,
        idempotency_key: str | None = None,
        amount: Decimal | None = None,
        **fields: Any,
    ) -> Operation:
        """Run ``charge()`` and create the Operation with its result, in one transaction.

        ``charge`` returns the ledger links of the Operation (e.g. ``{"debit_ixioo": entry}``);
        ``amount`` is what it moves (None for nothing). With an ``idempotency_key`` already
        recorded for the same type, user, quantities and amount, returns that Operation and runs
        nothing; two concurrent calls with one key charge once (the unique key decides).

        Raises:
            IdempotencyKeyReused: the key was recorded for another type, user, machine,
                quantity or amount (nothing is charged).
        """
        using = self.db
        if idempotency_key is not None:
            if not isinstance(idempotency_key, str) or not idempotency_key.strip():
                raise ValueError("an idempotency key must be a non-empty string")
            existing = self.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                return _replayed(existing, idempotency_key, amount, fields)
        try:
            with transaction.atomic(using=using):
                links = charge()
                return self.create(idempotency_key=idempotency_key, **fields, **links)
        except IntegrityError:
            if idempotency_key is not None:
                existing = self.filter(idempotency_key=idempotency_key).first()
                if existing is not None:
                    return _replayed(existing, idempotency_key, amount, fields)
            raise


#: Operation columns that Django's SET_NULL may clear; nothing else of an Operation changes.
_OPERATION_NULLABLE = frozenset({"machine", "machine_owner", "operation_user"})
#: Fields a retried charge must repeat to get the first Operation back.
_REPLAYED_FIELDS = ("operation_user", "machine", "count_of_lines", "count_of_training_epoch")


def _label(flag: str | None) -> str:
    """``"is_pay_a_bill_operation"`` -> ``"pay a bill"``."""
    return (flag or "untyped").removeprefix("is_").removesuffix("_operation").replace("_", " ")


def _replayed(
    existing: Operation, key: str, amount: Decimal | None, fields: dict[str, Any]
) -> Operation:
    """``existing`` if the retry asks for the same charge, else :class:`IdempotencyKeyReused`."""
    wanted_type = next((flag for flag in OPERATION_TYPES if fields.get(flag)), None)

    def refuse(what: str, first: Any, now: Any) -> NoReturn:
        raise IdempotencyKeyReused(
            f"idempotency key {key!r} was used for another charge ({what} {first!r}, not "
            f"{now!r}); use a new key for a new charge"
        )

    if existing.type_flag != wanted_type:
        refuse("a", _label(existing.type_flag), _label(wanted_type))
    for name in _REPLAYED_FIELDS:
        if name not in fields:
            continue
        field: Any = Operation._meta.get_field(name)
        first = getattr(existing, field.attname)
        now = fields[name]
        now = getattr(now, "pk", now)
        if first != now:
            refuse(name, first, now)
    entry = next(
        (getattr(existing, link) for link in _LEDGER_LINKS if getattr(existing, f"{link}_id")),
        None,
    )
    first_amount = None if entry is None else entry.amount
    if first_amount != amount:
        refuse("amount", first_amount, amount)
    return existing


_LEDGER_LINKS = ("credit", "debit", "credit_ixioo", "debit_ixioo")


class MachineOperationsManager(models.Manager.from_queryset(OperationQuerySet)):  # type: ignore[misc]
    """``Operation.machine_operations``: operations that bill a machine's work."""

    def training_price(self, machine: Machine, count_of_lines: int) -> Decimal:
        """columns x ``training_price`` x lines, in EAML tokens, at ledger precision."""
        price_per_cell = Decimal(
            str(app_settings.BILLING_IXIOO_OPERATIONS_PRICE["training_price"])
        )
        columns = len(machine.dfr_columns_type_user_df or {})
        return (price_per_cell * columns * count_of_lines).quantize(_SMALLEST)

    def training(
        self,
        machine: Machine,
        count_of_lines: int,
        *,
        operation_user: User | None = None,
        count_of_training_epoch: int | None = None,
        idempotency_key: str | None = None,
    ) -> Operation:
        """Bill a training run: debit the payer's tokens and record the Operation, once per key.

        The price is :meth:`training_price`; the payer is ``operation_user`` or else the
        machine's owner. A zero price records the Operation without a debit.
        ``count_of_training_epoch`` defaults to the machine's ``training_training_epoch_count``,
        as in EasyAutoML-Core.

        Raises:
            InsufficientFunds: the payer has fewer tokens than the price (nothing recorded).
            ValueError: ``count_of_lines`` is negative or not an integer.
        """
        if isinstance(count_of_lines, bool) or not isinstance(count_of_lines, int):
            raise ValueError(f"count_of_lines must be an integer, not {count_of_lines!r}")
        if count_of_lines < 0:
            raise ValueError(f"count_of_lines must be >= 0, not {count_of_lines}")
        payer = operation_user or machine.machine_owner_user
        price = self.training_price(machine, count_of_lines)
        using = self._db or router.db_for_write(self.model)

        def charge() -> dict[str, Any]:
            if price <= 0:
                return {}
            return {"debit_ixioo": DebitIXIOO.objects.db_manager(using).decrease(payer, price)}

        return self.get_queryset()._record(
            charge,
            idempotency_key=idempotency_key,
            amount=price if price > 0 else None,
            machine=machine,
            machine_owner_id=machine.machine_owner_user_id,
            operation_user=payer,
            is_training_operation=True,
            count_of_lines=count_of_lines,
            count_of_training_epoch=(
                machine.training_training_epoch_count
                if count_of_training_epoch is None
                else count_of_training_epoch
            ),
        )


class Operation(models.Model):
    """A billable event (training, solving, copy, payment, ...) and its ledger entries.

    Exactly one ``is_*_operation`` flag is true (a database CHECK). ``date_time`` is set once.
    Operations are never deleted; their users and machine become NULL when those are deleted.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    machine = models.ForeignKey(
        "easyautoml_models.Machine",
        on_delete=models.SET_NULL,
        related_name="machine_operations",
        null=True,
    )
    machine_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        related_name="operations_as_machine_owner",
        db_column="billing__machine_owner",
        null=True,
    )
    operation_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        related_name="user_operations",
        null=True,
    )
    credit = models.OneToOneField(
        Credit, on_delete=models.PROTECT, null=True, related_name="credit_operation"
    )
    debit = models.OneToOneField(
        Debit, on_delete=models.PROTECT, null=True, related_name="debit_operation"
    )
    credit_ixioo = models.OneToOneField(
        CreditIXIOO, on_delete=models.PROTECT, null=True, related_name="credit_ixioo_operation"
    )
    debit_ixioo = models.OneToOneField(
        DebitIXIOO, on_delete=models.PROTECT, null=True, related_name="debit_ixioo_operation"
    )
    date_time = models.DateTimeField(auto_now_add=True)
    is_training_operation = models.BooleanField(default=False)
    is_solving_operation = models.BooleanField(default=False)
    is_solving_with_api_operation = models.BooleanField(default=False)
    is_solving_with_api_market_operation = models.BooleanField(default=False)
    is_buy_data_source_operation = models.BooleanField(default=False)
    is_machine_copy_operation = models.BooleanField(default=False)
    is_machine_copy_update_operation = models.BooleanField(default=False)
    is_credit_from_user_operation = models.BooleanField(default=False)
    is_pay_a_bill_operation = models.BooleanField(default=False)
    count_of_lines = models.IntegerField(null=True)
    count_of_training_epoch = models.IntegerField(null=True)
    idempotency_key = models.CharField(
        max_length=255,
        unique=True,
        null=True,
        blank=True,
        help_text="A retried charge with the same key is a no-op",
    )

    objects = OperationQuerySet.as_manager()
    machine_operations = MachineOperationsManager()

    class Meta:
        db_table = "billing_operation"
        default_manager_name = "objects"
        base_manager_name = "objects"
        indexes = [
            models.Index(fields=["date_time"], name="billing_operation_dt_idx"),
            models.Index(fields=["operation_user", "date_time"], name="billing_op_user_dt_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=exactly_one_true(*OPERATION_TYPES), name="billing_operation_one_type"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_type or 'operation'} {self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Insert the Operation; a stored Operation never changes.

        Raises:
            LedgerEntryImmutable: the Operation is already stored.
        """
        if not self._state.adding:
            raise LedgerEntryImmutable(
                f"operation {self.pk} is financial history: never changed; record a new Operation"
            )
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    @property
    def get_type(self) -> str:
        """The display string of the type (``"Training"``, ``"Pay bill"``, ...), or ``""``.

        See :data:`OPERATION_TYPE_LABELS`; :attr:`type_flag` gives the flag's name.
        """
        return next((label for flag, label in OPERATION_TYPE_LABELS if getattr(self, flag)), "")

    @property
    def type_flag(self) -> str | None:
        """The true ``is_*_operation`` flag (see :data:`OPERATION_TYPES`), or None."""
        return next((flag for flag in OPERATION_TYPES if getattr(self, flag)), None)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise LedgerEntryImmutable(f"operation {self.pk} is financial history: never deleted")


#: The legacy Billing boolean flags, in the order ``get_operation_type`` checks them.
BILLING_OPERATION_FLAGS = [
    "OperationIsTraining",
    "OperationIsSolving",
    "OperationIsSolvingAPI",
    "OperationIsBuyDataSource",
    "OperationIsMachineCopy",
    "OperationIsMachineCopyUpdate",
    "OperationIsMachineExport",
]
_BILLING_COUNTS = [
    "CountOfLinesTraining",
    "CountOfTrainingEpoch",
    "CountOfLinesSolvedOwner",
    "CountOfLinesSolvedAPI",
]
_BILLING_AMOUNTS = [
    "TrainingCostMachineUSD",
    "SolvingCostMachineUSD",
    "SolvingAPIIncomeUSD",
    "SolvingCostMachineAPI_Total_USD",
    "MachineBuyDataSourceIncomeUSD",
    "MachineCopyCostIncomeUSD",
    "MachineCopyUpdateIncomeUSD",
    "MachineExportIncomeUSD",
    "MachineExportCostUSD",
    "CreditFromIxioo",
    "CreditFromUser",
]


class Billing(models.Model):
    """The legacy per-operation billing table, kept so existing data stays readable.

    New code records :class:`Operation` and ledger entries instead. Deleting a user or machine
    leaves the rows in place (SET_NULL); ``Date`` is set once.
    """

    machine = models.ForeignKey("easyautoml_models.Machine", on_delete=models.SET_NULL, null=True)
    machine_owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        related_name="machine_owner_user",
        db_column="deprecated_billing_machine_owner_user",
        null=True,
    )
    Operation_User = models.ForeignKey(  # noqa: N815 - the original column name
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        related_name="Operation_User",
        null=True,
    )
    Date = models.DateField(auto_now_add=True)  # noqa: N815
    OperationIsTraining = models.BooleanField(null=True)  # noqa: N815
    OperationIsSolving = models.BooleanField(null=True)  # noqa: N815
    OperationIsSolvingAPI = models.BooleanField(null=True)  # noqa: N815
    OperationIsBuyDataSource = models.BooleanField(null=True)  # noqa: N815
    OperationIsMachineCopy = models.BooleanField(null=True)  # noqa: N815
    OperationIsMachineCopyUpdate = models.BooleanField(null=True)  # noqa: N815
    OperationIsMachineExport = models.BooleanField(null=True)  # noqa: N815
    CountOfLinesTraining = models.IntegerField(null=True)  # noqa: N815
    CountOfTrainingEpoch = models.IntegerField(null=True)  # noqa: N815
    CountOfLinesSolvedOwner = models.IntegerField(null=True)  # noqa: N815
    CountOfLinesSolvedAPI = models.IntegerField(null=True)  # noqa: N815
    TrainingCostMachineUSD = D(null=True)  # noqa: N815
    SolvingCostMachineUSD = D(null=True)  # noqa: N815
    SolvingAPIIncomeUSD = D(null=True)  # noqa: N815
    SolvingCostMachineAPI_Total_USD = D(null=True)  # noqa: N815
    MachineBuyDataSourceIncomeUSD = D(null=True)  # noqa: N815
    MachineCopyCostIncomeUSD = D(null=True)  # noqa: N815
    MachineCopyUpdateIncomeUSD = D(null=True)  # noqa: N815
    MachineExportIncomeUSD = D(null=True)  # noqa: N815
    MachineExportCostUSD = D(null=True)  # noqa: N815
    CreditFromIxioo = D(null=True)  # noqa: N815
    CreditFromUser = D(null=True)  # noqa: N815

    class Meta:
        db_table = "Billing"
        verbose_name = "legacy billing"
        verbose_name_plural = "legacy billing"
        indexes = [
            models.Index(fields=["machine"], name="billing_machine_idx"),
            models.Index(fields=["machine_owner_user"], name="billing_owner_idx"),
            models.Index(fields=["Operation_User"], name="billing_op_user_idx"),
            models.Index(fields=["Date"], name="billing_date_idx"),
            models.Index(fields=["Operation_User", "Date"], name="billing_op_user_date_idx"),
        ]

    def __str__(self) -> str:
        return f"billing {self.pk}: {self.get_operation_type()} on {self.Date}"

    @staticmethod
    def billing_operation_types() -> list[str]:
        """Names of the operation-type flags."""
        return list(BILLING_OPERATION_FLAGS)

    def get_operation_type(self) -> str | None:
        """The first true ``OperationIs*`` flag, without its ``OperationIs`` prefix, or None."""
        flag = next((name for name in BILLING_OPERATION_FLAGS if getattr(self, name)), None)
        return None if flag is None else flag.removeprefix("OperationIs")

    def count_lines(self) -> int | None:
        """Lines counted by this row (the sum of the ``CountOfLines*`` fields), None when none."""
        values = [
            getattr(self, name) for name in _BILLING_COUNTS if name != "CountOfTrainingEpoch"
        ]
        present = [value for value in values if value is not None]
        return sum(present) if present else None

    def operation_cost(self) -> Decimal:
        """The sum of the ``*USD`` amounts of this row, as a Decimal."""
        return sum(
            (getattr(self, name) or ZERO for name in _BILLING_AMOUNTS if name.endswith("USD")),
            ZERO,
        )
