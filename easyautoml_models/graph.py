"""EasyAutoML-Core's ``models/graph.py``: a re-export of ``.models.graph``."""

from __future__ import annotations

from easyautoml_models.models.graph import DATETIME_COLUMNS, FLOAT_COLUMNS, GRAPH_TYPES, Graph

__all__ = ["DATETIME_COLUMNS", "FLOAT_COLUMNS", "GRAPH_TYPES", "Graph"]
