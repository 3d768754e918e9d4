"""EasyAutoML-Core's ``models/consulting.py`` path: re-exports from ``.models.consulting``."""

from __future__ import annotations

from easyautoml_models.models.consulting import CATEGORIES, ConsultingRequest
from easyautoml_models.models.machine import Machine
from easyautoml_models.models.team import Team

__all__ = ["CATEGORIES", "ConsultingRequest", "get_machine_model", "get_team_model"]


def get_team_model() -> type[Team]:
    """The Team model."""
    return Team


def get_machine_model() -> type[Machine]:
    """The Machine model."""
    return Machine
