"""Gyro's settings (GYRO_*)."""

from __future__ import annotations

from typing import Any

import pytest


def test_settings_are_read_live(settings: Any) -> None:
    from django_gyro.conf import settings as gyro_settings

    assert gyro_settings.CLOSURE_EXAMPLES == 5
    settings.GYRO_CLOSURE_EXAMPLES = 2
    assert gyro_settings.CLOSURE_EXAMPLES == 2
    with pytest.raises(AttributeError, match="unknown Django Gyro setting"):
        _ = gyro_settings.NOPE
