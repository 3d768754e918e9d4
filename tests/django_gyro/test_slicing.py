"""limit_per and deterministic slices."""

from __future__ import annotations

from typing import Any

import pytest

from django_gyro import (
    limit_per,
)


def test_limit_per_rejects_bad_arguments(fresh: dict[str, Any]) -> None:
    Member = fresh["Member"]
    with pytest.raises(ValueError, match="positive integer"):
        limit_per(Member.objects.all(), "team", 0)
    with pytest.raises(ValueError, match="has no field 'squad'"):
        limit_per(Member.objects.all(), "squad", 3)
    with pytest.raises(TypeError, match="needs a QuerySet"):
        limit_per([], "team", 3)  # type: ignore[arg-type]
