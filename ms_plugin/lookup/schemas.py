"""Request validation for the lookup routes (422 ``validation_error`` with field errors)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate

from host_app.integrations.contract import ApiError


class PhoneQuerySchema(Schema):
    """``{enterprise_number, phone}``; other keys (the seed's callers send more) are ignored.

    ``enterprise_number`` is required: the replaced service fell back to "the first enterprise with
    MoySklad enabled" without it and answered with another tenant's data.
    """

    class Meta:
        unknown = EXCLUDE

    enterprise_number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    phone = fields.String(required=True, validate=validate.Length(min=1, max=64))

    @pre_load
    def _numbers_as_text(self, data: Any, **_: Any) -> Any:
        # Some PBX scripts send the number (or the enterprise) as a JSON number.
        if isinstance(data, Mapping):
            data = dict(data)
            for key in ("enterprise_number", "phone"):
                value = data.get(key)
                if isinstance(value, int) and not isinstance(value, bool):
                    data[key] = str(value)
                elif isinstance(value, str):
                    data[key] = value.strip()
        return data


def load_phone_query(data: Mapping[str, Any]) -> tuple[str, str]:
    try:
        loaded = PhoneQuerySchema().load(dict(data))
    except ValidationError as err:
        raise ApiError("invalid request", code="validation_error", status=422,
                       details=err.normalized_messages()) from None
    return loaded["enterprise_number"], loaded["phone"]
