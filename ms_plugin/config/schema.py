"""The tenant's ``ms`` section (contract §5): marshmallow schemas and the frozen value the code uses.

Two ways in:
* ``read_config(section)`` is **tolerant**: unknown keys are ignored and a stored value that no longer
  validates falls back to its default, so an old or hand-edited section never stops call processing.
* ``TenantConfigPatchSchema`` (admin PUT) is **strict**: unknown keys and bad values are 422 errors.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, pre_load, validate

EXT_RE = re.compile(r"^[0-9]{2,6}$")
NOTIFY_MODES = ("during", "after", "none")
ORDER_MODES = ("none", "always", "if_no_open")
SIGNATURE_MODES = ("enforce", "log", "off")
DIAL_FORMATS = ("e164", "digits", "national")
REGIONS = ("BY", "RU", "KZ")
SECRET_KEYS = ("integration_code", "password", "api_token")
# Phone API keys are 40 hex characters; some provider UIs show a UUID instead (reference §1.2).
_KEY_RE = r"^([0-9a-fA-F]{40}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"


def _order_mode(value: Any) -> Any:
    # The replaced service stored booleans: true meant "always", false "none".
    if value is True:
        return "always"
    if value is False:
        return "none"
    return value


class NotificationsSchema(Schema):
    call_notify_mode = fields.String(load_default="during", validate=validate.OneOf(NOTIFY_MODES))
    notify_incoming = fields.Boolean(load_default=True)
    notify_outgoing = fields.Boolean(load_default=False)


class IncomingActionsSchema(Schema):
    create_client = fields.Boolean(load_default=True)
    create_order = fields.String(load_default="none", validate=validate.OneOf(ORDER_MODES))
    order_status = fields.String(load_default="Новый", validate=validate.Length(min=1, max=255))
    order_source = fields.String(load_default="Телефонный звонок", validate=validate.Length(min=1, max=255))

    @pre_load
    def _legacy(self, data: Any, **_: Any) -> Any:
        if isinstance(data, Mapping) and "create_order" in data:
            data = {**data, "create_order": _order_mode(data["create_order"])}
        return data


class OutgoingActionsSchema(Schema):
    create_client = fields.Boolean(load_default=True)
    create_order = fields.String(load_default="none", validate=validate.OneOf(ORDER_MODES))
    # order_status / order_source are inherited from the incoming actions (contract §5); an explicit
    # value is still honoured.
    order_status = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=255))
    order_source = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=255))

    _legacy = IncomingActionsSchema._legacy


class MissedActionsSchema(Schema):
    create_task = fields.Boolean(load_default=False)
    task_due_minutes = fields.Integer(load_default=60, validate=validate.Range(min=1, max=60 * 24 * 30))


class ClickToCallSchema(Schema):
    signature_mode = fields.String(load_default="log", validate=validate.OneOf(SIGNATURE_MODES))
    dial_format = fields.String(load_default="digits", validate=validate.OneOf(DIAL_FORMATS))
    max_per_minute = fields.Integer(load_default=20, validate=validate.Range(min=1, max=600))


def _employee_id(value: Any) -> str | None:
    """An employee reference: a UUID string, or the legacy ``{employee_id, name, email}`` object."""
    if isinstance(value, Mapping):
        value = value.get("employee_id")
    if value is None:
        return None
    text = str(value).strip()
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ValidationError(f"{text!r} is not an employee id (UUID)") from None


class MappingField(fields.Field):
    """``{"<pbx extension>": "<employee uuid>"}``; the legacy object form is read too."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ValidationError("must be an object {extension: employee id}")
        out: dict[str, str] = {}
        errors: dict[str, str] = {}
        for ext, ref in value.items():
            ext_s = str(ext).strip()
            if not EXT_RE.match(ext_s):
                errors[str(ext)] = "extension must be 2-6 digits"
                continue
            try:
                emp = _employee_id(ref)
            except ValidationError as err:
                errors[ext_s] = str(err.messages[0] if err.messages else err)
                continue
            if emp is not None:
                out[ext_s] = emp
        if errors:
            raise ValidationError(errors)
        return out


class TenantConfigSchema(Schema):
    """The whole section as stored (tolerant use through ``read_config``)."""

    class Meta:
        unknown = EXCLUDE

    enabled = fields.Boolean(load_default=False)
    integration_code = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(
        _KEY_RE, error="must be the 40-character key (or UUID) from MoySklad's telephony settings"))
    login = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(
        r"^[^@\s]+@[^@\s]+$", error="must look like user@account"))
    password = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=255))
    api_token = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=10, max=255))
    api_url = fields.String(load_default=None, allow_none=True)
    phone_api_url = fields.String(load_default=None, allow_none=True)
    default_region = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(REGIONS))
    webhook_uuid = fields.String(load_default=None, allow_none=True)
    notifications = fields.Nested(NotificationsSchema)
    incoming_call_actions = fields.Nested(IncomingActionsSchema)
    outgoing_call_actions = fields.Nested(OutgoingActionsSchema)
    missed_call_actions = fields.Nested(MissedActionsSchema)
    organization_id = fields.String(load_default=None, allow_none=True)
    employee_mapping = MappingField(load_default=dict, allow_none=True)
    click_to_call = fields.Nested(ClickToCallSchema)

    @pre_load
    def _fill_sections(self, data: Any, **_: Any) -> Any:
        # A missing (or null) sub-section still goes through its schema, so its defaults apply.
        if isinstance(data, Mapping):
            data = dict(data)
            for key in _NESTED:
                if data.get(key) is None:
                    data[key] = {}
        return data


