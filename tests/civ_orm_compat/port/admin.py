"""An admin-style listing: columns, search, filters, pagination, get and delete."""

from __future__ import annotations

import math
from typing import Any

from civ_orm_compat.connection import db


class ModelAdmin:
    list_display: tuple[str, ...] = ()
    search_fields: tuple[str, ...] = ()
    list_filter: tuple[str, ...] = ()
    ordering = "id"
    per_page = 20

    def __init__(self, model: Any) -> None:
        self.model = model
        self.pk_field = next(name for name, f in model._fields.items() if f.primary_key)

    async def get_list(
        self, search: str | None = None, filters: dict[str, Any] | None = None, page: int = 1
    ) -> dict[str, Any]:
        qb = self.model.query().select(*(self.list_display or ("*",)))
        for name, value in (filters or {}).items():
            if name not in self.list_filter:
                raise ValueError(f"cannot filter on {name!r}")
            qb.where(name, "=", value)
        qb.order_by(self.ordering)
        rows = await db.fetch_all(*_flatten(qb.build()))
        if search:
            needle = search.lower()
            rows = [
                row
                for row in rows
                if any(needle in str(row.get(f) or "").lower() for f in self.search_fields)
            ]
        total = len(rows)
        start = (page - 1) * self.per_page
        return {
            "results": rows[start : start + self.per_page],
            "total": total,
            "page": page,
            "pages": max(1, math.ceil(total / self.per_page)),
        }

    async def get_object(self, pk: Any) -> Any:
        return await self.model.get(**{self.pk_field: pk})

    async def delete_object(self, pk: Any) -> bool:
        obj = await self.get_object(pk)
        if obj is None:
            return False
        await obj.delete()
        return True

    def form_fields(self) -> list[dict[str, Any]]:
        return [
            {"name": name, "required": not field.null and not field.primary_key}
            for name, field in self.model._fields.items()
        ]


def _flatten(built: tuple[str, list[Any]]) -> list[Any]:
    sql, params = built
    return [sql, *params]
