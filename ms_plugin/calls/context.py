"""What both paths of a call need: the tenant, the call's row, its number, the employee mapping.

A call is driven by two jobs with two leases: the card path (Phone API writes: cards and the call
record, ``phone_run.py``) and the JSON follow-up (client, order, tasks, ``followup.py``). Each saves
only the ``done`` keys it changed, so they never overwrite each other; only the card path folds facts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from host_app.integrations.contract import JournalEntry
from ms_plugin.calls.model import CallRecord
from ms_plugin.calls.plan import TenantView
from ms_plugin.moysklad.models import bare_meta
from ms_plugin.phones import PhoneNumber, classify as classify_number
from ms_plugin.tenant import Tenant

log = logging.getLogger(__name__)

MAX_STEPS = 25


class CallContext:
    def __init__(self, state: Any, tenant: Tenant, rec: CallRecord, save: Callable[[CallRecord], None]) -> None:
        self.state = state
        self.tenant = tenant
        self.rec = rec
        self.save = save
        self.skip_json = tenant.json_api is None
        self.number, self.display_number, self.hidden = resolve_number(rec, tenant.region)
        if self.number is not None and rec.phone != self.number.e164:
            rec.phone = self.number.e164
        employees = state.directory.get(tenant)
        self.mapping = employees.effective_mapping(tenant.config.employee_mapping)
        json_base = str(state.clients.json_base_url(tenant.config))
        self.view = TenantView(
            timezone=tenant.enterprise.timezone, cfg=tenant.config, mapping=self.mapping,
            ms_extension=employees.ms_extensions(),
            employee_ref=lambda emp: bare_meta(json_base, "employee", emp),
            counterparty_ref=lambda cp: bare_meta(json_base, "counterparty", cp))

    @property
    def json_possible(self) -> bool:
        """Whether JSON API work applies to this call at all (credentials, a real number)."""
        return not self.skip_json and self.number is not None

    def record(self) -> bool:
        self.save(self.rec)
        return True

    def journal(self, event_type: str, status: str, *, response: Any = None, error: str | None = None) -> None:
        self.state.services.journal.write(JournalEntry(
            self.tenant.number, "ms", event_type, status, call_unique_id=self.rec.unique_id,
            phone=self.rec.phone, response=response, error=error))


def resolve_number(rec: CallRecord, region: str) -> tuple[PhoneNumber | None, str | None, bool]:
    """(E.164 number for lookups, what MoySklad's ``number`` shows, hidden?)."""
    found = classify_number(rec.facts.phone_raw, region)
    if found.kind == "phone" and found.phone is not None:
        return found.phone, found.phone.e164, False
    if found.kind == "extension" and found.extension:  # a short service number from a trunk
        return None, found.extension, False
    return None, None, True
