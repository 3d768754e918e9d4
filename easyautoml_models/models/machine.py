"""Machine: a dataset, its column analysis, its configuration and its trained model."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction

from easyautoml_models.enums import to_column_types
from easyautoml_models.models._common import D, J
from easyautoml_models.models.nn import EncDecConfiguration, NNModel

__all__ = ["COLUMN_TYPE_FIELDS", "LOSS_FUNCTIONS", "OPTIMIZERS", "Machine"]

#: Choices of ``Machine.parameter_nn_loss``.
LOSS_FUNCTIONS = ["mse", "mae", "binary_crossentropy"]
#: Choices of ``Machine.parameter_nn_optimizer``.
OPTIMIZERS = ["adam", "sgd", "rmsprop"]
#: JSON fields mapping column names to ``DatasetColumnDataType`` members (loaded as enums).
COLUMN_TYPE_FIELDS = ("dfr_columns_type_user_df", "mdc_columns_data_type")

_DUNDER_NAME = re.compile(r"^__.*__$")


class Machine(models.Model):
    """A machine-learning dataset and model, owned by a user and optionally a team.

    The column-type dicts (``dfr_columns_type_user_df``, ``mdc_columns_data_type``) are loaded as
    :class:`~easyautoml_models.enums.DatasetColumnDataType` members where they name one, and
    stored by name.
    """

    # Identity
    timestamp = models.DateTimeField(auto_now_add=True)
    machine_original = models.ForeignKey(
        "self", on_delete=models.SET_NULL, related_name="OriginalChild", null=True, blank=True
    )
    machine_owner_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    machine_owner_team = models.ForeignKey(
        "easyautoml_models.Team", on_delete=models.SET_NULL, null=True, blank=True
    )
    machine_name = models.CharField(max_length=500)
    machine_description = models.TextField(blank=True)
    machine_level = models.IntegerField(default=1, choices=[(n, n) for n in range(1, 6)])

    # Marketplace
    machine_data_source_is_public = models.BooleanField(default=False)
    machine_data_source_sample_only_public = models.BooleanField(default=False)
    machine_api_solving_is_public = models.BooleanField(default=False)
    machine_machine_is_duplicatable = models.BooleanField(default=False)
    machine_data_source_price_usd = D(null=True, blank=True)
    machine_api_solving_price_usd = D(null=True, blank=True)
    machine_machine_copy_cost_usd = D(null=True, blank=True)
    machine_machine_copy_update_cost_usd = D(null=True, blank=True)
    machine_billing_cost_solving_usd = D(null=True, blank=True)
    machine_billing_cost_training_usd = D(null=True, blank=True)

    # Column configuration
    machine_columns_errors = J(default=dict, blank=True)
    machine_columns_warnings = J(default=dict, blank=True)
    dfr_columns_description_user_df = J(default=dict, blank=True)
    dfr_columns_type_user_df = J(default=dict, blank=True)
    dfr_columns_python_user_df = J(default=dict, blank=True)
    mdc_columns_name_input_user_df = J(default=dict, blank=True)
    mdc_columns_name_output_user_df = J(default=dict, blank=True)
    mdc_columns_name_input = J(default=dict, blank=True)
    mdc_columns_name_output = J(default=dict, blank=True)
    mdc_columns_data_type = J(default=dict, blank=True)
    mdc_columns_count_of_datatypes = J(default=dict, blank=True)
    mdc_columns_input_count_of_datatypes = J(default=dict, blank=True)
    mdc_columns_output_count_of_datatypes = J(default=dict, blank=True)
    mdc_columns_json_structure = J(default=dict, blank=True)
    mdc_columns_unique_values_count = J(default=dict, blank=True)
    mdc_columns_missing_percentage = J(default=dict, blank=True)
    mdc_columns_most_frequent_values_count = J(default=dict, blank=True)
    mdc_columns_values_mean = J(default=dict, blank=True)
    mdc_columns_values_std_dev = J(default=dict, blank=True)
    mdc_columns_values_skewness = J(default=dict, blank=True)
    mdc_columns_values_kurtosis = J(default=dict, blank=True)
    mdc_columns_values_min = J(default=dict, blank=True)
    mdc_columns_values_max = J(default=dict, blank=True)
    mdc_columns_values_quantile02 = J(default=dict, blank=True)
    mdc_columns_values_quantile03 = J(default=dict, blank=True)
    mdc_columns_values_quantile07 = J(default=dict, blank=True)
    mdc_columns_values_quantile08 = J(default=dict, blank=True)
    mdc_columns_values_sem = J(default=dict, blank=True)
    mdc_columns_values_median = J(default=dict, blank=True)
    mdc_columns_values_mode = J(default=dict, blank=True)
    mdc_columns_values_str_percent_uppercase = J(default=dict, blank=True)
    mdc_columns_values_str_percent_lowercase = J(default=dict, blank=True)
    mdc_columns_values_str_percent_digit = J(default=dict, blank=True)
    mdc_columns_values_str_percent_punctuation = J(default=dict, blank=True)
    mdc_columns_values_str_percent_operators = J(default=dict, blank=True)
    mdc_columns_values_str_percent_underscore = J(default=dict, blank=True)
    mdc_columns_values_str_percent_space = J(default=dict, blank=True)
    mdc_columns_values_str_language_en = J(default=dict, blank=True)
    mdc_columns_values_str_language_fr = J(default=dict, blank=True)
    mdc_columns_values_str_language_de = J(default=dict, blank=True)
    mdc_columns_values_str_language_it = J(default=dict, blank=True)
    mdc_columns_values_str_language_es = J(default=dict, blank=True)
    mdc_columns_values_str_language_pt = J(default=dict, blank=True)
    mdc_columns_values_str_language_others = J(default=dict, blank=True)
    mdc_columns_values_str_language_none = J(default=dict, blank=True)
    mdc_columns_total_count = models.IntegerField(null=True, blank=True)
    mdc_columns_input_count = models.IntegerField(null=True, blank=True)
    mdc_columns_output_count = models.IntegerField(null=True, blank=True)

    # Re-run flags
    machine_is_data_lines_training_count_limit_enabled = models.BooleanField(default=False)
    machine_data_lines_training_count_limit = models.IntegerField(null=True)
    machine_is_re_run_mdc = models.BooleanField(default=False)
    machine_is_re_run_ici = models.BooleanField(default=False)
    machine_is_re_run_fe = models.BooleanField(default=False)
    machine_is_re_run_enc_dec = models.BooleanField(default=False)
    machine_is_re_run_nn_config = models.BooleanField(default=False)
    machine_is_re_run_model = models.BooleanField(default=False)

    # Feature engineering
    fe_budget_total = D(null=True)
    fe_columns_fet = J(default=dict)
    fe_count_of_fet = J(default=dict)
    fe_columns_inputs_importance_evaluation = J(default=dict)
    fe_find_delay_sec = models.IntegerField(null=True)
    fe_columns_inputs_importance_find_delay_sec = models.IntegerField(null=True)

    # Encoder/decoder and neural network
    enc_dec_configuration = models.OneToOneField(
        EncDecConfiguration,
        on_delete=models.SET_NULL,
        related_name="machine_encdec_configuration",
        null=True,
    )
    enc_dec_columns_info_input_encode_count = models.IntegerField(null=True)
    enc_dec_columns_info_output_encode_count = models.IntegerField(null=True)
    parameter_nn_loss = models.CharField(
        max_length=100, null=True, choices=[(n, n) for n in LOSS_FUNCTIONS]
    )
    parameter_nn_loss_scaler = D(null=True)
    parameter_nn_optimizer = models.CharField(
        max_length=150, null=True, choices=[(n, n) for n in OPTIMIZERS]
    )
    parameter_nn_shape = J(null=True)
    parameter_nn_find_delay_sec = models.IntegerField(null=True)

    # Training
    training_nn_model = models.OneToOneField(
        NNModel, on_delete=models.SET_NULL, related_name="machine_nn_model", null=True
    )
    training_training_total_delay_sec = D(null=True)
    training_training_cell_delay_sec = D(null=True)
    training_date_time_machine_model = models.DateTimeField(null=True)
    training_training_epoch_count = models.IntegerField(null=True)
    training_training_batch_size = models.IntegerField(null=True)
    training_total_training_line_count = models.IntegerField(null=True)
    training_type_machine_hardware = models.TextField(null=True)
    log_work_message = J(null=True)
    log_work_status = J(null=True)
    training_eval_loss_sample_training = D(null=True)
    training_eval_loss_sample_training_noise = D(null=True)
    training_eval_loss_sample_evaluation = D(null=True)
    training_eval_loss_sample_evaluation_noise = D(null=True)
    training_eval_accuracy_sample_training = D(null=True)
    training_eval_accuracy_sample_training_noise = D(null=True)
    training_eval_accuracy_sample_evaluation = D(null=True)
    training_eval_accuracy_sample_evaluation_noise = D(null=True)
    training_eval_outputs_cols_loss_sample_evaluation = J(null=True)
    training_eval_outputs_cols_accuracy_sample_evaluation = J(null=True)

    class Meta:
        db_table = "machine"
        indexes = [
            models.Index(fields=["-timestamp"], name="machine_timestamp_idx"),
            models.Index(fields=["machine_owner_user"], name="machine_owner_user_idx"),
            models.Index(fields=["machine_owner_team"], name="machine_owner_team_idx"),
            # The ML code looks machines up by owner and name.
            models.Index(
                fields=["machine_owner_user", "machine_name"], name="machine_owner_name_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.machine_name} ({self.pk})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Validate the name, save the NN model and EncDec children first, then the machine.

        Nothing is mutated and restored: enums are written by name by the JSON encoder.

        Raises:
            ValidationError: empty name, or a ``__name__``-style name for a non-superuser owner.
        """
        self._validate_name()
        db = kwargs.get("using") or self._state.db or "default"
        with transaction.atomic(using=db):
            children: list[models.Model | None] = [
                self.training_nn_model,
                self.enc_dec_configuration,
            ]
            for child in children:
                if child is not None and (child._state.adding or child.__dict__.get("_dirty")):
                    child.save(using=db)
                    child.__dict__["_dirty"] = False
            # Re-assign so the foreign key columns pick up primary keys given just above.
            self.training_nn_model = self.training_nn_model
            self.enc_dec_configuration = self.enc_dec_configuration
            super().save(*args, **kwargs)
            while self._orphans:
                self._orphans.pop().delete(using=db)

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> Machine:
        """Load the column-type dicts as ``DatasetColumnDataType`` members."""
        instance = super().from_db(db, field_names, values)
        for name in COLUMN_TYPE_FIELDS:
            if name in instance.__dict__:
                instance.__dict__[name] = to_column_types(instance.__dict__[name])
        return instance

    def clean(self) -> None:
        super().clean()
        self._validate_name()

    def _validate_name(self) -> None:
        name = (self.machine_name or "").strip()
        if not name:
            raise ValidationError({"machine_name": "a machine needs a non-empty name"})
        if _DUNDER_NAME.match(name):
            owner = self.machine_owner_user if self.machine_owner_user_id else None
            if owner is None or not owner.is_superuser:
                raise ValidationError(
                    {
                        "machine_name": f"the name {name!r} (__name__ style) is reserved for "
                        "machines owned by a superuser"
                    }
                )

    @property
    def training_nn_model_extfield(self) -> bytes | None:
        """The trained network's bytes (None when there is none); settable and deletable.

        Setting stores the bytes in the machine's :class:`NNModel` (created if needed), written
        by the next :meth:`save`. Deleting unlinks it; the next :meth:`save` deletes the row.
        """
        model = self.training_nn_model
        if model is None or model.nn_model is None:
            return None
        return bytes(model.nn_model)

    @training_nn_model_extfield.setter
    def training_nn_model_extfield(self, value: bytes | None) -> None:
        if value is not None and not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"training_nn_model_extfield takes bytes, not {type(value).__name__}")
        if self.training_nn_model is None:
            self.training_nn_model = NNModel(nn_model=value)
        else:
            self.training_nn_model.nn_model = value
            self.training_nn_model.__dict__["_dirty"] = True

    @training_nn_model_extfield.deleter
    def training_nn_model_extfield(self) -> None:
        if self.training_nn_model is not None and self.training_nn_model.pk is not None:
            self._orphans.append(self.training_nn_model)
        self.training_nn_model = None

    @property
    def enc_dec_configuration_extfield(self) -> dict[str, Any] | None:
        """The encoder/decoder configuration dict (None when there is none); settable."""
        config = self.enc_dec_configuration
        return None if config is None else config.enc_dec_config

    @enc_dec_configuration_extfield.setter
    def enc_dec_configuration_extfield(self, value: dict[str, Any] | None) -> None:
        if value is not None and not isinstance(value, dict):
            raise TypeError(
                f"enc_dec_configuration_extfield takes a dict, not {type(value).__name__}"
            )
        if self.enc_dec_configuration is None:
            self.enc_dec_configuration = EncDecConfiguration(enc_dec_config=value or {})
        else:
            self.enc_dec_configuration.enc_dec_config = value or {}
            self.enc_dec_configuration.__dict__["_dirty"] = True

    @enc_dec_configuration_extfield.deleter
    def enc_dec_configuration_extfield(self) -> None:
        if self.enc_dec_configuration is not None and self.enc_dec_configuration.pk is not None:
            self._orphans.append(self.enc_dec_configuration)
        self.enc_dec_configuration = None

    @property
    def _orphans(self) -> list[models.Model]:
        return self.__dict__.setdefault("_orphan_children", [])

    def get_list_of_columns_name(self, *, inputs: bool = True, outputs: bool = True) -> list[str]:
        """Names of the input and/or output columns (from ``mdc_columns_name_input/output``)."""
        names: list[str] = []
        for wanted, value in (
            (inputs, self.mdc_columns_name_input),
            (outputs, self.mdc_columns_name_output),
        ):
            if wanted and value:
                names.extend(value if isinstance(value, list) else list(value))
        return names
