"""Masking rules for exported columns, compiled into the job's ``SELECT``.

An Importer's ``Columns`` may map a plain (non-foreign-key) field to a rule that says how its
values leave the database::

    from django_gyro import Importer, mask

    class CustomerImporter(Importer):
        model = Customer

        class Columns:
            tenant = Tenant
            shop = Shop
            email = mask.email()
            first_name = mask.first_name()
            phone = mask.phone()

Every rule here compiles to a Django expression evaluated by PostgreSQL inside the
``COPY (SELECT ...)``, so masking runs at COPY speed and no source value reaches the client.
The rules are deterministic: their outputs depend only on the input value and a secret salt
(``GYRO_MASK_SALT``, or ``DataSlicer.run(..., mask_salt=...)``), so the same value gets the same
mask in every table and every run, and joins on masked values still agree. ``NULL`` stays
``NULL`` and ``""`` stays ``""``. E-mails and hashes are 128 bits or more of SHA-256, so distinct
inputs give distinct outputs; names and phones get such a suffix when the column is part of a
unique constraint. Outputs are sized to the column (``varchar(20)`` phone).

Any Django expression (``Value(...)``, ``Concat(...)``, database functions) is accepted as a rule
too, and so is a Faker bound method (``fake.email``, the slow path: Faker runs in Python once per
distinct value, seeded from the salt, the column and the value).
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import random
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, overload

from django.db import models
from django.db.models import Expression, Value

from django_gyro.exceptions import GyroError

__all__ = [
    "ExpressionRule",
    "FakerRule",
    "FakerValues",
    "MaskError",
    "MaskKey",
    "MaskRule",
    "as_rule",
    "constant",
    "date_shift",
    "email",
    "first_name",
    "hash",
    "in_unique_constraint",
    "is_faker_method",
    "is_rule",
    "last_name",
    "mask_key",
    "name",
    "null",
    "phone",
    "text",
]

SALT_HINT = (
    "set GYRO_MASK_SALT in the Django settings (a long random secret, e.g. read from the "
    "environment: GYRO_MASK_SALT = env('GYRO_MASK_SALT')) or pass "
    "DataSlicer.run(..., mask_salt=...), or gyro_export --mask-salt-env VAR"
)

#: What ``--plan`` and the manifest show instead of the salt-derived key.
KEY_PLACEHOLDER = "<GYRO_MASK_SALT>"

_FIRST_NAMES = (
    "Alex", "Amira", "Ben", "Carla", "Chen", "Dana", "Elena", "Femi", "Grace", "Hugo",
    "Ines", "Jonas", "Kai", "Lena", "Malik", "Nora", "Omar", "Priya", "Quinn", "Rosa",
    "Sami", "Tara", "Umar", "Vera", "Wei", "Yara", "Zoe", "Leo", "Mia", "Noah",
    "Ella", "Ivan", "Aiko", "Liam", "Sofia", "Tomas",
)  # fmt: skip
_LAST_NAMES = (
    "Adams", "Baker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito",
    "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn",
    "Rossi", "Silva", "Tanaka", "Usman", "Varga", "Weber", "Xu", "Yilmaz", "Zhang",
    "Novak", "Murphy", "Schmidt", "Kim", "Lopez", "Meyer",
)  # fmt: skip


class MaskError(GyroError):
    """A mask rule cannot be applied (no salt, a rule that does not fit its column)."""


class MaskKey(str):
    """The salt-derived key bound into masked SQL; shown as ``<GYRO_MASK_SALT>`` for humans."""

    __slots__ = ()


@overload
def mask_key(salt: str) -> MaskKey: ...
@overload
def mask_key(salt: None) -> None: ...
@overload
def mask_key(salt: str | None) -> MaskKey | None: ...


def mask_key(salt: str | None) -> MaskKey | None:
    """The key the rules hash with: HMAC-SHA256 of a fixed label under ``salt`` (hex).

    The salt itself never goes into SQL, the manifest or a log line; the key is bound as a
    parameter and displayed as ``<GYRO_MASK_SALT>``.
    """
    if salt is None:
        return None
    if not isinstance(salt, str) or not salt:
        raise MaskError(f"the mask salt must be a non-empty string; {SALT_HINT}")
    digest = hmac.new(salt.encode(), b"django-gyro mask v1", hashlib.sha256).hexdigest()
    return MaskKey(digest)


class FakerValues(list[str]):
    """Original or fake values of a Faker column bound into SQL; never printed."""

    __slots__ = ()


def displayable(params: Iterable[Any]) -> tuple[Any, ...]:
    """``params`` with the mask key shown as :data:`KEY_PLACEHOLDER` and Faker value lists
    as ``<faker values>`` (for printed SQL and the manifest)."""
    return tuple(
        KEY_PLACEHOLDER
        if isinstance(p, MaskKey)
        else "<faker values>"
        if isinstance(p, FakerValues)
        else p
        for p in params
    )


class _SQL(Expression):
    """A SQL template over named sub-expressions: ``"left({v}, 3)"`` with ``v=F("name")``.

    A name may occur several times; its SQL and parameters are repeated in place. Templates are
    written in this module only, from constants; values always arrive as sub-expressions.
    """

    _placeholder = re.compile(r"\{(\w+)\}")

    def __init__(self, template: str, output_field: models.Field[Any, Any], **parts: Any) -> None:
        super().__init__(output_field=output_field)
        self.template = template
        self.names = list(parts)
        self.parts = [parts[key] for key in self.names]

    def get_source_expressions(self) -> list[Any]:
        return list(self.parts)

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        self.parts = list(exprs)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        compiled = {
            key: compiler.compile(part) for key, part in zip(self.names, self.parts, strict=True)
        }
        pieces: list[str] = []
        params: list[Any] = []
        position = 0
        for match in self._placeholder.finditer(self.template):
            pieces.append(self.template[position : match.start()])
            sql, part_params = compiled[match.group(1)]
            pieces.append(f"({sql})")
            params.extend(part_params)
            position = match.end()
        pieces.append(self.template[position:])
        return "".join(pieces), params


def _digest(kind: str) -> str:
    """SQL for the hex SHA-256 of key, rule kind and the value's text (NULL for NULL)."""
    assert re.fullmatch(r"[a-z_]+", kind)
    return f"encode(sha256(convert_to({{key}} || ':{kind}:' || {{v}}::text, 'UTF8')), 'hex')"


