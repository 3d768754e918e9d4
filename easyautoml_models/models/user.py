"""The platform's user: e-mail login, preferences, and two ledger-backed balances."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.mail import send_mail
from django.core.validators import MinValueValidator
from django.db import models, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from easyautoml_models.conf import app_settings
from easyautoml_models.exceptions import LedgerFieldProtected
from easyautoml_models.models._common import ZERO, M, ProtectedFieldsMixin

if TYPE_CHECKING:
    from easyautoml_models.models.team import Team

__all__ = ["LEDGER_FIELDS", "User", "UserManager", "UserQuerySet"]

#: Columns that only the ledger managers change (see ``easyautoml_models.ledger``).
LEDGER_FIELDS = frozenset({"user_balance", "user_ixioo_balance", "last_billing_time"})


def ledger_fields_refused(fields: Any, door: str) -> LedgerFieldProtected:
    """The error for a write of ledger-managed columns through ``door``."""
    names = sorted(LEDGER_FIELDS & {str(name).removesuffix("_id") for name in fields})
    return LedgerFieldProtected(
        f"{door} cannot set {names}: they change only through the ledger; use "
        "Credit.objects.increase() / Debit.objects.decrease() for USD and "
        "CreditIXIOO.objects.increase() / DebitIXIOO.objects.decrease() for tokens"
    )


def _has_money(user: Any) -> bool:
    return bool(user.user_balance or user.user_ixioo_balance or user.last_billing_time)


class UserQuerySet(models.QuerySet["User"]):
    """Users; every bulk door that would set a ledger-managed column is refused."""

    def update(self, **kwargs: Any) -> int:
        if LEDGER_FIELDS & set(kwargs):
            raise ledger_fields_refused(kwargs, "User.objects.update()")
        return super().update(**kwargs)

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        if LEDGER_FIELDS & set(fields):
            raise ledger_fields_refused(fields, "User.objects.bulk_update()")
        return super().bulk_update(objs, fields, batch_size=batch_size)

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[User]:
        objs = list(objs)
        if any(_has_money(user) for user in objs):
            raise ledger_fields_refused(LEDGER_FIELDS, "User.objects.bulk_create()")
        if LEDGER_FIELDS & set(kwargs.get("update_fields") or ()):
            raise ledger_fields_refused(kwargs["update_fields"], "User.objects.bulk_create()")
        return super().bulk_create(objs, *args, **kwargs)

    def update_or_create(
        self,
        defaults: Any = None,
        create_defaults: Any = None,
        **kwargs: Any,
    ) -> tuple[User, bool]:
        for given in (defaults, create_defaults, kwargs):
            if given and not callable(given) and LEDGER_FIELDS & set(given):
                raise ledger_fields_refused(given, "User.objects.update_or_create()")
        return super().update_or_create(defaults, create_defaults, **kwargs)


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):  # type: ignore[misc]
    """Creates users that log in with their e-mail address (unique whatever its case)."""

    use_in_migrations = True

    def _create_user(self, email: str | None, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("an e-mail address is required to create a user")
        email = self.normalize_email(email)
        if self.filter(email__iexact=email).exists():
            raise ValueError(f"a user with the e-mail address {email!r} already exists")
        user = self.model(email=email, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(
        self, email: str | None = None, password: str | None = None, **extra_fields: Any
    ) -> User:
        """Create a user; ``is_staff`` and ``is_superuser`` default to False.

        Args:
            email: the login; compared case-insensitively with existing users.
            password: hashed before saving; None gives an unusable password.
            **extra_fields: any other field of :class:`User`.

        Raises:
            ValueError: no e-mail, or a user with the same e-mail (any case) exists.
        """
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(
        self,
        email: str,
        password: str | None,
        first_name: str | None = None,
        last_name: str | None = None,
        **extra_fields: Any,
    ) -> User:
        """Create a superuser, also flagged ``is_super_admin``.

        Raises:
            ValueError: ``is_staff`` or ``is_superuser`` was passed as something other than True,
                or the e-mail is missing or taken.
        """
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        extra_fields.setdefault("is_super_admin", True)
        if extra_fields["is_staff"] is not True:
            raise ValueError("a superuser must have is_staff=True")
        if extra_fields["is_superuser"] is not True:
            raise ValueError("a superuser must have is_superuser=True")
        return self._create_user(
            email, password, first_name=first_name, last_name=last_name, **extra_fields
        )

    def get_by_natural_key(self, username: str | None) -> User:
        """Log in case-insensitively: ``A@x.com`` finds ``a@x.com``."""
        return self.get(email__iexact=username)


class User(ProtectedFieldsMixin, AbstractBaseUser, PermissionsMixin):
    """A platform user; the e-mail address is the login.

    ``user_balance`` (USD) and ``user_ixioo_balance`` (EAML tokens) change only through the ledger
    (``Credit``/``Debit``/``CreditIXIOO``/``DebitIXIOO``); :meth:`save` never writes them for an
    existing user, so saving a stale profile cannot overwrite a balance.
    """

    TIME_FORMATS = [("12H", "12 Hour"), ("24H", "24 Hour")]
    DATE_FORMATS = [("DMY", "Day-Month-Year"), ("MDY", "Month-Day-Year")]
    DATE_SEPARATORS = [("/", "Slash"), ("-", "Dash"), (".", "Dot")]
    DATETIME_SEPARATORS = [(" ", "Space"), ("T", "T separator")]
    DECIMAL_SEPARATORS = [(",", "Comma"), (".", "Dot")]

    email = models.EmailField(
        "email address", unique=True, help_text="Primary email address for authentication"
    )
    first_name = models.CharField(max_length=140, null=True, blank=True)
    last_name = models.CharField(max_length=140, null=True, blank=True)
    user_profile = models.TextField(
        null=True, blank=True, help_text="User profile description and preferences"
    )
    time_format = models.CharField(max_length=3, default="24H", choices=TIME_FORMATS)
    date_format = models.CharField(max_length=3, default="DMY", choices=DATE_FORMATS)
    date_separator = models.CharField(max_length=1, default="/", choices=DATE_SEPARATORS)
    datetime_separator = models.CharField(max_length=1, default=" ", choices=DATETIME_SEPARATORS)
    decimal_separator = models.CharField(max_length=1, default=",", choices=DECIMAL_SEPARATORS)
    coupons_activated_date = models.JSONField(default=dict, blank=True)
    is_super_admin = models.BooleanField(
        default=False, help_text="Super administrator with full system access"
    )
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    coupon_balance = M(
        default=ZERO, blank=True, validators=[MinValueValidator(ZERO)], help_text="Coupons"
    )
    user_balance = M(
        default=ZERO,
        blank=True,
        validators=[MinValueValidator(ZERO)],
        help_text="USD balance; changed only through Credit and Debit",
    )
    user_ixioo_balance = M(
        default=ZERO,
        blank=True,
        validators=[MinValueValidator(ZERO)],
        help_text="EAML token balance; changed only through CreditIXIOO and DebitIXIOO",
    )
    last_billing_time = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[UserManager] = UserManager()
    protected_fields = LEDGER_FIELDS

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        db_table = "user"
        swappable = "AUTH_USER_MODEL"
        base_manager_name = "objects"
        indexes = [models.Index(fields=["email"], name="user_email_idx")]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(user_balance__gte=0), name="user_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(user_ixioo_balance__gte=0),
                name="user_ixioo_balance_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(coupon_balance__gte=0), name="user_coupon_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.email or f"user {self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save, never writing the ledger-managed columns of a stored user.

        A new user must start with zero balances: money arrives through ``Credit`` entries. An
        unsaved instance whose primary key is already stored (``User(pk=5, ...).save()``) updates
        that user's other columns, as Django would, but leaves the balances alone.

        Raises:
            LedgerFieldProtected: a new user with money, or ``update_fields`` naming a changed
                ledger-managed column (a ``ValueError``).
        """
        update_fields = kwargs.get("update_fields")
        stored = not self._state.adding or (
            self.pk is not None
            and not kwargs.get("force_insert")
            and type(self)
            ._base_manager.using(kwargs.get("using") or self._state.db or "default")
            .filter(pk=self.pk)
            .exists()
        )
        if not stored:
            if _has_money(self):
                raise LedgerFieldProtected(
                    "a new user starts with zero balances; add money with "
                    "Credit.objects.increase() or CreditIXIOO.objects.increase()"
                )
        elif update_fields is None:
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name not in LEDGER_FIELDS
            ]
        else:
            keep, changed = self._split_update_fields(update_fields)
            if changed:
                raise ledger_fields_refused(changed, "User.save(update_fields=...)")
            if not keep:
                return
            kwargs["update_fields"] = keep
        super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        self.email = type(self).objects.normalize_email(self.email)

    @property
    def full_name(self) -> str:
        """First and last name separated by a space; ``""`` when both are empty."""
        return self.get_full_name()

    def get_full_name(self) -> str:
        """First and last name separated by a space; ``""`` when both are empty.

        EasyAutoML-Core's ``models/user.py`` returns ``""`` without names (callers test it for
        truth); use :meth:`get_short_name` or ``str(user)`` for a label that is never empty.
        """
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def get_short_name(self) -> str:
        """The first name, or the e-mail address."""
        return self.first_name or (self.email or "")

    def email_user(self, subject: str, message: str, from_email: str | None = None, **kwargs: Any):
        """Send an e-mail to this user with Django's mail backend."""
        send_mail(subject, message, from_email, [self.email], **kwargs)

    def get_user_teams(self) -> models.QuerySet[Team]:
        """The teams this user is a member of, by name."""
        from easyautoml_models.models.team import Team

        return Team.objects.filter(users=self).order_by("name", "pk")

    def create_team(self, team_name: str) -> Team:
        """Create a team administered by this user, its permission and the membership.

        Raises:
            ValueError: the name is empty, or this user already administers a team of that name.
        """
        from easyautoml_models.models.team import Team

        team_name = (team_name or "").strip()
        if not team_name:
            raise ValueError("a team needs a non-empty name")
        db = self._state.db or "default"
        with transaction.atomic(using=db):
            if Team.objects.using(db).filter(admin_user=self, name=team_name).exists():
                raise ValueError(f"user {self} already administers a team named {team_name!r}")
            team = Team.objects.using(db).create(name=team_name, admin_user=self)
            team.create_permission()
            team.add_user_to_team(self)
        return team

    @classmethod
    def get_super_admin(cls) -> User | None:
        """The super administrator, or None. Never creates a user.

        Looks for ``EASYAUTOML_SUPER_ADMIN_EMAIL`` (any case) first, then for the oldest user
        flagged ``is_super_admin``.
        """
        email = app_settings.SUPER_ADMIN_EMAIL
        user = cls.objects.filter(email__iexact=email).order_by("pk").first() if email else None
        return user or cls.objects.filter(is_super_admin=True).order_by("pk").first()
