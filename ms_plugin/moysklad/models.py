"""Tolerant parsing of MoySklad answers into frozen dataclasses, and the meta/href helpers.

Unknown fields are ignored and optional fields may be missing or ``null`` (MoySklad omits empty fields,
except where it returns ``null``/``[]``; both happen). Only what we cannot work without (an ``id``) makes a
:class:`MalformedResponse`. MoySklad quirks live here and nowhere else:

* the Phone API spells the employee field ``extention`` (``/employee`` and ``counterpartyowner``), but
  ``extension`` in call and event bodies;
* call ``employee``/``counterparty`` are *bare* meta objects, ``counterpartyowner`` wraps its ``meta``;
* ids are the last path segment of ``meta.href``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ms_plugin.moysklad.errors import MalformedResponse
from ms_plugin.moysklad.refs import (
    MEDIA_TYPE,
    as_object,
    bare_meta,
    entity_href,
    href_ref,
    id_from_href,
    meta_href,
    meta_of,
    meta_ref,
    opt_bool,
    opt_int,
    opt_str,
    ref_id,
    required_id,
    rows,
)

__all__ = [
    "MEDIA_TYPE", "bare_meta", "entity_href", "href_ref", "id_from_href", "meta_ref", "ref_id", "rows",
    "Call", "PhoneEmployee", "ContactPerson", "Counterparty", "Employee", "Organization", "SalesChannel",
    "OrderState", "CustomerOrder", "Task", "Note", "first_object",
]


# ------------------------------------------------------------------------------------------ Phone API


@dataclass(frozen=True)
class Call:
    id: str
    external_id: str | None
    number: str | None
    extension: str | None
    employee_id: str | None
    counterparty_id: str | None
    counterparty_owner_id: str | None
    counterparty_owner_extension: str | None
    is_incoming: bool | None
    start_time: str | None
    end_time: str | None
    duration: int | None  # milliseconds
    record_urls: tuple[str, ...]
    comment: str | None

    @classmethod
    def from_json(cls, data: Any) -> Call:
        d = as_object(data, "call")
        owner = d.get("counterpartyowner")
        owner_map: Mapping[str, Any] = owner if isinstance(owner, Mapping) else {}
        urls = d.get("recordUrl")
        incoming = d.get("isIncoming")
        return cls(
            id=required_id(d, "call"),
            external_id=opt_str(d, "externalId"),
            number=opt_str(d, "number"),
            extension=opt_str(d, "extension"),
            employee_id=ref_id(d.get("employee")),
            counterparty_id=ref_id(d.get("counterparty")),
            counterparty_owner_id=ref_id(owner_map) if owner_map else None,
            counterparty_owner_extension=opt_str(owner_map, "extention") or opt_str(owner_map, "extension"),
            is_incoming=incoming if isinstance(incoming, bool) else None,
            start_time=opt_str(d, "startTime"),
            end_time=opt_str(d, "endTime"),
            duration=opt_int(d, "duration"),
            record_urls=tuple(str(u) for u in urls if isinstance(u, str)) if isinstance(urls, list) else (),
            comment=opt_str(d, "comment"),
        )


@dataclass(frozen=True)
class PhoneEmployee:
    """An employee as the Phone API lists it: who has which MoySklad extension."""

    employee_id: str
    extension: str | None
    href: str | None

    @classmethod
    def from_json(cls, data: Any) -> PhoneEmployee:
        d = as_object(data, "phone employee")
        employee_id = ref_id(d)
        if not employee_id:
            raise MalformedResponse("phone employee without a meta href")
        # MoySklad spells it "extention" here; "extension" is accepted too should it ever be fixed.
        extension = opt_str(d, "extention") or opt_str(d, "extension")
        return cls(employee_id=employee_id, extension=extension, href=meta_href(d))


# ------------------------------------------------------------------------------------------ JSON API


@dataclass(frozen=True)
class ContactPerson:
    id: str
    name: str | None
    phone: str | None
    email: str | None

    @classmethod
    def from_json(cls, data: Any) -> ContactPerson:
        d = as_object(data, "contact person")
        return cls(id=required_id(d, "contact person"), name=opt_str(d, "name"), phone=opt_str(d, "phone"),
                   email=opt_str(d, "email"))


@dataclass(frozen=True)
class Employee:
    id: str
    name: str | None
    full_name: str | None
    uid: str | None
    email: str | None
    phone: str | None
    archived: bool
    href: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Employee:
        d = as_object(data, "employee")
        return cls(id=required_id(d, "employee"), name=opt_str(d, "name") or opt_str(d, "shortFio"),
                   full_name=opt_str(d, "fullName"), uid=opt_str(d, "uid"), email=opt_str(d, "email"),
                   phone=opt_str(d, "phone"), archived=opt_bool(d, "archived"), href=meta_href(d))


@dataclass(frozen=True)
class Counterparty:
    id: str
    name: str | None
    phone: str | None
    email: str | None
    tags: tuple[str, ...]
    owner_id: str | None
    archived: bool
    contact_persons: tuple[ContactPerson, ...]
    contact_persons_loaded: bool  # False when ``contactpersons`` was not expanded (fetch them separately)
    owner_name: str | None = None  # with ``expand=owner``
    updated: str | None = None
    href: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Counterparty:
        d = as_object(data, "counterparty")
        tags = d.get("tags")
        owner = d.get("owner")
        persons_raw = d.get("contactpersons")
        persons: list[ContactPerson] = []
        loaded = False
        if isinstance(persons_raw, Mapping) and isinstance(persons_raw.get("rows"), list):
            loaded = True
            for row in persons_raw["rows"]:
                if isinstance(row, Mapping) and (row.get("id") or meta_of(row).get("href")):
                    persons.append(ContactPerson.from_json(row))
        elif isinstance(persons_raw, list):
            loaded = True
            persons = [ContactPerson.from_json(r) for r in persons_raw if isinstance(r, Mapping)]
        return cls(
            id=required_id(d, "counterparty"), name=opt_str(d, "name"), phone=opt_str(d, "phone"),
            email=opt_str(d, "email"),
            tags=tuple(str(t) for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
            owner_id=ref_id(owner), archived=opt_bool(d, "archived"), contact_persons=tuple(persons),
            contact_persons_loaded=loaded,
            owner_name=opt_str(owner, "name") if isinstance(owner, Mapping) else None,
            updated=opt_str(d, "updated"), href=meta_href(d),
        )


@dataclass(frozen=True)
class Organization:
    id: str
    name: str | None
    archived: bool
    href: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Organization:
        d = as_object(data, "organization")
        return cls(id=required_id(d, "organization"), name=opt_str(d, "name"), archived=opt_bool(d, "archived"),
                   href=meta_href(d))


@dataclass(frozen=True)
class SalesChannel:
    id: str
    name: str | None
    type: str | None
    archived: bool
    href: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> SalesChannel:
        d = as_object(data, "sales channel")
        return cls(id=required_id(d, "sales channel"), name=opt_str(d, "name"), type=opt_str(d, "type"),
                   archived=opt_bool(d, "archived"), href=meta_href(d))


@dataclass(frozen=True)
class OrderState:
    id: str
    name: str | None
    state_type: str | None  # Regular | Successful | Unsuccessful (the last two are final)
    href: str | None = None

    @property
    def is_final(self) -> bool:
        return self.state_type in ("Successful", "Unsuccessful")

    @classmethod
    def from_json(cls, data: Any) -> OrderState:
        d = as_object(data, "state")
        return cls(id=required_id(d, "state"), name=opt_str(d, "name"), state_type=opt_str(d, "stateType"),
                   href=meta_href(d))


@dataclass(frozen=True)
class CustomerOrder:
    id: str
    name: str | None
    state_id: str | None
    state_name: str | None  # with ``expand=state``
    state_type: str | None  # with ``expand=state``
    owner_id: str | None
    agent_id: str | None
    moment: str | None
    href: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> CustomerOrder:
        d = as_object(data, "customer order")
        state = d.get("state")
        state_map: Mapping[str, Any] = state if isinstance(state, Mapping) else {}
        return cls(id=required_id(d, "customer order"), name=opt_str(d, "name"),
                   state_id=ref_id(state_map) if state_map else None,
                   state_name=opt_str(state_map, "name"), state_type=opt_str(state_map, "stateType"),
                   owner_id=ref_id(d.get("owner")), agent_id=ref_id(d.get("agent")), moment=opt_str(d, "moment"),
                   href=meta_href(d))


@dataclass(frozen=True)
class Task:
    id: str
    description: str | None
    assignee_id: str | None
    agent_id: str | None
    due_to_date: str | None
    done: bool
    href: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Task:
        d = as_object(data, "task")
        return cls(id=required_id(d, "task"), description=opt_str(d, "description"),
                   assignee_id=ref_id(d.get("assignee")), agent_id=ref_id(d.get("agent")),
                   due_to_date=opt_str(d, "dueToDate"), done=opt_bool(d, "done"), href=meta_href(d))


@dataclass(frozen=True)
class Note:
    id: str
    description: str | None
    created: str | None

    @classmethod
    def from_json(cls, data: Any) -> Note:
        d = as_object(data, "note")
        return cls(id=required_id(d, "note"), description=opt_str(d, "description"), created=opt_str(d, "created"))


def first_object(data: Any, what: str) -> Mapping[str, Any]:
    """A created sub-resource: MoySklad's docs show an array, its spec an object. Accept both."""
    if isinstance(data, list):
        for item in data:
            if isinstance(item, Mapping):
                return item
        raise MalformedResponse(f"{what}: an empty array")
    return as_object(data, what)
