"""Request schemas of the admin API (bodies and query strings). Errors become 422 with field details."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

SINGLE_LINE = validate.Regexp(r"^[^\x00-\x1f\x7f]*\Z", error="Одна строка без управляющих символов.")
EXTENSION = validate.Regexp(r"^[0-9]{2,6}$", error="Добавочный: от 2 до 6 цифр.")


class StrictBool(fields.Field):
    """Only JSON ``true``/``false`` (marshmallow's Boolean also takes "yes", 1..., which hides typos)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Нужно true или false.")
        return value


class FlagArg(fields.Field):
    """A query flag: ``1``/``true``/``yes`` or ``0``/``false``/``no``/empty."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("", "0", "false", "no", "off"):
            return False
        raise ValidationError("Нужно 1 или 0.")


class ConnectionTestSchema(Schema):
    """Unsaved credentials to try; empty or missing values mean "use the saved ones"."""

    class Meta:
        unknown = RAISE

    integration_code = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=255))
    login = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=255), SINGLE_LINE])
    password = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=255))
    api_token = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=255))


class MappingEditSchema(Schema):
    class Meta:
        unknown = RAISE

    mapping = fields.Raw(required=True)  # checked entry by entry (per-extension errors)
    replace = StrictBool(load_default=False)


class TestCallSchema(Schema):
    __test__ = False

    class Meta:
        unknown = RAISE

    extension = fields.String(required=True, validate=EXTENSION)


class ResendSchema(Schema):
    class Meta:
        unknown = RAISE

    call_id = fields.String(required=True, validate=[validate.Length(min=1, max=128), SINGLE_LINE])


class JournalQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE  # the page passes its own query through (enterprise_number...)

    phone = fields.String(load_default=None, validate=[validate.Length(max=64), SINGLE_LINE])
    call_id = fields.String(load_default=None, validate=[validate.Length(max=128), SINGLE_LINE])
    event_type = fields.String(load_default=None, validate=validate.Regexp(r"^[A-Za-z0-9_.:*-]{1,64}$",
                                                                            error="Латиница, цифры и . _ : - *"))
    status = fields.String(load_default=None, validate=validate.OneOf(("success", "error", "skipped")))
    # ISO 8601; a time without an offset is read as UTC.
    since = fields.AwareDateTime(load_default=None, format="iso", default_timezone=dt.timezone.utc)
    until = fields.AwareDateTime(load_default=None, format="iso", default_timezone=dt.timezone.utc)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    before_id = fields.Integer(load_default=None, validate=validate.Range(min=1))


def query_args(schema: Schema, args: Any) -> dict[str, Any]:
    """Query-string args with empty values dropped (an empty form field means "no filter")."""
    return dict(schema.load({k: v for k, v in args.items() if v != ""}))


class StatsQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    window = fields.String(load_default="1h", validate=validate.OneOf(("1h", "24h")))


class RefreshQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    refresh = FlagArg(load_default=False)