def _number(digest: str, offset: int) -> str:
    """SQL for a non-negative 60-bit integer taken from 15 hex digits of ``digest``."""
    return f"('x' || substr({digest}, {offset:d}, 15))::bit(60)::bigint"


def _pick(words: tuple[str, ...], digest: str, offset: int) -> str:
    array = ", ".join(f"'{word}'" for word in words)  # constants of this module, no quotes
    return f"(ARRAY[{array}])[1 + mod({_number(digest, offset)}, {len(words):d})]"


def in_unique_constraint(field: models.Field[Any, Any]) -> bool:
    """Whether ``field`` is unique or part of a ``unique_together`` / ``UniqueConstraint``."""
    if field.unique:
        return True
    meta = field.model._meta
    for group in meta.unique_together:
        if field.name in group:
            return True
    for constraint in meta.total_unique_constraints:
        if field.name in constraint.fields:
            return True
    return False


def _max_length(field: models.Field[Any, Any]) -> int | None:
    length = getattr(field, "max_length", None)
    return int(length) if length else None


def _is_text(field: models.Field[Any, Any]) -> bool:
    return isinstance(field, models.CharField | models.TextField)


class MaskRule:
    """Base class of the rules: how one column's values leave the database.

    Subclasses set :attr:`kind` and implement :meth:`build`; :meth:`problem` says why a rule
    does not fit a field (``None`` when it does).
    """

    kind = "rule"
    #: Whether the rule hashes with the salt (rules that do refuse to run without one).
    needs_salt = True
    #: Whether the rule is computed by PostgreSQL (False: in Python, see :class:`FakerRule`).
    in_database = True

    def describe(self) -> str:
        """The rule as written, e.g. ``email()``; recorded in the manifest."""
        return f"{self.kind}()"

    def __repr__(self) -> str:
        return f"mask.{self.describe()}"

    def problem(self, field: models.Field[Any, Any]) -> str | None:
        """Why the rule cannot mask ``field``, or ``None``."""
        if not _is_text(field):
            return f"mask.{self.describe()} needs a CharField or TextField"
        return None

    def expression(self, field: models.Field[Any, Any], key: MaskKey | None) -> Any:
        """The Django expression that replaces ``field`` in the SELECT.

        Raises:
            MaskError: the rule does not fit the field, or it needs a salt and none was given.
        """
        problem = self.problem(field)
        if problem is not None:
            raise MaskError(f"{field.model._meta.label}.{field.name}: {problem}")
        if self.needs_salt and key is None:
            raise MaskError(
                f"{field.model._meta.label}.{field.name} is masked with mask."
                f"{self.describe()}, which needs a secret salt: {SALT_HINT}"
            )
        return self.build(field, key)

    def build(self, field: models.Field[Any, Any], key: MaskKey | None) -> Any:
        raise NotImplementedError

    def _template(self, template: str, field: models.Field[Any, Any], key: MaskKey | None) -> _SQL:
        parts: dict[str, Any] = {"v": models.F(field.attname)}
        if "{key}" in template:
            parts["key"] = Value(key, output_field=models.TextField())
        return _SQL(template, models.TextField(), **parts)


