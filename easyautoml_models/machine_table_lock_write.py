"""EasyAutoML-Core's ``models/machine_table_lock_write.py`` path (``.models.infrastructure``)."""

from __future__ import annotations

from easyautoml_models.models.infrastructure import MachineTableLockWrite

__all__ = ["MachineTableLockWrite"]
