"""Request bodies of the enterprise admin API (``/api/enterprises/...``)."""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache
from typing import Any

import phonenumbers
from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from host_app.schemas.common import SINGLE_LINE, StrictBool

NUMBER_RE = re.compile(r"^[0-9A-Za-z_-]{1,32}\Z")
MASK = "***"  # what GET shows instead of a stored secret; PUT treats it as "keep"

# The PBX sends the token in a header: printable ASCII without spaces.
_TOKEN = validate.Regexp(r"^[!-~]{1,200}\Z", error="Use 1 to 200 printable ASCII characters, no spaces.")


def check_number(number: str) -> None:
    if not NUMBER_RE.match(number):
        raise ValidationError({"number": ["Use 1 to 32 of A-Z, a-z, 0-9, '_' and '-'."]})


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _timezone(value: str) -> None:
    # Checking membership (not just ZoneInfo(value)) refuses paths like "../x" and odd spellings.
    if value not in _zones():
        raise ValidationError("Not a known IANA time zone, e.g. Europe/Minsk.")


class _Region(fields.String):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip().upper()
        if text not in phonenumbers.SUPPORTED_REGIONS:
            raise ValidationError("Not an ISO region code phonenumbers knows, e.g. BY, RU, KZ.")
        return text


class _JsonObjectOrNull(fields.Field):
    """Type check only; the ``pbx`` object is validated by ``PbxConfigSchema`` after the stored
    secrets have been filled in (a round-trip of the masked GET body must not need the secret)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValidationError("Must be an object or null.")
        return dict(value)


class EnterpriseSchema(Schema):
    """``PUT /api/enterprises/<number>``: every field optional here; create requires name and token."""

    class Meta:
        unknown = RAISE

    name = fields.String(validate=[validate.Length(min=1, max=200), SINGLE_LINE])
    token = fields.String(validate=_TOKEN)
    # null clears; "" and "***" keep the stored value (so the masked GET body can be sent back).
    secret = fields.String(allow_none=True, validate=[validate.Length(max=200), SINGLE_LINE])
    active = StrictBool()
    timezone = fields.String(validate=_timezone)
    default_region = _Region()
    pbx = _JsonObjectOrNull(allow_none=True)

    @pre_load
    def _strip(self, data: Any, **_kwargs: Any) -> Any:
        if isinstance(data, dict):
            for key in ("name", "token", "timezone"):
                if isinstance(data.get(key), str):
                    data = {**data, key: data[key].strip()}
        return data


class PrimarySchema(Schema):
    class Meta:
        unknown = RAISE

    primary = fields.String(required=True, allow_none=True, validate=validate.Length(min=1, max=40))


class AdminTokenSchema(Schema):
    class Meta:
        unknown = RAISE

    label = fields.String(load_default=None, allow_none=True,
                          validate=[validate.Length(max=100), SINGLE_LINE])
