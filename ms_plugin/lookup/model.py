"""What a client lookup answers, and how answers are stored in the host's shared cache (JSON).

The cache is shared by every worker and machine, so values are plain JSON, versioned (``"v"``): a
value this code cannot read is a cache miss, never an error.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ms_plugin.moysklad.models import ContactPerson, Counterparty

log = logging.getLogger(__name__)

Status = Literal["found", "not_found", "ambiguous", "unavailable", "skipped"]
CACHEABLE: frozenset[str] = frozenset({"found", "not_found", "ambiguous"})  # never "unavailable"
_CODEC_VERSION = 1


@dataclass(frozen=True)
class LookupResult:
    status: Status
    counterparty: Counterparty | None = None
    contact: ContactPerson | None = None  # set when the number is a contact person's
    candidates: tuple[Counterparty, ...] = ()  # several confirmed counterparties (status "ambiguous")
    error: str | None = None
    from_cache: bool = False

    @property
    def found(self) -> bool:
        return self.status == "found" and self.counterparty is not None

    @classmethod
    def skipped(cls, reason: str) -> LookupResult:
        return cls("skipped", error=reason)

    @classmethod
    def unavailable(cls, reason: str) -> LookupResult:
        return cls("unavailable", error=reason)


@dataclass(frozen=True)
class ResponsibleAnswer:
    employee_id: str | None
    extension: str | None
    rule: str  # owner | open_order | last_talked | first_ringing | none

    @classmethod
    def none(cls) -> ResponsibleAnswer:
        return cls(None, None, "none")


# -------------------------------------------------------------------------------------------- codec


def _contact_to_json(person: ContactPerson) -> dict[str, Any]:
    return dataclasses.asdict(person)


def _contact_from_json(data: Mapping[str, Any]) -> ContactPerson:
    names = {f.name for f in dataclasses.fields(ContactPerson)}
    return ContactPerson(**{k: v for k, v in data.items() if k in names})


def counterparty_to_json(cp: Counterparty) -> dict[str, Any]:
    """The counterparty without its contact persons: the matched one is stored beside it, and a
    company with hundreds of persons must not bloat every cache row."""
    data = dataclasses.asdict(cp)
    data["contact_persons"] = []
    data["contact_persons_loaded"] = False
    data["tags"] = list(cp.tags)
    return data


def counterparty_from_json(data: Mapping[str, Any]) -> Counterparty:
    names = {f.name for f in dataclasses.fields(Counterparty)}
    values = {k: v for k, v in data.items() if k in names}
    values["tags"] = tuple(values.get("tags") or ())
    values["contact_persons"] = tuple(_contact_from_json(p) for p in values.get("contact_persons") or ())
    return Counterparty(**values)


def result_to_json(result: LookupResult) -> dict[str, Any]:
    return {
        "v": _CODEC_VERSION,
        "status": result.status,
        "counterparty": counterparty_to_json(result.counterparty) if result.counterparty else None,
        "contact": _contact_to_json(result.contact) if result.contact else None,
        "candidates": [counterparty_to_json(c) for c in result.candidates],
    }


def result_from_json(data: Any) -> LookupResult | None:
    """The cached result, or None when the value is not one this code wrote (treated as a miss)."""
    if not isinstance(data, Mapping) or data.get("v") != _CODEC_VERSION or data.get("status") not in CACHEABLE:
        return None
    try:
        cp = data.get("counterparty")
        contact = data.get("contact")
        return LookupResult(
            status=data["status"],
            counterparty=counterparty_from_json(cp) if isinstance(cp, Mapping) else None,
            contact=_contact_from_json(contact) if isinstance(contact, Mapping) else None,
            candidates=tuple(counterparty_from_json(c) for c in data.get("candidates") or () if isinstance(c, Mapping)),
            from_cache=True,
        )
    except (TypeError, ValueError, KeyError) as exc:
        log.info("unreadable lookup cache value ignored: %s", exc)
        return None


def responsible_to_json(answer: ResponsibleAnswer) -> dict[str, Any]:
    return {"v": _CODEC_VERSION, "employee_id": answer.employee_id, "extension": answer.extension,
            "rule": answer.rule}


def responsible_from_json(data: Any) -> ResponsibleAnswer | None:
    if not isinstance(data, Mapping) or data.get("v") != _CODEC_VERSION or not isinstance(data.get("rule"), str):
        return None
    employee, extension = data.get("employee_id"), data.get("extension")
    return ResponsibleAnswer(employee if isinstance(employee, str) else None,
                             extension if isinstance(extension, str) else None, data["rule"])