class _Email(MaskRule):
    kind = "email"
    domain = "@example.invalid"

    def _hex_digits(self, field: models.Field[Any, Any]) -> int:
        length = _max_length(field) or 254
        return min(32, length - len(self.domain) - 1)

    def problem(self, field: models.Field[Any, Any]) -> str | None:
        problem = super().problem(field)
        if problem is None and self._hex_digits(field) < 24:
            problem = f"mask.email() needs a column of at least {len(self.domain) + 25} chars"
        return problem

    def build(self, field: models.Field[Any, Any], key: MaskKey | None) -> Any:
        digest = _digest(self.kind)
        digits = self._hex_digits(field)
        return self._template(
            f"CASE WHEN {{v}} = '' THEN '' "
            f"ELSE 'u' || left({digest}, {digits:d}) || '{self.domain}' END",
            field,
            key,
        )


class _Words(MaskRule):
    """first_name / last_name / name: words from a list, plus a hash suffix if unique."""

    def __init__(self, kind: str, words: tuple[tuple[str, ...], ...]) -> None:
        self.kind = kind
        self.words = words

    def _longest(self) -> int:
        return sum(max(len(w) for w in group) for group in self.words) + len(self.words) - 1

    def _suffix(self, field: models.Field[Any, Any]) -> int:
        if not in_unique_constraint(field):
            return 0
        length = _max_length(field) or 200
        return min(24, length - self._longest() - 1)

    def problem(self, field: models.Field[Any, Any]) -> str | None:
        problem = super().problem(field)
        if problem is None and in_unique_constraint(field) and self._suffix(field) < 16:
            problem = (
                f"mask.{self.describe()} on a column in a unique constraint needs at least "
                f"{self._longest() + 17} chars (a 16-digit hash keeps the values distinct)"
            )
        return problem

    def build(self, field: models.Field[Any, Any], key: MaskKey | None) -> Any:
        digest = _digest(self.kind)
        words = " || ' ' || ".join(
            _pick(group, digest, 1 + 16 * n) for n, group in enumerate(self.words)
        )
        suffix = self._suffix(field)
        if suffix:
            words += f" || ' ' || substr({digest}, 33, {suffix:d})"
        length = _max_length(field)
        if length is not None and not suffix:
            words = f"left({words}, {length:d})"
        return self._template(f"CASE WHEN {{v}} = '' THEN '' ELSE {words} END", field, key)


