"""Who clicked, and which PBX extension to ring (contract §9).

Three rules, in order; the first that yields an employee with a mapped PBX extension wins:

1. ``uid``: the MoySklad login of the user who clicked (the most reliable: MoySklad fills it itself);
2. ``srcNumber`` as that user's MoySklad extension;
3. ``srcNumber`` as a PBX extension of the effective mapping (tenants whose MoySklad extensions are empty
   but who typed PBX extensions into the mapping).

The replaced service rang ``srcNumber`` as given, whoever it belonged to; here only an extension the
mapping gives to the employee who clicked is ever rung.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ms_plugin.config.schema import EXT_RE
from ms_plugin.employees import EmployeeInfo, EmployeeSet


@dataclass(frozen=True)
class Caller:
    employee_id: str
    extension: str  # the PBX extension to ring
    rule: str  # "uid" | "ms_extension" | "pbx_extension"
    name: str | None = None


def _extensions_of(mapping: Mapping[str, str], employee_id: str) -> list[str]:
    return sorted(ext for ext, emp in mapping.items() if emp == employee_id and EXT_RE.match(ext))


def _pick(extensions: list[str], src_number: str, employee: EmployeeInfo | None) -> str:
    """An employee with several PBX extensions: the one MoySklad named, else their MoySklad one, else the
    lowest (a stable choice)."""
    if src_number in extensions:
        return src_number
    if employee is not None and employee.ms_extension in extensions:
        return employee.ms_extension  # type: ignore[return-value]
    return extensions[0]


def resolve_caller(employees: EmployeeSet, explicit_mapping: Mapping[str, str], *, uid: str,
                   src_number: str) -> Caller | None:
    mapping = employees.effective_mapping(explicit_mapping)

    def ring(employee: EmployeeInfo | None, rule: str) -> Caller | None:
        if employee is None or employee.archived:
            return None
        extensions = _extensions_of(mapping, employee.employee_id)
        if not extensions:
            return None
        return Caller(employee.employee_id, _pick(extensions, src_number, employee), rule, employee.display_name)

    if uid:
        found = ring(employees.by_uid(uid), "uid")
        if found is not None:
            return found
    if src_number:
        found = ring(employees.by_ms_extension(src_number), "ms_extension")
        if found is not None:
            return found
        employee_id = mapping.get(src_number)
        if employee_id is not None and EXT_RE.match(src_number):
            known = employees.by_id.get(employee_id)
            if known is None or not known.archived:
                # The admin mapped this extension explicitly; the employee may not be cached yet.
                return Caller(employee_id, src_number, "pbx_extension", known.display_name if known else None)
    return None
