"""Forms of the admin: user creation/change with e-mail login, and the balance form."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db import models

from easyautoml_models.models import Credit, CreditIXIOO, Debit, DebitIXIOO, User
from easyautoml_models.models.billing import largest_amount, to_amount

__all__ = [
    "CURRENCIES",
    "BalanceChangeForm",
    "Currency",
    "EmailUserChangeForm",
    "EmailUserCreationForm",
]


@dataclass(frozen=True)
class Currency:
    """A balance of the user and the two ledgers that move it."""

    key: str
    label: str
    balance_field: str
    credit_model: type[models.Model]
    debit_model: type[models.Model]

    def ledger(self, direction: str) -> type[models.Model]:
        """The ledger model of ``direction`` (``"credit"`` or ``"debit"``)."""
        return self.credit_model if direction == "credit" else self.debit_model

    def permission(self, direction: str) -> str:
        """The permission a staff user needs to move money this way: ``add`` on the ledger."""
        opts = self.ledger(direction)._meta
        return f"{opts.app_label}.add_{opts.model_name}"


#: The two balances an operator can credit or debit, by form value.
CURRENCIES: dict[str, Currency] = {
    "usd": Currency("usd", "USD", "user_balance", Credit, Debit),
    "eaml": Currency("eaml", "EAML tokens", "user_ixioo_balance", CreditIXIOO, DebitIXIOO),
}


_AMOUNT_FIELD: Any = Credit._meta.get_field("amount")


class EmailUserCreationForm(AdminUserCreationForm):
    """The admin's "add user" form for a user model whose login is the e-mail address."""

    class Meta:
        model = User
        fields = ("email",)


class EmailUserChangeForm(UserChangeForm):
    """The admin's "change user" form (the password is changed on its own page)."""

    class Meta:
        model = User
        fields = "__all__"


class BalanceChangeForm(forms.Form):
    """Amount, balance and reason of a manual credit or debit.

    The amount is checked with the ledger's own rule (:func:`to_amount`): positive, finite, at
    most the ledger's decimal places and digits. Whether a debit is covered is decided by the
    ledger manager when the money moves, not here, so there is one source of truth.
    """

    currency = forms.ChoiceField(
        label="Balance",
        choices=[(key, currency.label) for key, currency in CURRENCIES.items()],
        initial="usd",
        widget=forms.RadioSelect,
    )
    amount = forms.DecimalField(
        label="Amount",
        min_value=Decimal(0),
        # The ledger's own precision: more digits or places are refused before to_amount().
        max_digits=_AMOUNT_FIELD.max_digits,
        decimal_places=_AMOUNT_FIELD.decimal_places,
        help_text="A positive amount in the chosen currency.",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        strip=True,
        help_text="Recorded in the user's history with the ledger entry.",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )

    def __init__(
        self,
        *args: Any,
        allowed: list[str] | None = None,
        user: User | None = None,
        direction: str = "credit",
        **kwargs: Any,
    ) -> None:
        """``allowed``: the currency keys the operator may use (default all); ``user`` and
        ``direction``: whose balance moves which way, to refuse a credit the column cannot
        hold."""
        super().__init__(*args, **kwargs)
        self.user, self.direction = user, direction
        field = self.fields["currency"]
        assert isinstance(field, forms.ChoiceField)
        keys = list(CURRENCIES) if allowed is None else allowed
        field.choices = [(key, CURRENCIES[key].label) for key in keys]
        if len(keys) == 1:
            field.initial = keys[0]

    def clean_amount(self) -> Decimal:
        try:
            return to_amount(str(self.cleaned_data["amount"]))
        except ValueError as exc:
            raise forms.ValidationError(str(exc).capitalize(), code="invalid_amount") from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        amount, key = data.get("amount"), data.get("currency")
        if self.user is None or self.direction != "credit" or amount is None or key is None:
            return data
        balance = getattr(self.user, CURRENCIES[key].balance_field) or Decimal(0)
        if balance + amount > largest_amount():
            self.add_error(
                "amount",
                forms.ValidationError(
                    f"Crediting {amount:f} would take the balance ({balance:f}) past the largest "
                    f"value the ledger holds ({largest_amount()}).",
                    code="balance_too_large",
                ),
            )
        return data

    @property
    def chosen(self) -> Currency:
        """The chosen currency (after validation)."""
        return CURRENCIES[self.cleaned_data["currency"]]