class _Phone(MaskRule):
    kind = "phone"

    def _digits(self, field: models.Field[Any, Any]) -> int:
        return min((_max_length(field) or 20) - 1, 18)

    def problem(self, field: models.Field[Any, Any]) -> str | None:
        problem = super().problem(field)
        if problem is None:
            if in_unique_constraint(field) and self._digits(field) < 15:
                problem = "mask.phone() on a column in a unique constraint needs 16+ chars"
            elif self._digits(field) < 7:
                problem = "mask.phone() needs a column of at least 8 chars"
        return problem

    def build(self, field: models.Field[Any, Any], key: MaskKey | None) -> Any:
        digest = _digest(self.kind)
        nine = [
            f"lpad(mod({_number(digest, offset)}, 1000000000)::text, 9, '0')" for offset in (1, 16)
        ]
        if in_unique_constraint(field) or (_max_length(field) or 20) < 12:
            phone = f"'+' || left({nine[0]} || {nine[1]}, {self._digits(field):d})"
        else:
            phone = f"'+1555' || right({nine[0]}, 7)"  # 555: the fictional exchange
        return self._template(f"CASE WHEN {{v}} = '' THEN '' ELSE {phone} END", field, key)


class _Text(MaskRule):
    kind = "text"
    needs_salt = False

    def problem(self, field: models.Field[Any, Any]) -> str | None:
        problem = super().problem(field)
        if problem is None and in_unique_constraint(field):
            problem = (
                "mask.text() gives equal values for equal lengths, but the column is in a "
                "unique constraint (use mask.hash())"
            )
        return problem

    def build(self, field: models.Field[Any, Any], key: MaskKey | None) -> Any:
        return self._template("repeat('x', char_length({v}))", field, key)


class _Hash(MaskRule):
    kind = "hash"

    def problem(self, field: models.Field[Any, Any]) -> str | None:
        problem = super().problem(field)
        length = _max_length(field)
        if problem is None and length is not None and length < 32:
            problem = "mask.hash() needs a column of at least 32 chars"
        return problem

    def build(self, field: models.Field[Any, Any], key: MaskKey | None) -> Any:
        digits = min(64, _max_length(field) or 64)
        return self._template(
            f"CASE WHEN {{v}} = '' THEN '' ELSE left({_digest(self.kind)}, {digits:d}) END",
            field,
            key,
        )


class _Null(MaskRule):
    kind = "null"
    needs_salt = False

    def problem(self, field: models.Field[Any, Any]) -> str | None:
        if not field.null:
            return "mask.null() needs a nullable column (null=True)"
        return None

    def build(self, field: models.Field[Any, Any], key: MaskKey | None) -> Any:
        return Value(None, output_field=models.TextField())


class _Constant(MaskRule):
    kind = "constant"
    needs_salt = False

    def __init__(self, value: Any) -> None:
        if value is None:
            raise TypeError("mask.constant(None): use mask.null() to blank a column")
        self.value = value

    def describe(self) -> str:
        return f"constant({self.value!r})"

    def problem(self, field: models.Field[Any, Any]) -> str | None:
        length = _max_length(field)
        if isinstance(self.value, str) and length is not None and len(self.value) > length:
            return f"mask.{self.describe()} is longer than the column's {length} chars"
        if in_unique_constraint(field):
            return (
                f"mask.{self.describe()} repeats one value, but the column is in a unique "
                f"constraint"
            )
        return None

    def build(self, field: models.Field[Any, Any], key: MaskKey | None) -> Any:
        return _SQL(
            "CASE WHEN {v} IS NULL THEN NULL ELSE {c} END",
            models.TextField(),
            v=models.F(field.attname),
            c=Value(self.value),
        )


