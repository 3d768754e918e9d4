"""EasyAutoML-Core's ``models/user.py`` path: re-exports; the code is in ``.models.user``."""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from easyautoml_models.conf import app_settings
from easyautoml_models.models.logger import EasyAutoMLLogger
from easyautoml_models.models.team import Team
from easyautoml_models.models.user import User, UserManager

__all__ = [
    "ALLAUTH_AVAILABLE",
    "REST_FRAMEWORK_AVAILABLE",
    "SUPER_ADMIN_EASYAUTOML_EMAIL",
    "User",
    "UserManager",
    "_logger",
    "get_logger",
    "get_team_model",
]

ALLAUTH_AVAILABLE = find_spec("allauth") is not None
REST_FRAMEWORK_AVAILABLE = find_spec("rest_framework") is not None
#: ``EASYAUTOML_SUPER_ADMIN_EMAIL`` when this module was imported.
SUPER_ADMIN_EASYAUTOML_EMAIL: str = app_settings.SUPER_ADMIN_EMAIL


def get_team_model() -> type[Team]:
    """The Team model."""
    return Team


def get_logger() -> Any:
    """A new :class:`~easyautoml_models.models.EasyAutoMLLogger`."""
    return EasyAutoMLLogger()


_logger = get_logger()
