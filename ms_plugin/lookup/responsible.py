"""The responsible manager: one chain (contract §6) for tasks, orders and Smart Redirect routing.

1. ``owner``: the client's owner, if mapped to a PBX extension (an unmapped owner is usually the
   integration's own API user, which auto-created clients get by default);
2. ``open_order``: the owner of the client's latest order that is not in a final state (state types
   ``Successful``/``Unsuccessful``);
3. ``last_talked``: the last employee who answered a call from this number (our own call table);
4. ``first_ringing``: the first ringing PBX extension that is mapped (call flow only);
5. ``none``.

With ``need_extension`` (routing) a step whose employee has no PBX extension is skipped. The rule that
fired is journaled. The routing answer is cached like the lookup (short TTL, single-flight), so Smart
Redirect's warm path costs one cache read and no MoySklad request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from host_app.integrations.contract import JournalEntry
from ms_plugin.calls import repo as calls_repo
from ms_plugin.lookup.flight import single_flight
from ms_plugin.lookup.model import LookupResult, ResponsibleAnswer, responsible_from_json, responsible_to_json
from ms_plugin.moysklad.context import bind_request_context
from ms_plugin.moysklad.errors import MoySkladError
from ms_plugin.phones import PhoneNumber
from ms_plugin.tenant import Tenant

log = logging.getLogger(__name__)

FINAL_STATE_TYPES = frozenset({"Successful", "Unsuccessful"})
ORDER_SCAN = 50  # newest orders looked at (one request; expand=state needs limit <= 100)
STATES_TTL_S = 600.0
LEASE_TTL_S = 30.0


def responsible_key(ent: str, version: int, e164: str) -> str:
    return f"ms:responsible:{ent}:{version}:{e164}"


class ResponsibleChain:
    def __init__(self, state: Any, lookup: Any) -> None:
        self.state = state
        self.services = state.services
        self.lookup = lookup  # ClientLookup

    # -- entry points --------------------------------------------------------------------------------

    def routing(self, tenant: Tenant, number: PhoneNumber, *, budget: float) -> ResponsibleAnswer | None:
        """The cached routing answer (``need_extension``), computed once per burst; None when there was
        no answer within ``budget`` (the computation goes on and fills the cache)."""
        key = responsible_key(tenant.number, tenant.version, number.e164)
        hit = self._read(key)
        if hit is not None:
            return hit
        return single_flight(
            self.services.leases, f"ms:responsible:{tenant.number}:{number.e164}", LEASE_TTL_S,
            read=lambda: self._read(key),
            compute=lambda _lease: self._cached_chain(tenant, number, key, budget),
            deadline=time.monotonic() + budget, bounded=True)

    def resolve(self, tenant: Tenant, number: PhoneNumber, *, ringing: tuple[str, ...], exclude_call: str | None,
                need_extension: bool, budget: float | None) -> ResponsibleAnswer:
        if need_extension and not ringing and exclude_call is None:
            key = responsible_key(tenant.number, tenant.version, number.e164)
            hit = self._read(key)
            return hit if hit is not None else self._cached_chain(tenant, number, key, budget)
        answer, _cacheable = self.chain(tenant, number, ringing=ringing, exclude_call=exclude_call,
                                        need_extension=need_extension, budget=budget)
        return answer

    # -- the chain -----------------------------------------------------------------------------------

    def chain(self, tenant: Tenant, number: PhoneNumber, *, ringing: tuple[str, ...], exclude_call: str | None,
              need_extension: bool, budget: float | None) -> tuple[ResponsibleAnswer, bool]:
        """(answer, cacheable): an answer reached while MoySklad failed is not cached."""
        mapping, ext_of = self._mapping(tenant)
        trace: dict[str, Any] = {}
        cacheable = True

        def take(employee: str | None, rule: str, extension: str | None = None) -> ResponsibleAnswer | None:
            if not employee:
                return None
            ext = extension or ext_of.get(employee)
            if need_extension and not ext:
                trace[rule] = f"employee {employee} has no PBX extension"
                return None
            return ResponsibleAnswer(employee, ext, rule)

        found = self.lookup.find(tenant, number, budget=budget)
        trace["client"] = found.status
        if found.status == "unavailable":
            cacheable = False
        answer = None
        owner = _common_owner(found)
        if owner is not None:
            # The owner counts only when mapped: auto-created clients belong to the API user.
            answer = take(owner, "owner") if owner in ext_of else None
            if answer is None:
                trace.setdefault("owner", f"owner {owner} is not mapped to an extension")
        if answer is None and found.found:
            order_owner, ok = self._open_order_owner(tenant, number, found.counterparty.id, trace)
            cacheable = cacheable and ok
            answer = take(order_owner, "open_order")
        if answer is None:
            with self.services.db.connection() as conn:
                last = calls_repo.last_answered_employee(conn, tenant.number, number.e164, exclude_call)
            answer = take(last, "last_talked")
        if answer is None:
            ext = next((e for e in ringing if e in mapping), None)
            answer = take(mapping.get(ext) if ext else None, "first_ringing", ext)
        answer = answer or ResponsibleAnswer.none()
        self.services.journal.write(JournalEntry(
            tenant.number, "ms", "lookup.responsible", "success", call_unique_id=exclude_call, phone=number.e164,
            response={"rule": answer.rule, "employee_id": answer.employee_id, "extension": answer.extension,
                      "need_extension": need_extension, "steps": trace}))
        return answer, cacheable

    # -- parts ---------------------------------------------------------------------------------------

    def _cached_chain(self, tenant: Tenant, number: PhoneNumber, key: str, budget: float | None) -> ResponsibleAnswer:
        answer, cacheable = self.chain(tenant, number, ringing=(), exclude_call=None, need_extension=True,
                                       budget=budget)
        ttl = self.state.settings.lookup_ttl_miss_s
        if cacheable and ttl > 0:
            self.services.cache.set(key, responsible_to_json(answer), ttl)
        return answer

    def _read(self, key: str) -> ResponsibleAnswer | None:
        return responsible_from_json(self.services.cache.get(key))

    def _mapping(self, tenant: Tenant) -> tuple[dict[str, str], dict[str, str]]:
        """(PBX extension -> employee, employee -> its PBX extension). An employee with several
        extensions is reached at the admin's explicit one first, then the shortest/lowest."""
        employees = self.state.directory.get(tenant)
        explicit: Mapping[str, str] = tenant.config.employee_mapping
        mapping = employees.effective_mapping(explicit)
        ext_of: dict[str, str] = {}
        for ext in sorted(mapping, key=lambda e: (e not in explicit, len(e), e)):
            ext_of.setdefault(mapping[ext], ext)
        return mapping, ext_of

    def _open_order_owner(self, tenant: Tenant, number: PhoneNumber, counterparty_id: str,
                          trace: dict[str, Any]) -> tuple[str | None, bool]:
        """(owner of the newest non-final order, the question could be answered)."""
        api = tenant.json_api
        if api is None:
            return None, True
        try:
            with bind_request_context(tenant.number, None, number.e164):
                orders = api.list_customer_orders(counterparty_id, limit=ORDER_SCAN)
                final_ids: frozenset[str] | None = None
                for order in orders:  # newest first
                    if order.state_type is not None:
                        final = order.state_type in FINAL_STATE_TYPES
                    elif order.state_id is None:
                        final = False  # an order without a state is not closed
                    else:  # expand=state was not honoured: the account's state list tells
                        final_ids = final_ids if final_ids is not None else self._final_states(tenant)
                        final = order.state_id in final_ids
                    if not final:
                        trace["open_order"] = order.id
                        return order.owner_id, True
        except MoySkladError as exc:
            log.info("orders of %s for the responsible manager failed: %r", counterparty_id, exc)
            trace["open_order"] = f"error: {type(exc).__name__}"
            return None, False
        trace["open_order"] = None
        return None, True

    def _final_states(self, tenant: Tenant) -> frozenset[str]:
        key = f"ms:orderstates:{tenant.number}:{tenant.version}"
        cached = self.services.cache.get(key)
        if isinstance(cached, list):
            return frozenset(str(s) for s in cached)
        states = tenant.json_api.customer_order_states()
        final = sorted(s.id for s in states if s.state_type in FINAL_STATE_TYPES)
        self.services.cache.set(key, final, STATES_TTL_S)
        return frozenset(final)


def _common_owner(found: LookupResult) -> str | None:
    """The client's owner; for an ambiguous number the owner all candidates share (picking one
    candidate's owner would be picking the first row)."""
    if found.found:
        return found.counterparty.owner_id  # type: ignore[union-attr]
    if found.status == "ambiguous":
        owners = {c.owner_id for c in found.candidates}
        if len(owners) == 1:
            return owners.pop()
    return None
