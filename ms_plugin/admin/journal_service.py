"""``GET /ms-admin/journal/<ent>.json`` and ``POST /ms-admin/journal/<ent>/resend``."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from typing import Any

from host_app.integrations.contract import ApiError
from ms_plugin.admin import journal_repo
from ms_plugin.admin.journal_repo import JournalQuery
from ms_plugin.phones import normalize, search_forms
from ms_plugin.state import PluginState

log = logging.getLogger(__name__)

REPROCESS_KIND = "ms.reprocess_call"
_NON_DIGITS = re.compile(r"[^0-9]")


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else None


def item(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": int(row["id"]), "created_at": _iso(row["created_at"]), "event_type": row["event_type"],
        "status": row["status"], "call_unique_id": row["call_unique_id"], "phone": row["phone"],
        "request": row["request_data"], "response": row["response_data"], "error": row["error_message"],
        "duration_ms": row["duration_ms"],
    }


class JournalService:
    def __init__(self, state: PluginState) -> None:
        self.state = state
        self.services = state.services

    def _region(self, ent: str) -> str:
        tenant = self.state.tenants.get(ent)
        if tenant is None:
            raise ApiError(f"enterprise {ent} not found", code="not_found", status=404)
        return tenant.region

    def page(self, ent: str, args: Mapping[str, Any]) -> dict[str, Any]:
        region = self._region(ent)
        phones: list[str] = []
        digits = None
        if args.get("phone"):
            number = normalize(args["phone"], region)
            if number is not None:
                # Journal rows store E.164; older rows may hold other written forms of the number.
                phones = list(dict.fromkeys([number.e164, number.digits, *search_forms(number)]))
            else:
                digits = _NON_DIGITS.sub("", args["phone"])
                if len(digits) < 3:
                    raise ApiError("the phone filter is not valid", code="validation_error", status=422,
                                   details={"phone": ["Введите номер телефона или хотя бы 3 цифры."]})
        event_type = args.get("event_type") or None
        prefix = None
        if event_type and event_type.endswith(("*", ".")):
            prefix, event_type = event_type.rstrip("*"), None
        with self.services.db.connection() as conn:
            call_ids = journal_repo.call_family(conn, ent, args["call_id"]) if args.get("call_id") else []
            rows, next_id = journal_repo.page(conn, JournalQuery(
                ent, phones=phones, phone_digits=digits, call_ids=call_ids, event_type=event_type,
                event_prefix=prefix, status=args.get("status"), since=args.get("since"),
                until=args.get("until"), before_id=args.get("before_id"), limit=args["limit"]))
        return {"items": [item(r) for r in rows], "next_before_id": next_id}

    def resend(self, ent: str, call_id: str) -> dict[str, Any]:
        """Queue the call's processing again. Idempotent: the call flow skips what MoySklad has, and
        ``dedupe`` keeps at most one pending re-run per call however often the button is pressed."""
        self._region(ent)
        with self.services.db.connection() as conn:
            root = journal_repo.call_exists(conn, ent, call_id)
        if root is None:
            raise ApiError(f"call {call_id} not found", code="not_found", status=404)
        try:
            # The key is the one the host gives the call's event jobs: a re-run never overlaps them.
            job_id = self.services.jobs.enqueue(REPROCESS_KIND, {"unique_id": root}, enterprise_number=ent,
                                                key=f"ms:{ent}:{root}", dedupe=True)
        except ValueError:  # the call flow is not loaded in this worker
            raise ApiError("re-processing is not available", code="not_available", status=503) from None
        if job_id is not None:
            self.services.jobs.run_soon([job_id])
        return {"queued": True, "unique_id": root, "job_id": job_id}
