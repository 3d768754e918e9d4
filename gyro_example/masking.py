"""The example's Importers with the customers' personal columns masked.

``gyro_example.importers`` stays as the seed writes it (unmasked), so existing jobs files keep
working without a salt. :func:`masked_importers` declares the same Importers in an isolated
registry with mask rules on ``Customer`` (the tests, the benchmark and the README use it)::

    with masked_importers():
        DataSlicer.run(source=..., target=..., jobs=build_jobs(), mask_salt="...")
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django_gyro import Importer, mask, registry
from gyro_example import importers

__all__ = ["CUSTOMER_RULES", "masked_importers"]


#: The four masked Customer columns of the example (rules are stateless, so shared).
CUSTOMER_RULES: dict[str, Any] = {
    "email": mask.email(),
    "first_name": mask.first_name(),
    "last_name": mask.last_name(),
    "phone": mask.phone(),
}


@contextmanager
def masked_importers(**customer_columns: Any) -> Iterator[None]:
    """The example's Importers, Customer masked with ``customer_columns`` (default:
    :data:`CUSTOMER_RULES`), registered in an isolated registry for the block."""
    rules = customer_columns or CUSTOMER_RULES
    originals = [getattr(importers, name) for name in importers.__all__]
    with registry.isolated():
        for original in originals:
            columns = dict(original.columns)
            if original.model.__name__ == "Customer":
                columns.update(rules)
            type(
                original.__name__,
                (Importer,),
                {
                    "model": original.model,
                    "Columns": type("Columns", (), columns),
                    "__module__": __name__,
                    "__qualname__": f"masked.{original.__name__}",
                },
            )
        yield