_NESTED = ("notifications", "incoming_call_actions", "outgoing_call_actions", "missed_call_actions",
           "click_to_call")


@dataclass(frozen=True)
class Notifications:
    call_notify_mode: str = "during"
    notify_incoming: bool = True
    notify_outgoing: bool = False


@dataclass(frozen=True)
class CallActions:
    create_client: bool = True
    create_order: str = "none"
    order_status: str = "Новый"
    order_source: str = "Телефонный звонок"


@dataclass(frozen=True)
class MissedActions:
    create_task: bool = False
    task_due_minutes: int = 60


@dataclass(frozen=True)
class ClickToCall:
    signature_mode: str = "log"
    dial_format: str = "digits"
    max_per_minute: int = 20


@dataclass(frozen=True)
class TenantConfig:
    enabled: bool = False
    integration_code: str | None = None
    login: str | None = None
    password: str | None = None
    api_token: str | None = None
    api_url: str | None = None
    phone_api_url: str | None = None
    default_region: str | None = None
    webhook_uuid: str | None = None
    notifications: Notifications = field(default_factory=Notifications)
    incoming: CallActions = field(default_factory=CallActions)
    outgoing: CallActions = field(default_factory=lambda: CallActions(create_order="none"))
    missed: MissedActions = field(default_factory=MissedActions)
    organization_id: str | None = None
    employee_mapping: Mapping[str, str] = field(default_factory=dict)
    click_to_call: ClickToCall = field(default_factory=ClickToCall)

    @property
    def has_phone_api(self) -> bool:
        return bool(self.integration_code)

    @property
    def has_json_api(self) -> bool:
        return bool(self.api_token or (self.login and self.password))

    def actions(self, incoming: bool) -> CallActions:
        return self.incoming if incoming else self.outgoing

    def region(self, enterprise_default: str) -> str:
        return self.default_region or enterprise_default or "BY"


def _build(data: Mapping[str, Any]) -> TenantConfig:
    inc = data["incoming_call_actions"]
    out = data["outgoing_call_actions"]
    incoming = CallActions(**{k: inc[k] for k in ("create_client", "create_order", "order_status",
                                                  "order_source")})
    outgoing = CallActions(create_client=out["create_client"], create_order=out["create_order"],
                           order_status=out.get("order_status") or incoming.order_status,
                           order_source=out.get("order_source") or incoming.order_source)
    return TenantConfig(
        enabled=data["enabled"], integration_code=data["integration_code"] or None,
        login=data["login"] or None, password=data["password"] or None, api_token=data["api_token"] or None,
        api_url=data["api_url"] or None, phone_api_url=data["phone_api_url"] or None,
        default_region=data["default_region"], webhook_uuid=data["webhook_uuid"],
        notifications=Notifications(**data["notifications"]), incoming=incoming, outgoing=outgoing,
        missed=MissedActions(**data["missed_call_actions"]), organization_id=data["organization_id"] or None,
        employee_mapping=dict(data["employee_mapping"]), click_to_call=ClickToCall(**data["click_to_call"]),
    )


def read_config(section: Mapping[str, Any] | None) -> TenantConfig:
    """Tolerant read of a stored section: bad values fall back to defaults instead of failing."""
    data: dict[str, Any] = dict(section or {})
    schema = TenantConfigSchema()
    for _ in range(6):
        try:
            return _build(schema.load(data))
        except ValidationError as err:
            data = _drop_errors(data, err.messages_dict)
    return _build(schema.load({}))


def _drop_errors(data: dict[str, Any], errors: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(data)
    for key, sub in errors.items():
        if key in out and isinstance(out[key], Mapping) and isinstance(sub, Mapping) and key != "employee_mapping":
            out[key] = _drop_errors(dict(out[key]), sub)
        elif key == "employee_mapping" and isinstance(out.get(key), Mapping) and isinstance(sub, Mapping):
            out[key] = {k: v for k, v in out[key].items() if str(k) not in sub}
        else:
            out.pop(key, None)
    return out


def validate_strict(section: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a whole section for saving: unknown keys and bad values are errors (422)."""
    return TenantConfigSchema(unknown=RAISE).load(dict(section))
