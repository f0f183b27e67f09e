"""Click-to-call from MoySklad: contract §9's table, top to bottom.

| case                                                                    | answer                    |
|-------------------------------------------------------------------------|---------------------------|
| unknown or disabled webhook                                             | 404 (:meth:`tenant_for`)  |
| neither JSON nor form / JSON that does not parse                        | 415 / 400 (the view)      |
| missing fields, bad destNumber, unknown employee                        | 422                       |
| signature mismatch under ``enforce``                                    | 403 ``signature_mismatch``|
| same employee and destination within 10 s of a dialled click            | 200 ``duplicate``         |
| over ``max_per_minute`` dialled clicks in the last 60 s                 | 429 + ``Retry-After``     |
| no ``pbx``                                                              | 409                       |
| otherwise                                                               | 200 ``ok``, job enqueued  |

The last three and the insert run in one short transaction under a per-enterprise advisory lock, so
two simultaneous clicks cannot both pass the duplicate or the rate check. The originate itself (which
blocks until the employee answers) runs from a durable job (``job.py``).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from marshmallow import ValidationError

from host_app.integrations.contract import ApiError, JournalEntry
from ms_plugin.click_to_call import repo
from ms_plugin.click_to_call.employee import Caller, resolve_caller
from ms_plugin.click_to_call.schema import ClickRequestSchema
from ms_plugin.click_to_call.signature import SignatureCheck, verify
from ms_plugin.employees import load as load_employees
from ms_plugin.phones import PhoneNumber, format_for_dial, parse_dest_number
from ms_plugin.state import PluginState
from ms_plugin.tenant import Tenant

log = logging.getLogger(__name__)

CODE = "ms"
JOB_KIND = "ms.originate"
DUPLICATE_WINDOW_S = 10.0
RATE_WINDOW_S = 60.0
KEEP_DAYS = 7.0  # originates hold phone numbers; a week is plenty for matching and for support
_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DIAL = re.compile(r"\+?[0-9]{3,20}")


@dataclass(frozen=True)
class Click:
    """A validated request: who to ring and what to dial."""

    src_number: str
    dest_number: str  # as MoySklad sent it (the signature covers this form)
    uid: str
    phone: PhoneNumber
    dial_number: str  # in the tenant's dial_format
    caller: Caller


@dataclass(frozen=True)
class ClickResult:
    status: str  # "ok" | "duplicate"
    originate_id: int | None


class ClickToCallService:
    def __init__(self, state: PluginState) -> None:
        self._state = state
        self._services = state.services

    # -- 404 -----------------------------------------------------------------------------------------

    def tenant_for(self, key: str) -> Tenant:
        """The tenant of ``/ms/webhook/<key>``: its webhook uuid, else (seed form) its number while its
        ``signature_mode`` is ``enforce``: a guessable URL is acceptable only when requests are signed."""
        not_found = ApiError("unknown webhook", code="not_found", status=404)
        if not _KEY.fullmatch(key):
            raise not_found
        with self._services.db.connection() as conn:
            numbers = repo.enterprises_by_webhook(conn, key)
        if len(numbers) > 1:  # a copied uuid: refuse rather than ring in the wrong enterprise
            log.error("webhook uuid %s… belongs to %d enterprises; refusing it", key[:8], len(numbers))
            raise not_found
        tenant = self._state.tenants.get(numbers[0]) if numbers else None
        if tenant is not None and (tenant.config.webhook_uuid or "").lower() != key.lower():
            tenant = None  # rotated between the two reads
        if tenant is None:
            tenant = self._state.tenants.get(key)
            if tenant is None or tenant.config.click_to_call.signature_mode != "enforce":
                raise not_found
        # The tenant cache is keyed by the config version, which a change of ``active`` or ``pbx`` does
        # not bump: read the enterprise row itself, so a deactivated enterprise or a removed pbx counts now.
        enterprise = self._services.enterprises.get(tenant.number)
        if enterprise is None or not enterprise.active or not tenant.config.enabled:
            raise not_found
        return replace(tenant, enterprise=enterprise)

    # -- the rest of the table -----------------------------------------------------------------------

    def click(self, tenant: Tenant, payload: Mapping[str, Any], *, raw_body: bytes,
              signature: str | None) -> ClickResult:
        click = self._validate(tenant, payload)
        check = self._check_signature(tenant, click, raw_body, signature)
        return self._record(tenant, click, check)

    def _validate(self, tenant: Tenant, payload: Mapping[str, Any]) -> Click:
        try:
            data = ClickRequestSchema().load(payload)
        except ValidationError as err:
            self.refused(tenant, 422, "invalid request", request=_echo(payload), details=err.messages_dict)
            raise ApiError("the click-to-call request is not valid", code="validation_error", status=422,
                           details=err.messages_dict) from None
        request = _echo(data)
        try:
            phone = parse_dest_number(data["destNumber"], tenant.region)
        except ValueError as exc:
            details = {"destNumber": [str(exc)]}
            self.refused(tenant, 422, str(exc), request=request, details=details)
            raise ApiError("the click-to-call request is not valid", code="validation_error", status=422,
                           details=details) from None
        dial = format_for_dial(phone, tenant.config.click_to_call.dial_format, from_region=tenant.region)
        if not _DIAL.fullmatch(dial):  # digits and a leading "+" only, whatever the formatter did
            details = {"destNumber": ["cannot be dialled"]}
            self.refused(tenant, 422, "destNumber cannot be dialled", request=request, details=details)
            raise ApiError("the click-to-call request is not valid", code="validation_error", status=422,
                           details=details)
        caller = self._caller(tenant, data["uid"], data["srcNumber"])
        if caller is None:
            details = {"uid": ["no employee with a mapped PBX extension has this login"],
                       "srcNumber": ["no employee with a mapped PBX extension has this extension"]}
            self.refused(tenant, 422, "unknown employee", request=request, details=details, phone=phone.e164)
            raise ApiError("no employee with a mapped PBX extension matches uid or srcNumber",
                           code="validation_error", status=422, details=details)
        return Click(data["srcNumber"], data["destNumber"], data["uid"], phone, dial, caller)

    def _caller(self, tenant: Tenant, uid: str, src_number: str) -> Caller | None:
        mapping = tenant.config.employee_mapping
        # The cached directory first: a known employee is answered without a MoySklad round trip.
        with self._services.db.connection() as conn:
            employees = load_employees(conn, tenant.number)
        caller = resolve_caller(employees, mapping, uid=uid, src_number=src_number)
        if caller is None:
            # Maybe someone new: the directory refreshes from MoySklad only when its copy is stale.
            employees = self._state.directory.get(tenant, names=True)
            caller = resolve_caller(employees, mapping, uid=uid, src_number=src_number)
        return caller

    def _check_signature(self, tenant: Tenant, click: Click, raw_body: bytes,
                         header: str | None) -> SignatureCheck | None:
        mode = tenant.config.click_to_call.signature_mode
        if mode == "off":
            return None
        check = verify(tenant.config.integration_code, header, src_number=click.src_number,
                       dest_number=click.dest_number, uid=click.uid, raw_body=raw_body)
        entry = JournalEntry(
            tenant.number, CODE, "click_to_call.signature", "success" if check.ok else "error",
            phone=click.phone.e164, request={**_echo_click(click), "mode": mode}, response=check.journal(),
            error=None if check.ok else f"Lognex-Content-MD5 {check.reason}"
            + (" (signature_mode log: dialled anyway)" if mode == "log" else ""))
        self._services.journal.write(entry)
        if not check.ok and mode == "enforce":
            raise ApiError("the Lognex-Content-MD5 signature does not match", code="signature_mismatch",
                           status=403)
        return check

    def _record(self, tenant: Tenant, click: Click, check: SignatureCheck | None) -> ClickResult:
        ent, caller = tenant.number, click.caller
        cfg = tenant.config.click_to_call
        signature = "unchecked" if check is None else (check.variant or "mismatch")
        request = {**_echo_click(click), "extension": caller.extension, "employee_id": caller.employee_id,
                   "rule": caller.rule, "dial_number": click.dial_number, "signature": signature}
        with self._services.db.connection() as conn:
            repo.lock_clicks(conn, ent)
            duplicate = repo.recent_duplicate(conn, ent, caller.employee_id, click.phone.digits,
                                              DUPLICATE_WINDOW_S)
            if duplicate is not None:
                self._services.journal.write(JournalEntry(
                    ent, CODE, "click_to_call.request", "skipped", phone=click.phone.e164, request=request,
                    response={"status": "duplicate", "originate_id": duplicate}), conn=conn)
                return ClickResult("duplicate", duplicate)
            wait = repo.rate_retry_after(conn, ent, cfg.max_per_minute, RATE_WINDOW_S)
            if wait is not None:
                retry_after = str(max(1, math.ceil(wait)))
                self._services.journal.write(JournalEntry(
                    ent, CODE, "click_to_call.request", "error", phone=click.phone.e164, request=request,
                    response={"status": 429, "retry_after": retry_after},
                    error=f"over {cfg.max_per_minute} clicks per minute"), conn=conn)
                conn.commit()  # keep the journal row; nothing else was written
                raise ApiError(f"more than {cfg.max_per_minute} click-to-call requests in a minute",
                               code="rate_limited", status=429, headers={"Retry-After": retry_after},
                               details={"retry_after": int(retry_after)})
            if not tenant.enterprise.has_pbx:
                self._services.journal.write(JournalEntry(
                    ent, CODE, "click_to_call.request", "error", phone=click.phone.e164, request=request,
                    response={"status": 409}, error="the enterprise has no pbx settings"), conn=conn)
                conn.commit()
                raise ApiError("the enterprise has no PBX settings to place the call with",
                               code="pbx_not_configured", status=409)
            originate_id = repo.insert_originate(
                conn, ent, extension=caller.extension, employee_id=caller.employee_id,
                dest_digits=click.phone.digits, dest_e164=click.phone.e164, dial_number=click.dial_number,
                signature=signature)
            job_id = self._services.jobs.enqueue(JOB_KIND, {"originate_id": originate_id}, enterprise_number=ent,
                                                 key=f"ms.originate:{ent}:{caller.extension}", conn=conn)
            self._services.journal.write(JournalEntry(
                ent, CODE, "click_to_call.request", "success", phone=click.phone.e164, request=request,
                response={"status": "ok", "originate_id": originate_id}), conn=conn)
            repo.prune(conn, ent, KEEP_DAYS)
        if job_id is not None:
            self._services.jobs.run_soon([job_id])
        return ClickResult("ok", originate_id)

    def refused(self, tenant: Tenant, status: int, error: str, *, request: Any = None, details: Any = None,
                phone: str | None = None) -> None:
        """Journal a click refused before it was recorded (the admin's answer to "why did nothing ring")."""
        self._services.journal.write(JournalEntry(
            tenant.number, CODE, "click_to_call.request", "error", phone=phone, request=request,
            response={"status": status, "details": details}, error=error))


def _echo(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The known fields of a request for the journal (repr-cut: a hostile body may hold anything)."""
    out: dict[str, Any] = {}
    for key in ("srcNumber", "destNumber", "uid"):
        if key in payload:
            value = payload[key]
            out[key] = value[:100] if isinstance(value, str) else repr(value)[:100]
    return out


def _echo_click(click: Click) -> dict[str, Any]:
    return {"srcNumber": click.src_number, "destNumber": click.dest_number, "uid": click.uid}
