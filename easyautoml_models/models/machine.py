"""Machine: a dataset, its column analysis, its configuration and its trained model."""

from __future__ import annotations

import logging
import os
import re
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction

from easyautoml_models.enums import to_column_types
from easyautoml_models.exceptions import InvalidValue
from easyautoml_models.models._common import D, J
from easyautoml_models.models.nn import EncDecConfiguration, NNModel

if TYPE_CHECKING:
    import pandas

    from easyautoml_models.data_lines import DynamicModel

__all__ = ["COLUMN_TYPE_FIELDS", "LOSS_FUNCTIONS", "OPTIMIZERS", "Machine"]

_log = logging.getLogger(__name__)

#: Choices of ``Machine.parameter_nn_loss``: Keras loss names, as EasyAutoML-Core's
#: ``ML/NNConfiguration.py`` stores them (``SharedConstants.NNCONFIGURATION_LOSS_FUNCTION``).
LOSS_FUNCTIONS = ["mean_absolute_error", "mean_squared_error", "binary_crossentropy"]
#: Choices of ``Machine.parameter_nn_optimizer``
#: (``SharedConstants.NNCONFIGURATION_ALL_POSSIBLE_OPTIMIZER_FUNCTION``).
OPTIMIZERS = ["Adam", "SGD", "RMSprop", "Adadelta"]
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

    def __init__(
        self,
        *args: Any,
        file_path: str | bytes | os.PathLike[Any] | int | None = None,
        load_by_column_type: bool = True,
        **kwargs: Any,
    ) -> None:
        """Django's ``__init__``, plus EasyAutoML-Core's two keywords.

        Args:
            file_path: kept as ``self.file_path`` (the dataset file the ML code reads); a value
                that is not a path (str, bytes, ``os.PathLike``, file descriptor) is logged and
                ignored.
            load_by_column_type: turn the names in the column-type dicts into
                :func:`~easyautoml_models.enums.column_type_enum` members (the default).
        """
        super().__init__(*args, **kwargs)
        if file_path is not None and not isinstance(file_path, str | bytes | os.PathLike | int):
            _log.warning("Machine(file_path=%r): not a path, ignored", file_path)
            file_path = None
        self.file_path = file_path
        if load_by_column_type:
            for name in COLUMN_TYPE_FIELDS:
                if name in self.__dict__:
                    self.__dict__[name] = to_column_types(self.__dict__[name])

    def __str__(self) -> str:
        return f"{self.machine_name} ({self.pk})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Validate the name, save the NN model and EncDec children first, then the machine.

        Nothing is mutated and restored: enums are written by name by the JSON encoder. A falsy
        ``mdc_columns_data_type`` (None) is stored as ``{}``, as EasyAutoML-Core did.

        Raises:
            InvalidValue: (a ``ValidationError`` and a ``ValueError``) empty name, or a
                ``__name__``-style name for a non-superuser owner.
        """
        self._validate_name()
        if not self.mdc_columns_data_type:
            self.mdc_columns_data_type = {}
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

    def clean(self) -> None:
        super().clean()
        self._validate_name()

    def _validate_name(self) -> None:
        name = (self.machine_name or "").strip()
        if not name:
            raise InvalidValue({"machine_name": "a machine needs a non-empty name"})
        if _DUNDER_NAME.match(name):
            owner = self.machine_owner_user if self.machine_owner_user_id else None
            if owner is None or not owner.is_superuser:
                raise InvalidValue(
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

    # EasyAutoML-Core helpers ---------------------------------------------------------------

    def update_field_directly_by_sql(self, field_name: str) -> None:
        """Write this object's current value of one field, and nothing else, to the database.

        EasyAutoML-Core's ``ML/EncDec.py`` calls it to store a flag or an error dict without a
        full ``save()``. EasyAutoML-Core pasted the value into an ``UPDATE`` string; this is
        ``Machine.objects.filter(pk=...).update(field=value)``: the field's own conversion, a
        parameter, the right column name (also for foreign keys).

        Raises:
            ValueError: ``field_name`` is not a concrete field of Machine (EasyAutoML-Core:
                ``AssertionError``), or the machine is not saved yet.
        """
        field = next((f for f in self._meta.concrete_fields if f.name == field_name), None)
        if field is None or field.primary_key:
            raise ValueError(f"Machine has no field {field_name!r} that can be updated")
        if self.pk is None:
            raise ValueError("update_field_directly_by_sql() needs a saved machine")
        db = self._state.db or "default"
        value = getattr(self, field.attname)
        type(self)._base_manager.using(db).filter(pk=self.pk).update(**{field.attname: value})

    @staticmethod
    def get_machine_data_input_lines_list_predefined_columns() -> list[str]:
        """The columns every input data table has besides the dataset's: ``Line_ID`` and flags."""
        from easyautoml_models.data_lines import INPUT_PREDEFINED_COLUMNS

        return list(INPUT_PREDEFINED_COLUMNS)

    @staticmethod
    def get_machine_data_output_lines_list_predefined_columns() -> list[str]:
        """The columns every output data table has besides the dataset's: ``Line_ID``."""
        from easyautoml_models.data_lines import OUTPUT_PREDEFINED_COLUMNS

        return list(OUTPUT_PREDEFINED_COLUMNS)

    def get_machine_data_input_lines_list_columns(
        self, include_predefined: bool = False
    ) -> list[str]:
        """Input column names (truthy keys of ``mdc_columns_name_input_user_df``)."""
        names = _truthy_keys(self.mdc_columns_name_input_user_df)
        if include_predefined:
            return self.get_machine_data_input_lines_list_predefined_columns() + names
        return names

    def get_machine_data_output_lines_list_columns(
        self, include_predefined: bool = False
    ) -> list[str]:
        """Output column names (truthy keys of ``mdc_columns_name_output_user_df``)."""
        names = _truthy_keys(self.mdc_columns_name_output_user_df)
        if include_predefined:
            return self.get_machine_data_output_lines_list_predefined_columns() + names
        return names

    def get_pre_encoded_list_input_column(self) -> list[str]:
        """Pre-encoded input columns (truthy keys of ``mdc_columns_name_input``)."""
        return _truthy_keys(self.mdc_columns_name_input)

    def get_pre_encoded_list_output_column(self) -> list[str]:
        """Pre-encoded output columns (truthy keys of ``mdc_columns_name_output``)."""
        return _truthy_keys(self.mdc_columns_name_output)

    @property
    def get_user_df_list_names_input_column(self) -> list[str]:
        """The user dataset's input column names."""
        return self.get_machine_data_input_lines_list_columns()

    @property
    def get_user_df_list_names_output_column(self) -> list[str]:
        """The user dataset's output column names."""
        return self.get_machine_data_output_lines_list_columns()

    @property
    def get_user_df_list_all_column(self) -> list[str]:
        """Input then output column names of the user dataset."""
        return (
            self.get_machine_data_input_lines_list_columns()
            + self.get_machine_data_output_lines_list_columns()
        )

    def get_machine_info_by_field_name_and_column_name(
        self, field_name: str, column_name: str
    ) -> Any:
        """``getattr(machine, field_name)[column_name]``, or None when absent.

        A ``"=>LEN;"`` prefix on ``field_name`` returns the length of the value instead.
        """
        want_len = field_name.startswith("=>LEN;")
        values = getattr(self, field_name.removeprefix("=>LEN;"), None)
        value = values.get(column_name) if isinstance(values, dict) else None
        if want_len:
            return None if value is None else len(value)
        return value

    # Per-machine data tables ---------------------------------------------------------------

    def get_machine_data_input_lines_model(self) -> type[DynamicModel] | None:
        """The model class of table ``Machine_<id>_DataInputLines`` (see
        :mod:`easyautoml_models.data_lines`); None for an unsaved machine."""
        from easyautoml_models.data_lines import input_lines_model

        return input_lines_model(self) if self.pk is not None else None

    def get_machine_data_output_lines_model(self) -> type[DynamicModel] | None:
        """The model class of table ``Machine_<id>_DataOutputLines``; None when unsaved."""
        from easyautoml_models.data_lines import output_lines_model

        return output_lines_model(self) if self.pk is not None else None

    def read_data_lines_from_db(
        self,
        input_columns: list[str] | None = None,
        output_columns: list[str] | None = None,
        where_clause_dict: Any = None,
        sort_by: str | None = None,
        rows_count_limit: int | None = None,
        is_random: bool = False,
    ) -> pandas.DataFrame:
        """Data lines as a DataFrame: :func:`easyautoml_models.data_lines.read_lines`."""
        from easyautoml_models.data_lines import read_lines

        return read_lines(
            self,
            input_columns=input_columns,
            output_columns=output_columns,
            where=where_clause_dict,
            sort_by=sort_by,
            rows_count_limit=rows_count_limit,
            is_random=is_random,
        )


def _truthy_keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [str(key) for key, flag in value.items() if flag]
    if isinstance(value, list | tuple):
        return [str(key) for key in value]
    return []
