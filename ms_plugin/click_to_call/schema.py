"""The click-to-call request body: ``{srcNumber, destNumber, uid}`` (reference §4), JSON or form.

Only the shape is checked here; whether ``destNumber`` is a possible phone number (it needs the tenant's
region) and who the employee is are the service's business. Every value is refused, not cleaned, when it
carries CR, LF or NUL: the values end up (after validation) in AMI header lines, where a line break would
let the caller append an ``Action`` of their own (vochi-upstream.md §9: the replaced service pasted them
into a root shell command).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate, validates_schema

_LINE_BREAKERS = ("\r", "\n", "\0")
# srcNumber is an extension (MoySklad's or the PBX's); empty is allowed for a user without one, who is
# then found by login (uid). Whether MoySklad ever sends it empty is undocumented (reference §6.18).
SRC_NUMBER = validate.Regexp(r"(?:[0-9]{2,6})?\Z", error="must be an extension of 2 to 6 digits")
# A login, "user@account": one printable token. It is only compared with the employee directory.
UID = validate.Regexp(r"[^\s\x00-\x1f\x7f]{0,255}\Z", error="must be a login without spaces or control characters")


def _line_break_paths(value: Any, path: str, depth: int = 0) -> list[str]:
    if depth > 8:
        return []
    if isinstance(value, str):
        return [path] if any(ch in value for ch in _LINE_BREAKERS) else []
    if isinstance(value, Mapping):
        out: list[str] = []
        for key, item in value.items():
            name = str(key)
            if any(ch in name for ch in _LINE_BREAKERS):
                out.append(path or "_schema")
            out.extend(_line_break_paths(item, f"{path}.{name}" if path else name, depth + 1))
        return out
    if isinstance(value, list):
        return [p for index, item in enumerate(value[:100]) for p in _line_break_paths(item, f"{path}.{index}",
                                                                                        depth + 1)]
    return []


class ClickRequestSchema(Schema):
    """Unknown keys are ignored (MoySklad may add some); the three known ones are required strings."""

    class Meta:
        unknown = EXCLUDE

    srcNumber = fields.String(required=True, validate=SRC_NUMBER)
    destNumber = fields.String(required=True, validate=validate.Length(min=1, max=40))
    uid = fields.String(required=True, validate=UID)

    @pre_load
    def _no_line_breaks(self, data: Any, **_: Any) -> Any:
        # Anywhere in the body, known key or not: such a request is hostile or broken, never a click.
        if isinstance(data, Mapping):
            paths = _line_break_paths(data, "")
            if paths:
                raise ValidationError({p: ["must not contain CR, LF or NUL"] for p in paths})
        return data

    @validates_schema
    def _someone_clicked(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("srcNumber") and not data.get("uid"):
            raise ValidationError({"srcNumber": ["srcNumber or uid is required to find the employee"]})