class _DateShift(MaskRule):
    kind = "date_shift"

    def __init__(self, max_days: int) -> None:
        if isinstance(max_days, bool) or not isinstance(max_days, int) or max_days < 1:
            raise ValueError(f"mask.date_shift(max_days=...) must be >= 1, got {max_days!r}")
        self.max_days = max_days

    def describe(self) -> str:
        return f"date_shift(max_days={self.max_days})"

    def problem(self, field: models.Field[Any, Any]) -> str | None:
        if not isinstance(field, models.DateField):  # DateTimeField is a DateField
            return f"mask.{self.describe()} needs a DateField or DateTimeField"
        return None

    def build(self, field: models.Field[Any, Any], key: MaskKey | None) -> Any:
        days = (
            f"(mod({_number(_digest(self.kind), 1)}, {2 * self.max_days + 1:d}) "
            f"- {self.max_days:d})::integer"
        )
        if isinstance(field, models.DateTimeField):
            template = f"{{v}} + make_interval(days => {days})"
        else:
            template = f"{{v}} + {days}"
        parts = {"v": models.F(field.attname), "key": Value(key, output_field=models.TextField())}
        return _SQL(template, models.TextField(), **parts)


class ExpressionRule(MaskRule):
    """A user's Django expression used as the column's value (``Value("x")``, ``Concat(...)``)."""

    kind = "expression"
    needs_salt = False

    def __init__(self, expression: Any) -> None:
        self.value = expression

    def describe(self) -> str:
        return f"expression({self.value!r})"

    def problem(self, field: models.Field[Any, Any]) -> str | None:
        return None

    def build(self, field: models.Field[Any, Any], key: MaskKey | None) -> Any:
        return self.value


def is_faker_method(value: Any) -> bool:
    """Whether ``value`` is a bound method of a Faker provider or generator (``fake.email``)."""
    if not inspect.ismethod(value):
        return False
    owner = type(value.__self__)
    return any(cls.__module__.split(".")[0] == "faker" for cls in owner.__mro__)


class FakerRule(MaskRule):
    """A Faker method applied in Python, once per distinct value: the slow path.

    Each value's output comes from the method called with Faker's random generator seeded from
    the salt, the column and the original value, so it is as deterministic as the SQL rules.
    Faker does not promise distinct outputs: use :func:`email` or :func:`hash` for unique
    columns.
    """

    kind = "faker"
    in_database = False

    def __init__(self, method: Callable[[], Any]) -> None:
        if not is_faker_method(method):
            raise TypeError(f"FakerRule needs a Faker bound method (fake.email), got {method!r}")
        self.method = method

    def describe(self) -> str:
        return f"faker({self.method.__name__})"

    def problem(self, field: models.Field[Any, Any]) -> str | None:
        return None

    def build(self, field: models.Field[Any, Any], key: MaskKey | None) -> Any:
        return models.F(field.attname)  # the original; replaced by :meth:`fake_values`

    def fake_values(
        self, field: models.Field[Any, Any], key: MaskKey | None, originals: Iterable[str]
    ) -> list[str]:
        """The fake text for each original value (``""`` stays ``""``), truncated to fit.

        Raises:
            MaskError: no salt.
        """
        if key is None:
            raise MaskError(
                f"{field.model._meta.label}.{field.name} is masked with Faker, which needs a "
                f"secret salt: {SALT_HINT}"
            )
        owner = self.method.__self__  # type: ignore[attr-defined]
        generator = getattr(owner, "generator", owner)
        length = _max_length(field)
        label = f"{field.model._meta.label_lower}.{field.column}"
        out = []
        previous = generator.random
        try:
            for original in originals:
                if original == "":
                    out.append("")
                    continue
                seed = hmac.new(key.encode(), f"{label}:{original}".encode(), hashlib.sha256)
                generator.random = random.Random(int.from_bytes(seed.digest()[:8], "big"))
                fake = str(self.method())
                out.append(fake[:length] if length is not None else fake)
        finally:
            generator.random = previous  # the caller's Faker keeps its own sequence
        return out


def is_rule(value: Any) -> bool:
    """Whether a ``Columns`` value is a mask: a rule, a Django expression or a Faker method."""
    return (
        isinstance(value, MaskRule)
        or is_faker_method(value)
        or (hasattr(value, "resolve_expression") and not isinstance(value, type))
    )


def as_rule(value: Any) -> MaskRule:
    """The :class:`MaskRule` for a ``Columns`` value accepted by :func:`is_rule`."""
    if isinstance(value, MaskRule):
        return value
    if is_faker_method(value):
        return FakerRule(value)
    if hasattr(value, "resolve_expression") and not isinstance(value, type):
        return ExpressionRule(value)
    raise TypeError(f"{value!r} is not a mask rule, Django expression or Faker method")


