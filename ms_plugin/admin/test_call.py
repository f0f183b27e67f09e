"""``POST /ms-admin/test-call/<ent>``: a call card on one employee's screen, hidden a few seconds later.

The card is shown now (``POST /call`` with an inline ``SHOW``), so the admin hears at once when MoySklad
refuses; the hide is a delayed durable job (``HIDE_ALL`` with ``endTime``), so it happens even if this
worker restarts. The Phone API cannot delete calls: the call stays in MoySklad's history with the fixed
test number and a comment saying so. No client, order or task is created (nothing of the call flow runs).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

from host_app.integrations.contract import ApiError, Job, JournalEntry, PermanentJobError, RetryLater
from ms_plugin.admin.config_service import CODE
from ms_plugin.admin.probe import describe_error
from ms_plugin.calls.timefmt import to_msk
from ms_plugin.moysklad.context import bind_request_context
from ms_plugin.moysklad.errors import AuthFailed, FeatureUnavailable, MoySkladError, NotFound
from ms_plugin.state import PluginState

log = logging.getLogger(__name__)

HIDE_KIND = "ms.admin_test_call_hide"
COMMENT = "Тестовый звонок из админки (можно удалить)"


class TestCalls:
    __test__ = False  # not a pytest class, whatever its name says

    def __init__(self, state: PluginState) -> None:
        self.state = state
        self.services = state.services

    def start(self, ent: str, extension: str) -> dict[str, Any]:
        tenant = self.state.tenants.get(ent)
        if tenant is None:
            raise ApiError(f"enterprise {ent} not found", code="not_found", status=404)
        employees = self.state.directory.get(tenant)
        employee_id = employees.effective_mapping(tenant.config.employee_mapping).get(extension)
        if employee_id is None:
            raise ApiError("this extension is not mapped", code="validation_error", status=422,
                           details={"extension": [f"Добавочный {extension} не сопоставлен сотруднику МойСклад."]})
        if tenant.phone is None:
            raise ApiError("the Phone API key is not set", code="not_configured", status=409,
                           details={"integration_code": ["Сначала сохраните ключ интеграции."]})
        info = employees.by_id.get(employee_id)
        ms_ext = (info.ms_extension if info else None) or extension
        external_id = f"ms-admin-test-{secrets.token_hex(8)}"
        employee = tenant.phone.employee_meta(employee_id)
        body = {
            "externalId": external_id, "number": self.state.settings.test_call_number, "isIncoming": True,
            "startTime": to_msk(dt.datetime.now(dt.timezone.utc)), "extension": ms_ext, "employee": employee,
            "comment": COMMENT,
            "events": [{"eventType": "SHOW", "extension": ms_ext, "employee": employee, "sequence": 1}],
        }
        with bind_request_context(ent, external_id, self.state.settings.test_call_number):
            try:
                tenant.phone.create_call(body, budget="hot")
            except MoySkladError as exc:
                said = describe_error(exc, "phone")
                self._journal(ent, external_id, "error", extension, employee_id, said["message"])
                raise ApiError(said["message"], code="moysklad_error", status=502,
                               details={"moysklad": said["code"]}) from None
        hide_after = self.state.settings.test_call_hide_s
        self.services.jobs.enqueue(HIDE_KIND, {"external_id": external_id}, enterprise_number=ent,
                                   key=f"ms:test-call:{ent}:{external_id}", delay=hide_after)
        self._journal(ent, external_id, "success", extension, employee_id, None)
        return {"external_id": external_id, "employee_id": employee_id, "extension": extension,
                "hide_after_s": hide_after}

    def hide(self, job: Job) -> None:
        """The delayed job: ``HIDE_ALL`` and ``endTime`` on the test call."""
        ent = str(job.enterprise_number)
        external_id = str(job.payload["external_id"])
        tenant = self.state.tenants.get(ent)
        if tenant is None or tenant.phone is None:
            raise PermanentJobError("the tenant or its Phone API key is gone")
        body = {"endTime": to_msk(dt.datetime.now(dt.timezone.utc)),
                "events": [{"eventType": "HIDE_ALL", "sequence": 2}]}
        with bind_request_context(ent, external_id, self.state.settings.test_call_number):
            try:
                tenant.phone.update_call_by_external_id(external_id, body)
            except (AuthFailed, FeatureUnavailable, NotFound) as exc:
                raise PermanentJobError(f"test call {external_id}: {exc}") from None
            except MoySkladError as exc:
                if exc.permanent:
                    raise PermanentJobError(f"test call {external_id}: {exc}") from None
                raise RetryLater(exc.retry_after or 5.0, str(exc)) from None

    def _journal(self, ent: str, external_id: str, status: str, extension: str, employee_id: str,
                 error: str | None) -> None:
        self.services.journal.write(JournalEntry(
            ent, CODE, "admin.test_call", status, call_unique_id=external_id,
            phone=self.state.settings.test_call_number,
            request={"extension": extension, "employee_id": employee_id}, error=error))
