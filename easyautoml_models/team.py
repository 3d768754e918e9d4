"""EasyAutoML-Core's ``models/team.py``: a re-export of ``.models.team``."""

from __future__ import annotations

from easyautoml_models.models.team import Team

__all__ = ["Team"]