def email() -> MaskRule:
    """``u<32 hex digits>@example.invalid``: distinct for distinct inputs, never deliverable."""
    return _Email()


def first_name() -> MaskRule:
    """A first name from a fixed list (plus a hash suffix in a unique column)."""
    return _Words("first_name", (_FIRST_NAMES,))


def last_name() -> MaskRule:
    """A last name from a fixed list (plus a hash suffix in a unique column)."""
    return _Words("last_name", (_LAST_NAMES,))


def name() -> MaskRule:
    """``First Last`` from fixed lists (plus a hash suffix in a unique column)."""
    return _Words("name", (_FIRST_NAMES, _LAST_NAMES))


def phone() -> MaskRule:
    """``+1555`` and 7 digits (the fictional 555 exchange); ``+`` and up to 18 digits when the
    column is unique or shorter than 12 chars."""
    return _Phone()


def text() -> MaskRule:
    """Redaction: every character becomes ``x``; keeps the length (and NULL, and ``""``)."""
    return _Text()


def hash() -> MaskRule:  # noqa: A001 - the rule's name in the public API
    """The value's keyed SHA-256 in hex (cut to the column's length, at least 32 digits)."""
    return _Hash()


def null() -> MaskRule:
    """``NULL`` for every row (the column must be nullable)."""
    return _Null()


def constant(value: Any) -> MaskRule:
    """``value`` for every row whose original is not NULL."""
    return _Constant(value)


def date_shift(max_days: int = 30) -> MaskRule:
    """Move each date (or datetime) by a value-dependent number of days in ``[-max_days,
    max_days]``, deterministic like the other rules."""
    return _DateShift(max_days)


#: Column names that look personal (matched on the field name and the column name).
PERSONAL_NAME = re.compile(
    r"(^|_)(e?mail|phone|mobile|fax|first_?name|last_?name|surname|full_?name|given_name|"
    r"family_name|address|street|zip_?code|postcode|postal_code|birth_?date|date_of_birth|dob|"
    r"ssn|iban|ip|ip_address|ip_addr|remote_addr|password)($|_)",
    re.IGNORECASE,
)


def personal_reason(field: models.Field[Any, Any]) -> str | None:
    """Why ``field`` looks like personal data (``None`` if it does not).

    ``EmailField``\\s, ``GenericIPAddressField``\\s, the ``password`` of an
    ``AbstractBaseUser`` model, and columns named like phone, first_name, last_name,
    address, ip... Foreign keys and primary keys never count.
    """
    from django.contrib.auth.base_user import AbstractBaseUser

    if field.primary_key or field.is_relation:
        return None
    if isinstance(field, models.EmailField):
        return "an EmailField"
    if isinstance(field, models.GenericIPAddressField):
        return "an IP address field"
    model = field.model
    if field.name == "password" and issubclass(model, AbstractBaseUser):
        return "the password hash of a user model"
    if not isinstance(field, models.CharField | models.TextField | models.DateField):
        return None
    for name in {field.name, field.column}:
        if PERSONAL_NAME.search(name):
            return f"named like personal data ('{name}')"
    return None


def job_rules(job: Any) -> dict[str, MaskRule]:
    """``{column: rule}`` of the fields ``job`` writes that its Importer masks."""
    rules = job.get_importer().masks()
    by_name = {f.name: f for f in job.fields()}
    return {by_name[name].column: rule for name, rule in rules.items() if name in by_name}


def unmasked_personal(job: Any) -> list[tuple[models.Field[Any, Any], str]]:
    """The fields ``job`` writes that look personal, have no rule and are not ``unmasked``."""
    rules = job.get_importer().masks()
    allowed = set(job.unmasked)
    found = []
    for f in job.fields():
        if f.name in rules or f.name in allowed or f.attname in allowed:
            continue
        reason = personal_reason(f)
        if reason is not None:
            found.append((f, reason))
    return found
