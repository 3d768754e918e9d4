"""EasyAutoML-Core's ``models/dynamic_model.py``: re-exports of ``.data_lines``."""

from __future__ import annotations

from typing import NoReturn

from easyautoml_models.data_lines import DynamicModel, create_dynamic_model, create_model
from easyautoml_models.models.logger import EasyAutoMLLogger

__all__ = ["DynamicModel", "_get_alchemy_engine", "create_dynamic_model", "create_model", "logger"]

logger = EasyAutoMLLogger()


def _get_alchemy_engine() -> NoReturn:
    """EasyAutoML-Core's SQLAlchemy engine for ``DataFrame.to_sql``: not used any more.

    Raises:
        NotImplementedError: always; ``append_dataframe()`` writes through Django's connection.
    """
    raise NotImplementedError(
        "easyautoml_models does not use SQLAlchemy: append_dataframe() writes through Django's "
        "own connection (COPY on PostgreSQL)"
    )
