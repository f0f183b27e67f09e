"""``GET /ms-admin/employees/<ent>`` and ``PUT /ms-admin/employees/<ent>/mapping``.

Mapping edits merge into the stored mapping under the enterprise's row lock (``update_section``): an
empty edit changes nothing, so the upstream defect "an empty save wipes the mapping" cannot happen.
Employee ids are checked against the account's directory *before* the transform: no HTTP call runs
while the row is locked.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

from host_app.integrations.contract import ApiError, Principal
from ms_plugin.admin.config_service import CODE, config_change
from ms_plugin.admin.mapping_checks import employee_rows, mapping_diff
from ms_plugin.admin.patch import normalised_mapping
from ms_plugin.admin.probe import describe_error
from ms_plugin.employees import EmployeeSet
from ms_plugin.employees import load as load_employees
from ms_plugin.state import PluginState
from ms_plugin.tenant import Tenant

log = logging.getLogger(__name__)

EXT_RE = re.compile(r"^[0-9]{2,6}$")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def validate_mapping_edit(mapping: Any) -> dict[str, str | None]:
    """``{"151": "<uuid>", "152": null}`` -> normalised, or a 422 with per-extension errors."""
    if not isinstance(mapping, Mapping):
        raise ApiError("the mapping is not valid", code="validation_error", status=422,
                       details={"mapping": ["Нужен объект {добавочный: id сотрудника}."]})
    out: dict[str, str | None] = {}
    errors: dict[str, list[str]] = {}
    for ext, emp in mapping.items():
        if not EXT_RE.match(str(ext)):
            errors[str(ext)] = ["Добавочный АТС: от 2 до 6 цифр."]
        elif emp is None:
            out[str(ext)] = None
        else:
            try:
                out[str(ext)] = str(uuid.UUID(str(emp)))
            except ValueError:
                errors[str(ext)] = ["Нужен id сотрудника МойСклад (UUID) или null."]
    if errors:
        raise ApiError("the mapping is not valid", code="validation_error", status=422,
                       details={"mapping": errors})
    return out


class EmployeesService:
    def __init__(self, state: PluginState) -> None:
        self.state = state
        self.services = state.services

    def tenant(self, ent: str) -> Tenant:
        tenant = self.state.tenants.get(ent)
        if tenant is None:
            raise ApiError(f"enterprise {ent} not found", code="not_found", status=404)
        return tenant

    def listing(self, ent: str, *, refresh: bool = False) -> dict[str, Any]:
        tenant = self.tenant(ent)
        error = None
        try:
            employees = self.state.directory.get(tenant, refresh=refresh, names=True)
        except Exception as exc:  # MoySklad down or refusing: show what we have and say why
            log.info("employee refresh for %s failed: %r", ent, exc)
            with self.services.db.connection() as conn:
                employees = load_employees(conn, ent)
            error = "Не удалось обновить список из МойСклад: " + describe_error(exc, "phone")["message"]
        return self._body(tenant, employees, error)

    def _body(self, tenant: Tenant, employees: EmployeeSet, error: str | None) -> dict[str, Any]:
        explicit = dict(tenant.config.employee_mapping)
        phone_refused = self.state.tenants.refusals_for(tenant.number, tenant.config).phone
        return {
            "employees": employee_rows(employees, explicit),
            "phone_api_ok": tenant.phone is not None and not phone_refused and error is None,
            "json_api_ok": tenant.json_api is not None and error is None,
            "refreshed_at": _iso(employees.refreshed_at),
            "employee_mapping": explicit,
            "error": error,
        }

    def edit_mapping(self, ent: str, mapping: Any, replace: bool, who: Principal) -> dict[str, Any]:
        requested = validate_mapping_edit(mapping)
        tenant = self.tenant(ent)
        wanted = {emp for emp in requested.values() if emp}
        employees = self.state.directory.get(tenant, names=True)
        if wanted - set(employees.by_id):
            try:  # a new employee may be missing from our copy: look once more at MoySklad
                employees = self.state.directory.get(tenant, refresh=True)
            except Exception as exc:
                log.info("employee refresh for %s failed: %r", ent, exc)
        unknown = {ext: ["Такого сотрудника нет в МойСклад (обновите список сотрудников)."]
                   for ext, emp in requested.items() if emp and emp not in employees.by_id}
        if unknown:
            raise ApiError("unknown employee", code="validation_error", status=422, details={"mapping": unknown})
        seen: dict[str, dict[str, str]] = {}

        def transform(current: dict[str, Any]) -> dict[str, Any] | None:
            before = normalised_mapping(current.get("employee_mapping"))
            if replace:
                after = {ext: emp for ext, emp in requested.items() if emp}
            else:
                after = dict(before)
                for ext, emp in requested.items():
                    if emp is None:
                        after.pop(ext, None)
                    else:
                        after[ext] = emp
            seen["before"], seen["after"] = before, after
            if after == before:  # "{}" (or an edit that changes nothing) never writes
                return None
            return {**current, "employee_mapping": after}

        self.services.config.update_section(ent, CODE, transform)
        changed = mapping_diff(seen.get("before", {}), seen.get("after", {}))
        if changed:
            self.services.journal.write(config_change(ent, who, "mapping", changed))
        return self._body(self.tenant(ent), employees, None)
