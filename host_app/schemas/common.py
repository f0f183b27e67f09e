"""Small field types shared by the host's request schemas."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

SINGLE_LINE = validate.Regexp(r"^[^\x00-\x1f\x7f]*\Z", error="Must be one line without control characters.")


class StrictBool(fields.Field):
    """Only JSON ``true``/``false``: marshmallow's Boolean also takes "yes", 1, "0"…, which hides typos."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


class StrictInt(fields.Field):
    """An integer that is not a bool and not a string."""

    def __init__(self, *, minimum: int, maximum: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minimum = minimum
        self.maximum = maximum

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("Must be an integer.")
        if not self.minimum <= value <= self.maximum:
            raise ValidationError(f"Must be from {self.minimum} to {self.maximum}.")
        return value
