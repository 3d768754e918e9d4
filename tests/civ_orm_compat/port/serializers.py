"""A serializer in the style of the original's ``api/serializers.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Any


class ModelSerializer:
    model: Any = None
    exclude: tuple[str, ...] = ()
    read_only: tuple[str, ...] = ("id",)

    def to_dict(self, instance: Any) -> dict[str, Any]:
        if hasattr(instance, "_fields"):
            names = list(instance._fields)
        else:
            names = [k for k in instance.__dict__ if not k.startswith("_")]
        out = {}
        for name in names:
            if name in self.exclude:
                continue
            value = getattr(instance, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out

    def many(self, instances: list[Any]) -> list[dict[str, Any]]:
        return [self.to_dict(instance) for instance in instances]

    async def create(self, data: dict[str, Any]) -> Any:
        values = {k: v for k, v in data.items() if k not in self.read_only}
        instance = self.model(**values)
        await instance.save()
        return instance

    async def update(self, instance: Any, data: dict[str, Any]) -> Any:
        for name, value in data.items():
            if name in instance._fields and name not in self.read_only:
                setattr(instance, name, value)
        await instance.save()
        return instance
