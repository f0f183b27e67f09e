"""The Smart Redirect section ``integrations_config.smart`` (contract §8): validation and normal form.

Two shapes exist. Ours: ``{primary, mode, budget_ms, name_parts, dialplan_template, extension_ids,
lines: {"<trunk>": {name, shop, enabled, name_parts?}}}``. The replaced service's (still stored for
migrated tenants, contract §11): ``lines`` keyed ``gsm:<id>`` / ``sip:<name>`` with ``do_routing``,
``algorithm``, ``send_line_name|send_shop_name|send_customer_name`` and ``*_order`` per line. Both are
read; ``normalise_section`` turns either into ours, leniently (a stored section never breaks a call),
while ``SmartSectionSchema`` validates a PUT strictly (422 with field errors).
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Mapping
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from host_app.schemas.common import SINGLE_LINE, StrictBool, StrictInt

log = logging.getLogger(__name__)

PARTS = ("line", "shop", "customer")
MODES = ("off", "name-only", "routing+name")
DEFAULT_TEMPLATE = "mngr{extension}_{trunk}_1"
TEMPLATE_FIELDS = frozenset({"extension", "trunk", "user_id"})
# An Asterisk context name (AST_MAX_CONTEXT is 80 with the NUL): what the dialplan may Goto.
CONTEXT_RE = re.compile(r"^[A-Za-z0-9_-]{1,79}\Z")
_LITERAL_RE = re.compile(r"^[A-Za-z0-9_-]*\Z")
_TRUNK_RE = re.compile(r"^(?:gsm:|sip:)?[0-9A-Za-z_.@+-]{1,64}\Z")
_ID_RE = re.compile(r"^[0-9A-Za-z_-]{1,32}\Z")
_UPSTREAM_PARTS = (("line", "send_line_name", "line_name_order"),
                   ("shop", "send_shop_name", "shop_name_order"),
                   ("customer", "send_customer_name", "customer_name_order"))
_UPSTREAM_ALGORITHMS = ("retailcrm", "uon", "ms", "bitrix24", "first_call", "last_call")


def default_section() -> dict[str, Any]:
    # mode "routing+name": the replaced service's default, so migrated sections behave as before.
    return {"primary": None, "mode": "routing+name", "budget_ms": None, "name_parts": list(PARTS),
            "dialplan_template": DEFAULT_TEMPLATE, "extension_ids": {}, "lines": {}}


def check_template(value: str) -> None:
    """Only ``{extension}``, ``{trunk}``, ``{user_id}``; no format spec, conversion or attribute access
    (``{extension.__class__}``), and literal text that keeps the result a valid context name."""
    try:
        parsed = list(string.Formatter().parse(value))
    except ValueError:
        raise ValidationError("Not a valid template (unbalanced braces).") from None
    used: set[str] = set()
    for literal, name, spec, conversion in parsed:
        if not _LITERAL_RE.match(literal):
            raise ValidationError("Text outside the placeholders may use only A-Z, a-z, 0-9, '_' and '-'.")
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            raise ValidationError(f"Unknown placeholder {{{name}}}: use {{extension}}, {{trunk}}, {{user_id}}.")
        if spec or conversion:
            raise ValidationError("Placeholders take no format spec or conversion.")
        used.add(name)
    if not used & {"extension", "user_id"}:
        raise ValidationError("The template must use {extension} or {user_id}.")


def line_key(key: str) -> str:
    """``gsm:0001363`` and ``sip:trunk1`` (upstream) are the trunks ``0001363`` and ``trunk1``."""
    return key[4:] if key.startswith(("gsm:", "sip:")) else key


def _parts(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(p in PARTS for p in value) and len(set(value)) == len(value):
        return list(value)
    return None


def normalise_line(raw: Mapping[str, Any]) -> dict[str, Any]:
    line: dict[str, Any] = {
        "name": raw["name"] if isinstance(raw.get("name"), str) and raw["name"] else None,
        "shop": raw["shop"] if isinstance(raw.get("shop"), str) and raw["shop"] else None,
        "enabled": raw.get("enabled") is True,
    }
    if "do_routing" in raw:  # upstream routed only when the line had both flags
        line["enabled"] = line["enabled"] and raw.get("do_routing") is True
    if any(flag in raw for _part, flag, _order in _UPSTREAM_PARTS):
        chosen = [(_order_of(raw.get(order)), index, part)
                  for index, (part, flag, order) in enumerate(_UPSTREAM_PARTS) if raw.get(flag) is True]
        line["name_parts"] = [part for _o, _i, part in sorted(chosen)]
    elif _parts(raw.get("name_parts")) is not None:
        line["name_parts"] = _parts(raw.get("name_parts"))
    return line


def _order_of(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 99


def normalise_section(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """The stored section in our form, with defaults; invalid stored values fall back to defaults."""
    out = default_section()
    if not isinstance(raw, Mapping):
        return out
    if isinstance(raw.get("primary"), str) and raw["primary"]:
        out["primary"] = raw["primary"]
    if raw.get("mode") in MODES:
        out["mode"] = raw["mode"]
    budget = raw.get("budget_ms")
    if isinstance(budget, int) and not isinstance(budget, bool) and 50 <= budget <= 10000:
        out["budget_ms"] = budget
    if _parts(raw.get("name_parts")) is not None:
        out["name_parts"] = _parts(raw.get("name_parts"))
    template = raw.get("dialplan_template")
    if isinstance(template, str):
        try:
            check_template(template)
            out["dialplan_template"] = template
        except ValidationError:
            log.warning("stored smart dialplan_template %r is invalid; using the default", template)
    ids = raw.get("extension_ids")
    if isinstance(ids, Mapping):
        out["extension_ids"] = {str(k): str(v) for k, v in ids.items()
                                if _ID_RE.match(str(k)) and isinstance(v, (str, int)) and _ID_RE.match(str(v))}
    lines = raw.get("lines")
    if isinstance(lines, Mapping):
        # A bare key wins over its upstream spelling when both are stored.
        for key in sorted(lines, key=lambda k: k != line_key(k)):
            if isinstance(key, str) and isinstance(lines[key], Mapping) and line_key(key) not in out["lines"]:
                out["lines"][line_key(key)] = normalise_line(lines[key])
    return out


class _Id(fields.Field):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not _ID_RE.match(str(value)):
            raise ValidationError("Use 1 to 32 of A-Z, a-z, 0-9, '_' and '-'.")
        return str(value)


def _unique(values: list[str]) -> None:
    if len(set(values)) != len(values):
        raise ValidationError("Each part at most once.")


def _name_parts() -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf(PARTS)), allow_none=True,
                       validate=[_unique, validate.Length(max=len(PARTS))])


class LineSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(allow_none=True, validate=[validate.Length(max=64), SINGLE_LINE])
    shop = fields.String(allow_none=True, validate=[validate.Length(max=64), SINGLE_LINE])
    enabled = StrictBool()
    name_parts = _name_parts()
    # The replaced service's spelling (read, normalised, never stored again).
    do_routing = StrictBool()
    algorithm = fields.String(allow_none=True, validate=validate.OneOf(_UPSTREAM_ALGORITHMS))
    send_line_name = StrictBool()
    send_shop_name = StrictBool()
    send_customer_name = StrictBool()
    line_name_order = StrictInt(minimum=1, maximum=3, allow_none=True)
    shop_name_order = StrictInt(minimum=1, maximum=3, allow_none=True)
    customer_name_order = StrictInt(minimum=1, maximum=3, allow_none=True)


class SmartSectionSchema(Schema):
    """``PUT /api/enterprises/<n>/smart``: keys given replace the stored ones; ``null`` resets one."""

    class Meta:
        unknown = RAISE

    primary = fields.String(allow_none=True, validate=validate.Length(min=1, max=40))
    mode = fields.String(allow_none=True, validate=validate.OneOf(MODES))
    budget_ms = StrictInt(minimum=50, maximum=10000, allow_none=True)
    name_parts = _name_parts()
    dialplan_template = fields.String(allow_none=True, validate=[validate.Length(max=60), check_template])
    extension_ids = fields.Dict(keys=fields.String(validate=validate.Regexp(_ID_RE)), values=_Id(),
                                allow_none=True, validate=validate.Length(max=10000))
    lines = fields.Dict(keys=fields.String(validate=validate.Regexp(_TRUNK_RE)),
                        values=fields.Nested(LineSchema), allow_none=True, validate=validate.Length(max=2000))

    @validates_schema
    def _distinct_trunks(self, data: dict[str, Any], **_kwargs: Any) -> None:
        seen: dict[str, str] = {}
        for key in data.get("lines") or {}:
            if line_key(key) in seen:
                raise ValidationError({key: [f"The same trunk as {seen[line_key(key)]!r}."]}, "lines")
            seen[line_key(key)] = key


def section_patch(loaded: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str]], list[tuple[str]]]:
    """A loaded PUT body as ``ConfigStore.merge_section`` arguments: (patch, remove, replace).

    Maps and lists given are replaced whole (like the ms ``employee_mapping``), so a line left out of
    ``lines`` is gone; a key left out of the body keeps its stored value; ``null`` removes the key.
    """
    patch: dict[str, Any] = {}
    remove: list[tuple[str]] = []
    replace: list[tuple[str]] = []
    for key, value in loaded.items():
        if value is None:
            remove.append((key,))
            continue
        if key == "lines":
            value = {line_key(k): normalise_line(v) for k, v in value.items()}
        patch[key] = value
        if isinstance(value, (dict, list)):
            replace.append((key,))
    return patch, remove, replace
