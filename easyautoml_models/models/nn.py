"""Blobs and configurations a machine owns one of: the trained network and its encoder."""

from __future__ import annotations

from django.db import models

from easyautoml_models.models._common import J

__all__ = ["EncDecConfiguration", "NNModel"]


class NNModel(models.Model):
    """A trained neural network, serialized (up to 750 MB)."""

    nn_model = models.BinaryField(null=True, blank=True, max_length=750000000)

    class Meta:
        db_table = "machine_nnmodel"
        verbose_name = "NN model"

    def __str__(self) -> str:
        size = len(self.nn_model) if self.nn_model is not None else 0
        return f"NN model {self.pk} ({size} bytes)"


class EncDecConfiguration(models.Model):
    """The encoding/decoding configuration of a machine's data."""

    enc_dec_config = J(default=dict, blank=True)

    class Meta:
        db_table = "machine_encdecconfiguration"
        verbose_name = "encoder/decoder configuration"

    def __str__(self) -> str:
        return f"EncDec configuration {self.pk}"
