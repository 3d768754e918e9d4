"""The Importer registry: one Importer per model."""

from __future__ import annotations

from typing import Any

import pytest

from django_gyro import (
    DuplicateImporter,
    Importer,
    registry,
)


def test_second_importer_for_a_model_is_an_error(fresh: dict[str, Any]) -> None:
    Org = fresh["Org"]

    class OrgImporter(Importer):
        model = Org

    with pytest.raises(DuplicateImporter, match=r"already has Importer '.*OrgImporter'"):

        class OtherOrgImporter(Importer):
            model = Org

    assert registry.get_importer(Org) is OrgImporter


def test_same_class_statement_run_twice_replaces(fresh: dict[str, Any]) -> None:
    # A notebook cell executed twice defines a new class with the same module and name.
    Org = fresh["Org"]
    first = None
    for _ in range(2):

        class OrgImporter(Importer):
            model = Org

        first = first or OrgImporter
    assert registry.get_importer(Org) is OrgImporter
    assert OrgImporter is not first
