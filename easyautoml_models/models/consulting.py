"""Consulting requests: a user asks for help on a machine; a consultant takes the contract."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from easyautoml_models.fields import SizedBinaryField
from easyautoml_models.models._common import at_most_one_true

__all__ = ["CATEGORIES", "CONSULTING_STATUS_FLAGS", "ConsultingRequest"]

#: Categories of a consulting request (verbatim from the original).
CATEGORIES = [
    ("1", "Data Engineering"),
    ("2", "Machine performance"),
    ("3", "API Integration"),
    ("4", "Other"),
]

#: Readable status -> its flag, in the life-cycle order; at most one flag is true (a CHECK).
CONSULTING_STATUS_FLAGS = {
    "request_open": "is_status_request_open",
    "waiting_consultant_approval": "is_status_waiting_consultant_approval",
    "contract": "is_status_contract",
    "contract_finished": "is_status_contract_finished",
    "contract_failed": "is_status_contract_failed",
    "contract_cancel": "is_status_contract_cancel",
}


class ConsultingRequest(models.Model):
    """A request for consulting on a machine, and the contract that may follow.

    The six original status flags stay; the database allows at most one of them to be true, and
    :attr:`status` names it.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True)
    team = models.ForeignKey("easyautoml_models.Team", on_delete=models.CASCADE, null=True)
    category = models.CharField(max_length=1, choices=CATEGORIES, null=True, blank=True)
    description = models.TextField(blank=True)
    file = SizedBinaryField(size_class=3, null=True, blank=True)
    uploaded_file = models.FileField(upload_to="consulting", null=True, blank=True)
    machine = models.ForeignKey(
        "easyautoml_models.Machine", on_delete=models.CASCADE, null=True, blank=True
    )
    is_status_request_open = models.BooleanField(null=True, blank=True)
    is_status_waiting_consultant_approval = models.BooleanField(null=True, blank=True)
    is_status_contract_finished = models.BooleanField(null=True, blank=True)
    is_status_contract = models.BooleanField(null=True, blank=True)
    is_status_contract_failed = models.BooleanField(null=True, blank=True)
    is_status_contract_cancel = models.BooleanField(null=True, blank=True)
    waiting_consultant_approval_date_time = models.DateTimeField(null=True, blank=True)
    contract_start_date_time = models.DateTimeField(null=True, blank=True)
    contract_end_date_time = models.DateTimeField(null=True, blank=True)
    consultant_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        related_name="Consultant_User",
        null=True,
    )
    amount_usd = models.IntegerField(null=True)
    budget_estimation = models.FloatField(null=True)
    delay_days = models.IntegerField(null=True)
    date_time_creation = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "ConsultingRequest"
        indexes = [
            models.Index(fields=["user", "date_time_creation"], name="consulting_user_dt_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=at_most_one_true(*CONSULTING_STATUS_FLAGS.values()),
                name="consulting_one_status",
            )
        ]

    def __str__(self) -> str:
        return f"consulting request {self.pk} ({self.get_category_display()}, {self.status})"

    @property
    def status(self) -> str:
        """The key of :data:`CONSULTING_STATUS_FLAGS` whose flag is true, or ``""``."""
        return next(
            (name for name, flag in CONSULTING_STATUS_FLAGS.items() if getattr(self, flag)), ""
        )
