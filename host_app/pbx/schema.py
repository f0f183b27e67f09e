"""``PbxConfigSchema``: the enterprise's ``pbx`` setting (contract.md §3), for the router and the admin API.

Loaded values are safe to hand to the clients (single-line strings, strict contexts, http(s) URLs). Dumping
leaves out ``secret`` and ``client_id`` (``load_only``): the HTTP control service's ``clientId`` is the
enterprise's secret upstream.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from host_app.integrations.contract import PbxError
from host_app.pbx.http import check_http_url
from host_app.pbx.values import CONTEXT_RE

AMI_DEFAULTS: dict[str, Any] = {"tls": False, "context": "web-originate", "dial_context": "inoffice"}
_AMI_REQUIRED = ("host", "port", "username", "secret")
_HTTP_REQUIRED = ("url", "client_id")
_AMI_FIELDS = frozenset((*_AMI_REQUIRED, *AMI_DEFAULTS))
_HTTP_FIELDS = frozenset(_HTTP_REQUIRED)
_HOST = validate.Regexp(r"[A-Za-z0-9.\-:\[\]]{1,253}\Z", error="Not a host name or IP address.")
_CONTEXT = validate.Regexp(CONTEXT_RE.pattern + r"\Z", error="Use 1 to 40 of A-Z, a-z, 0-9, '_' and '-'.")


def _single_line(value: str) -> None:
    if any(ch in value for ch in "\r\n\0"):
        raise ValidationError("Must not contain CR, LF or NUL.")


def _port(value: int) -> None:
    if isinstance(value, bool) or not 1 <= value <= 65535:
        raise ValidationError("Must be an integer from 1 to 65535.")


def _url(value: str) -> None:
    try:
        check_http_url(value)
    except PbxError as exc:
        raise ValidationError(exc.message) from None


class PbxConfigSchema(Schema):
    """``{"kind": "ami", host, port, username, secret, tls?, context?, dial_context?}`` or
    ``{"kind": "http", url, client_id}``. Unknown keys and the other kind's keys are refused."""

    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(("ami", "http")))
    host = fields.String(validate=_HOST)
    port = fields.Integer(strict=True, validate=_port)
    username = fields.String(validate=[validate.Length(min=1, max=80), _single_line])
    secret = fields.String(load_only=True, validate=[validate.Length(min=1, max=200), _single_line])
    tls = fields.Boolean()
    context = fields.String(validate=_CONTEXT)
    dial_context = fields.String(validate=_CONTEXT)
    url = fields.String(validate=_url)
    client_id = fields.String(load_only=True, validate=[validate.Length(min=1, max=200), _single_line])

    @validates_schema
    def _per_kind(self, data: dict[str, Any], **_kwargs: Any) -> None:
        kind = data.get("kind")
        required, foreign = (_AMI_REQUIRED, _HTTP_FIELDS) if kind == "ami" else (_HTTP_REQUIRED, _AMI_FIELDS)
        errors: dict[str, list[str]] = {}
        for name in required:
            if data.get(name) in (None, ""):
                errors[name] = ["Missing data for required field."]
        for name in sorted(foreign & data.keys()):
            errors[name] = [f"Not allowed when kind is {kind}."]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _defaults(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        if data["kind"] == "ami":
            for key, value in AMI_DEFAULTS.items():
                data.setdefault(key, value)
        return data
