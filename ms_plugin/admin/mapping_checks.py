"""The employee table of the admin page: employees merged with the PBX mapping, with warnings.

Pure functions over :class:`~ms_plugin.employees.EmployeeSet` and the explicit mapping. The *effective*
mapping (explicit entries plus "MoySklad extension = PBX extension" for employees the admin did not map)
is what calls use, so that is what the table shows; ``auto`` marks entries nobody typed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from ms_plugin.employees import EmployeeInfo, EmployeeSet

Warning = dict[str, str]


def _warn(code: str, message: str) -> Warning:
    return {"code": code, "message": message}


def employee_rows(employees: EmployeeSet, explicit: Mapping[str, str]) -> list[dict[str, Any]]:
    effective = employees.effective_mapping(explicit)
    exts_of: dict[str, list[str]] = defaultdict(list)
    for ext, emp_id in effective.items():
        exts_of[emp_id].append(ext)
    ms_owners: dict[str, list[str]] = defaultdict(list)
    for emp in employees.by_id.values():
        if emp.ms_extension and not emp.archived:
            ms_owners[emp.ms_extension].append(emp.employee_id)

    def name_of(emp_id: str) -> str:
        info = employees.by_id.get(emp_id)
        return info.display_name if info else emp_id

    rows: list[dict[str, Any]] = []
    ids = [e.employee_id for e in employees.by_id.values() if not e.archived or e.employee_id in exts_of]
    ids += [emp_id for emp_id in exts_of if emp_id not in employees.by_id]
    for emp_id in ids:
        info = employees.by_id.get(emp_id)
        exts = sorted(exts_of.get(emp_id, []), key=lambda x: (len(x), x))
        warnings = _warnings(emp_id, info, exts, effective, ms_owners, name_of)
        rows.append({
            "id": emp_id,
            "name": info.display_name if info else None,
            "uid": info.uid if info else None,
            "ms_extension": info.ms_extension if info else None,
            "pbx_extensions": exts,
            "auto_extensions": [x for x in exts if x not in explicit],
            "archived": bool(info and info.archived),
            "known": info is not None,
            "warnings": warnings,
        })
    rows.sort(key=lambda r: ((r["name"] or "\uffff").lower(), r["id"]))
    return rows


def _warnings(emp_id: str, info: EmployeeInfo | None, exts: list[str], effective: Mapping[str, str],
              ms_owners: Mapping[str, list[str]], name_of: Any) -> list[Warning]:
    out: list[Warning] = []
    if info is None:
        out.append(_warn("unknown_employee", "Этого сотрудника нет в МойСклад (удалён?): добавочные "
                                             f"{', '.join(exts)} никуда не ведут. Уберите сопоставление."))
        return out
    if info.archived:
        out.append(_warn("archived", "Сотрудник в архиве МойСклад, но ему сопоставлен добавочный АТС."))
    if not exts and not info.ms_extension:
        out.append(_warn("no_extension", "Нет добавочного ни в МойСклад, ни в АТС: карточки звонков этому "
                                         "сотруднику не придут."))
    ms_ext = info.ms_extension
    if ms_ext:
        owner = effective.get(ms_ext)
        if owner is not None and owner != emp_id:
            out.append(_warn("ms_extension_collision",
                             f"Его добавочный в МойСклад {ms_ext} совпадает с добавочным АТС {ms_ext}, "
                             f"сопоставленным сотруднику «{name_of(owner)}»: клики и карточки в МойСклад "
                             "могут уйти не тому."))
        others = [o for o in ms_owners.get(ms_ext, []) if o != emp_id]
        if others:
            out.append(_warn("duplicate_ms_extension",
                             f"Добавочный {ms_ext} в МойСклад задан и сотруднику «{name_of(others[0])}»."))
    for ext in exts:
        holders = [o for o in ms_owners.get(ext, []) if o != emp_id]
        if holders:
            out.append(_warn("pbx_extension_collision",
                             f"Добавочный АТС {ext} в МойСклад принадлежит сотруднику «{name_of(holders[0])}»."))
    return out


def mapping_diff(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """``employee_mapping.<ext>`` paths that changed (for the journal)."""
    keys = set(before) | set(after)
    return sorted(f"employee_mapping.{k}" for k in keys if before.get(k) != after.get(k))
