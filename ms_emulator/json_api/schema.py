"""Writable fields per entity and the generic validation of create/update bodies.

Errors follow the JSON API catalogue: 412/3000 required field missing, 412/3005 enum value, 412/3015 bad
e-mail, 412/3040 too long, 400/2017 wrong JSON type, 400/2010-2013 and 1060 bad references.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ApiError, bad_format, required
from ..knobs import Knobs
from ..model import Account
from ..refs import parse_ref
from ..util import format_dt, is_uuid, parse_dt

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
COMMON_READONLY = frozenset({"meta", "id", "accountId", "created", "updated"})


@dataclass(frozen=True)
class F:
    kind: str = "str"  # str | email | bool | int | ref | strlist | datetime | enum | uuid | raw
    max_len: int = 255
    refs: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntityDef:
    kind: str
    fields: dict[str, F]
    required: tuple[str, ...] = ()
    readonly: frozenset[str] = field(default_factory=frozenset)


TEXT = F("str", 4096)
EMPLOYEE_REF = F("ref", refs=("employee",))

COUNTERPARTY = EntityDef("counterparty", {
    "name": F("str", 255), "phone": F("str", 255), "fax": F("str", 255), "email": F("email", 255),
    "description": TEXT, "code": F("str", 255), "externalCode": F("str", 255), "legalTitle": F("str", 4096),
    "legalAddress": F("str", 4096), "actualAddress": F("str", 4096), "inn": F("str", 255),
    "discountCardNumber": F("str", 255), "archived": F("bool"), "shared": F("bool"),
    "companyType": F("enum", choices=("legal", "entrepreneur", "individual", "legalUZ", "entrepreneurUZ",
                                       "individualUZ", "legalKZ", "entrepreneurKZ", "individualKZ")),
    "legalFirstName": F("str"), "legalLastName": F("str"), "legalMiddleName": F("str"),
    "sex": F("enum", choices=("MALE", "FEMALE")), "tags": F("strlist"), "owner": EMPLOYEE_REF,
    "syncId": F("uuid"), "attributes": F("raw"),
}, required=("name",), readonly=frozenset({"contactpersons", "notes", "salesAmount", "accounts"}))

CONTACT_PERSON = EntityDef("contactperson", {
    "name": F("str", 255), "phone": F("str", 255), "email": F("email", 255), "position": F("str", 255),
    "description": TEXT, "externalCode": F("str", 255), "code": F("str", 255),
}, required=("name",), readonly=frozenset({"agent"}))

NOTE = EntityDef("note", {"description": TEXT}, required=("description",),
                 readonly=frozenset({"agent", "author", "authorApplication"}))

SALES_CHANNEL_TYPES = ("MESSENGER", "SOCIAL_NETWORK", "MARKETPLACE", "ECOMMERCE", "CLASSIFIED_ADS",
                       "DIRECT_SALES", "RETAIL_SALES", "OTHER")
SALES_CHANNEL = EntityDef("saleschannel", {
    "name": F("str", 255), "type": F("enum", choices=SALES_CHANNEL_TYPES), "description": TEXT,
    "code": F("str", 255), "externalCode": F("str", 255), "archived": F("bool"), "owner": EMPLOYEE_REF,
}, required=("name", "type"))

CUSTOMER_ORDER = EntityDef("customerorder", {
    "name": F("str", 255), "organization": F("ref", refs=("organization",)),
    "agent": F("ref", refs=("counterparty", "organization")), "state": F("ref", refs=("state",)),
    "salesChannel": F("ref", refs=("saleschannel",)), "owner": EMPLOYEE_REF, "description": TEXT,
    "moment": F("datetime"), "deliveryPlannedMoment": F("datetime"), "applicable": F("bool"),
    "code": F("str", 255), "externalCode": F("str", 255), "syncId": F("uuid"), "shared": F("bool"),
    "vatEnabled": F("bool"), "vatIncluded": F("bool"), "shipmentAddress": F("str", 4096),
    "attributes": F("raw"), "project": F("raw"), "store": F("raw"), "contract": F("raw"), "rate": F("raw"),
}, required=("organization", "agent"),
    readonly=frozenset({"sum", "payedSum", "shippedSum", "reservedSum", "invoicedSum", "positions"}))

TASK = EntityDef("task", {
    "description": TEXT, "assignee": EMPLOYEE_REF, "dueToDate": F("datetime"), "done": F("bool"),
    "agent": F("ref", refs=("counterparty", "organization")), "operation": F("ref", refs=("customerorder",)),
}, required=("description", "assignee"),
    readonly=frozenset({"author", "authorApplication", "implementer", "completed", "notes", "files"}))


def _coerce(account: Account, spec: F, name: str, value: Any) -> Any:
    if spec.kind in ("str", "email"):
        if not isinstance(value, str):
            raise bad_format(name)
        if len(value) > spec.max_len:
            raise ApiError(412, 3040, parameter=name, limit=spec.max_len)
        if spec.kind == "email" and value and not EMAIL_RE.match(value):
            raise ApiError(412, 3015, parameter=name)
        return value
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise bad_format(name)
        return value
    if spec.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_format(name)
        return value
    if spec.kind == "ref":
        return parse_ref(account, value, spec.refs, name)
    if spec.kind == "strlist":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad_format(name)
        return list(value)
    if spec.kind == "datetime":
        parsed = parse_dt(value) if isinstance(value, str) else None
        if parsed is None:
            raise bad_format(name)
        return format_dt(parsed)
    if spec.kind == "enum":
        if value not in spec.choices:
            raise ApiError(412, 3005, parameter=name, allowed=", ".join(spec.choices))
        return value
    if spec.kind == "uuid":
        if not isinstance(value, str) or not is_uuid(value):
            raise bad_format(name)
        return value.lower()
    return value  # raw: stored as sent


def parse_fields(account: Account, definition: EntityDef, body: dict[str, Any], knobs: Knobs,
                 creating: bool) -> dict[str, Any]:
    """Validated stored values for the fields present in `body` (null clears an optional field)."""
    out: dict[str, Any] = {}
    for name, value in body.items():
        if name in COMMON_READONLY or name in definition.readonly:
            continue  # read-only fields are ignored on create and update
        spec = definition.fields.get(name)
        if spec is None:
            if knobs.reject_unknown_fields:
                raise ApiError(400, 1007, parameter=name)
            continue
        out[name] = None if value is None else _coerce(account, spec, name, value)
    for name in definition.required:
        missing = out.get(name) in (None, "", []) if (creating or name in out) else False
        if missing:
            raise required(name)
    return out
