"""Importer declarations: what the metaclass collects and rejects."""

from __future__ import annotations

from typing import Any

import pytest

from django_gyro import (
    Importer,
    registry,
)
from django_gyro.checks import check_importers


def test_importer_collects_columns_and_registers(fresh: dict[str, Any]) -> None:
    Org, Team = fresh["Org"], fresh["Team"]

    class OrgImporter(Importer):
        model = Org

    class TeamImporter(Importer):
        model = Team

        class Columns:
            org = Org
            parent = Team

    assert registry.get_importer(Team) is TeamImporter
    assert TeamImporter.columns == {"org": Org, "parent": Team}
    assert TeamImporter.get_file_name() == "gyro_team.csv"
    assert OrgImporter.columns == {}
    assert registry.registered() == (OrgImporter, TeamImporter)
    assert check_importers() == []


def test_missing_or_wrong_model_is_a_type_error(fresh: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match="must set `model = "):

        class NoModel(Importer):
            pass

    with pytest.raises(TypeError, match="not a Django model class"):

        class NotAModel(Importer):
            model = dict  # type: ignore[assignment]

    assert registry.registered() == ()
