"""``ClientLookup``: who is calling (counterparty or contact person), cached across workers.

* Cache: the host's PostgreSQL key-value cache (every worker and machine sees one copy), key
  ``ms:lookup:{ent}:{config_version}:{e164}``: a config change bumps the version, so old answers are
  simply never read again. Hits live ``lookup_ttl_hit_s``, misses ``lookup_ttl_miss_s``; failures are
  never cached.
* Single-flight per enterprise and number (``flight.py``): a burst of calls from one number makes one
  MoySklad search.
* ``budget``: the answer comes within it; the search goes on in the background and fills the cache.
* Never raises: MoySklad and database failures become ``unavailable`` and are journaled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from host_app.integrations.contract import JournalEntry, Responsible
from ms_plugin.lookup.flight import single_flight
from ms_plugin.lookup.matching import display_name
from ms_plugin.lookup.model import (
    CACHEABLE,
    LookupResult,
    ResponsibleAnswer,
    result_from_json,
    result_to_json,
)
from ms_plugin.lookup.responsible import ResponsibleChain, responsible_key
from ms_plugin.lookup.search import SearchOutcome, search_client
from ms_plugin.moysklad.context import bind_request_context
from ms_plugin.moysklad.errors import AuthFailed, MoySkladError
from ms_plugin.moysklad.models import Counterparty
from ms_plugin.phones import PhoneNumber, classify
from ms_plugin.tenant import Tenant

log = logging.getLogger(__name__)

CODE = "ms"
LEASE_TTL_S = 30.0  # longer than a hot search; renewed between query forms
FOLLOWER_WAIT_S = 10.0  # an unbudgeted caller waits this long for another worker's search
REQUEST_BUDGET_S = 8.0  # contract methods and internal routes answer within this


def lookup_key(ent: str, version: int, e164: str) -> str:
    return f"ms:lookup:{ent}:{version}:{e164}"


def lease_key(ent: str, e164: str) -> str:
    return f"ms:lookup:{ent}:{e164}"


class ClientLookup:
    def __init__(self, state: Any) -> None:
        self.state = state  # PluginState
        self.services = state.services
        self.chain = ResponsibleChain(state, self)

    # -- the lookup ----------------------------------------------------------------------------------

    def find(self, tenant: Tenant, number: PhoneNumber, *, budget: float | None = None) -> LookupResult:
        """found / not_found / ambiguous (cached), unavailable (never cached), skipped (no JSON API)."""
        if tenant.json_api is None:
            reason = "json_api_refused" if tenant.json_invalid else "json_api_not_configured"
            return LookupResult.skipped(reason)
        key = lookup_key(tenant.number, tenant.version, number.e164)
        try:
            cached = self._read(key)
            if cached is not None:
                return cached
            wait = FOLLOWER_WAIT_S if budget is None else max(0.0, budget)
            client_budget = "background" if budget is None else "hot"
            answer = single_flight(
                self.services.leases, lease_key(tenant.number, number.e164), LEASE_TTL_S,
                read=lambda: self._read(key),
                compute=lambda lease: self._search(tenant, number, key, lease, client_budget),
                deadline=time.monotonic() + wait, bounded=budget is not None)
        except Exception as exc:  # the database went away: no answer, but never an exception
            return self._failed(tenant, number, exc)
        if answer is None:
            return LookupResult.unavailable(f"timeout: no answer within {wait:.2f}s")
        return answer

    def remember(self, tenant: Tenant, number: PhoneNumber, counterparty: Counterparty) -> None:
        """Cache a counterparty we just created for this number (the call flow knows it exactly)."""
        try:
            self._store(lookup_key(tenant.number, tenant.version, number.e164),
                        LookupResult("found", counterparty=counterparty))
            self.services.cache.delete(responsible_key(tenant.number, tenant.version, number.e164))
        except Exception as exc:
            log.warning("could not cache the new client of %s: %s", tenant.number, exc)

    def invalidate(self, enterprise_number: str, number: PhoneNumber | str) -> None:
        """Forget what we know about the number (after an owner change, before a create)."""
        e164 = number.e164 if isinstance(number, PhoneNumber) else str(number)
        enterprise = self.services.enterprises.get(enterprise_number)
        if enterprise is None:
            return
        self.services.cache.delete(lookup_key(enterprise_number, enterprise.config_version, e164))
        self.services.cache.delete(responsible_key(enterprise_number, enterprise.config_version, e164))

    # -- names and the responsible manager -----------------------------------------------------------

    def phone_of(self, tenant: Tenant, number: PhoneNumber | str | None) -> PhoneNumber | None:
        """A phone to look up, or None for extensions, hidden and garbage numbers."""
        if isinstance(number, PhoneNumber):
            return number
        found = classify(number, tenant.region)
        return found.phone if found.kind == "phone" else None

    def customer_name(self, tenant: Tenant, number: PhoneNumber | str | None, *,
                      budget: float | None = None) -> str | None:
        """``Company`` or ``Company (Person)``, cleaned for a handset; None when the name is only the
        number (auto-created clients), for ambiguous numbers, extensions and hidden numbers."""
        phone = self.phone_of(tenant, number)
        if phone is None:
            return None
        result = self.find(tenant, phone, budget=budget)
        return display_name(result.counterparty, result.contact) if result.found else None

    def responsible(self, tenant: Tenant, number: PhoneNumber, *, ringing: Sequence[str] = (),
                    exclude_call: str | None = None, need_extension: bool,
                    budget: float | None = None) -> ResponsibleAnswer:
        """The one chain of contract §6 (see ``responsible.py``); never raises."""
        try:
            return self.chain.resolve(tenant, number, ringing=tuple(ringing), exclude_call=exclude_call,
                                      need_extension=need_extension, budget=budget)
        except Exception as exc:
            log.exception("responsible manager for %s failed", tenant.number)
            self._journal(tenant, number, "lookup.responsible", "error", error=str(exc)[:500])
            return ResponsibleAnswer.none()

    # -- the contract (Smart Redirect through the host) ----------------------------------------------

    def enabled_tenant(self, enterprise_number: str) -> Tenant | None:
        tenant = self.state.tenants.get(enterprise_number)
        if tenant is None or not tenant.config.enabled or not tenant.enterprise.active:
            return None
        return tenant

    def customer_name_for(self, enterprise_number: str, phone_raw: str) -> str | None:
        try:
            tenant = self.enabled_tenant(enterprise_number)
            return None if tenant is None else self.customer_name(tenant, phone_raw, budget=REQUEST_BUDGET_S)
        except Exception as exc:
            return self._contract_failed(enterprise_number, "lookup.customer_name", exc)

    def responsible_for(self, enterprise_number: str, phone_raw: str) -> Responsible | None:
        try:
            tenant = self.enabled_tenant(enterprise_number)
            phone = self.phone_of(tenant, phone_raw) if tenant is not None else None
            if tenant is None or phone is None:
                return None
            answer = self.chain.routing(tenant, phone, budget=REQUEST_BUDGET_S)
            if answer is None:
                return None
            return Responsible(extension=answer.extension, manager_id=answer.employee_id, rule=answer.rule)
        except Exception as exc:
            return self._contract_failed(enterprise_number, "lookup.responsible", exc)

    # -- internals -----------------------------------------------------------------------------------

    def _read(self, key: str) -> LookupResult | None:
        return result_from_json(self.services.cache.get(key))

    def _store(self, key: str, result: LookupResult) -> None:
        if result.status not in CACHEABLE:
            return
        settings = self.state.settings
        ttl = settings.lookup_ttl_miss_s if result.status == "not_found" else settings.lookup_ttl_hit_s
        if ttl > 0:
            self.services.cache.set(key, result_to_json(result), ttl)

    def _search(self, tenant: Tenant, number: PhoneNumber, key: str, lease: Any, client_budget: str) -> LookupResult:
        started = time.monotonic()
        try:
            with bind_request_context(tenant.number, None, number.e164):
                outcome = self._run_search(tenant, number, lease, client_budget)
        except Exception as exc:
            return self._failed(tenant, number, exc)
        result = outcome.result
        try:
            self._store(key, result)
        except Exception as exc:
            log.warning("lookup cache write failed for %s: %s", tenant.number, exc)
        self._journal(tenant, number, "lookup.client", "success", response={
            "status": result.status, "counterparty": result.counterparty.id if result.counterparty else None,
            "contact": result.contact.id if result.contact else None,
            "candidates": [c.id for c in result.candidates], "requests": outcome.requests, "form": outcome.form,
        }, duration_ms=int((time.monotonic() - started) * 1000))
        return result

    def _run_search(self, tenant: Tenant, number: PhoneNumber, lease: Any, client_budget: str) -> SearchOutcome:
        try:
            return search_client(tenant.json_api, number, tenant.region, budget=client_budget,
                                 between_requests=lambda: lease.renew(LEASE_TTL_S))
        except AuthFailed:
            # Contract §7: a 401 is retried once, with the config re-read (the admin may just have
            # fixed it), before the credentials are marked invalid and lookups are skipped.
            fresh = self.state.tenants.get(tenant.number) or tenant
            if fresh.json_api is None:
                raise
            try:
                return search_client(fresh.json_api, number, fresh.region, budget=client_budget)
            except AuthFailed as exc:
                self.state.tenants.mark_json_invalid(fresh, f"JSON API refused the credentials: {exc}")
                raise

    def _failed(self, tenant: Tenant, number: PhoneNumber, exc: Exception) -> LookupResult:
        if isinstance(exc, MoySkladError):
            log.info("client lookup for %s failed: %r", tenant.number, exc)
        else:
            log.exception("client lookup for %s failed", tenant.number)
        message = f"{type(exc).__name__}: {exc}"[:500]
        self._journal(tenant, number, "lookup.client", "error", error=message)
        return LookupResult.unavailable(message)

    def _journal(self, tenant: Tenant, number: PhoneNumber, event: str, status: str, *, response: Any = None,
                 error: str | None = None, duration_ms: int | None = None, call: str | None = None) -> None:
        self.services.journal.write(JournalEntry(tenant.number, CODE, event, status, call_unique_id=call,
                                                 phone=number.e164, response=response, error=error,
                                                 duration_ms=duration_ms))

    def _contract_failed(self, enterprise_number: str, event: str, exc: Exception) -> None:
        log.exception("%s for %s failed", event, enterprise_number)
        self.services.journal.write(JournalEntry(enterprise_number, CODE, event, "error",
                                                 error=f"{type(exc).__name__}: {exc}"[:500]))
        return None
