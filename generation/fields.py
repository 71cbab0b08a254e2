"""A model field for the engine's camera spec: JSON in the database, a ``CameraSpec`` in
Python, so the camera travels as one validated value from the form to the worker."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from generation.engine.camera import CameraSpec


def default_camera() -> CameraSpec:
    """A locked-off 35 mm at f/5.6, 180° shutter, 16:9: the camera panel's starting point."""
    return CameraSpec()


class CameraSpecEncoder(DjangoJSONEncoder):
    """Writes a CameraSpec as its dict (the admin and the database both serialise through it)."""

    def default(self, o: object) -> Any:
        if isinstance(o, CameraSpec):
            return o.to_dict()
        return super().default(o)


class CameraSpecField(models.JSONField):
    description = "Camera spec (JSON)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["encoder"] = CameraSpecEncoder
        kwargs.setdefault("default", default_camera)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("encoder", None)  # always CameraSpecEncoder
        return name, path, args, kwargs

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> CameraSpec | None:
        data = super().from_db_value(value, expression, connection)
        return None if data is None else CameraSpec.from_dict(data)

    def to_python(self, value: Any) -> CameraSpec | None:
        if value is None or isinstance(value, CameraSpec):
            return value
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValidationError(f"Camera: not valid JSON ({exc.msg}).") from exc
        try:
            return CameraSpec.from_dict(value)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValidationError(f"Camera: {exc}") from exc

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, CameraSpec):
            value = value.to_dict()
        return super().get_prep_value(value)

    def value_to_string(self, obj: models.Model) -> Any:
        value = self.value_from_object(obj)
        return value.to_dict() if isinstance(value, CameraSpec) else value
