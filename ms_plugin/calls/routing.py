"""Which call an event belongs to: its own, a parent's (a leg), none (internal), or not known yet.

Decided once per UniqueId by ``classify`` and stored in ``ms_calls``; a UniqueId first seen through a
bridge or a live hangup stays pending until its start/dial arrives (events come out of order), or its
hangup says it was internal, or the grace period turns a lost-dial hangup into a call.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from host_app.integrations.contract import CallEvent, JournalEntry
from ms_plugin.calls import repo
from ms_plugin.calls.classify import Decision, classify
from ms_plugin.calls.model import KIND_CALL, KIND_INTERNAL, KIND_LEG, KIND_PENDING, CallRecord, Done, Facts
from ms_plugin.calls.pbx_event import fold
from ms_plugin.tenant import Tenant

LIVE_WINDOW = dt.timedelta(hours=2)
FOLLOW_ME_WINDOW = dt.timedelta(minutes=10)  # a follow-me leg starts while its call still rings


def route(state: Any, tenant: Tenant, event: CallEvent) -> str | None:
    """The UniqueId of the call this event belongs to, or None when it reaches no MoySklad call."""
    services = state.services
    ent, uid = tenant.number, event.unique_id
    journal: list[JournalEntry] = []
    with services.db.connection() as conn:
        rec = repo.get(conn, ent, uid)
        reclassify = rec is not None and rec.kind == KIND_PENDING and event.event_type in ("start", "dial", "hangup")
        if rec is None or reclassify:
            decision = _decide(services, tenant, event, conn)
            if rec is None:
                rec = repo.insert(conn, CallRecord(ent, uid, decision.kind, decision.parent,
                                                   Facts(crm_originated=decision.crm_originated), Done(), None,
                                                   "open"))
            elif decision.kind != KIND_PENDING:
                rec.kind, rec.parent_unique_id = decision.kind, decision.parent
                rec.facts.crm_originated = rec.facts.crm_originated or decision.crm_originated
                repo.save(conn, rec)
            if decision.kind != KIND_CALL and (not reclassify or decision.kind != KIND_PENDING):
                journal.append(JournalEntry(ent, "ms", f"call.{decision.kind}", "skipped", call_unique_id=uid,
                                            response={"reason": decision.reason, "parent": decision.parent}))
        for entry in journal:  # in this transaction: never a second pool connection while holding one
            services.journal.write(entry, conn=conn)
        if rec.kind == KIND_PENDING:
            _hold_pending(state, conn, tenant, rec, event)
            return None
    if rec.kind == KIND_INTERNAL:
        return None
    if rec.kind == KIND_LEG:
        return rec.parent_unique_id
    return uid


def _decide(services: Any, tenant: Tenant, event: CallEvent, conn: Any) -> Decision:
    ent = tenant.number

    def live_incoming() -> list[CallRecord]:
        return repo.live_incoming(conn, ent, event.received_at - LIVE_WINDOW, event.received_at)

    def recent_calls_from(tails: list[str]) -> list[CallEvent]:
        # The parent may not be processed yet (its job runs beside this one): its stored events are.
        return services.events.recent_by_phone(ent, event.received_at - FOLLOW_ME_WINDOW, tails,
                                               ("start", "dial", "hangup"), conn=conn)

    def originate_matches(ext: str, phone: str) -> bool:
        from ms_plugin.click_to_call.originates import match_originate

        return bool(match_originate(conn, ent, ext, phone, at=event.received_at, unique_id=event.unique_id))

    return classify(event, region=tenant.region, live_incoming=live_incoming,
                    recent_calls_from=recent_calls_from, originate_matches=originate_matches)


def _hold_pending(state: Any, conn: Any, tenant: Tenant, rec: CallRecord, event: CallEvent) -> None:
    """Keep the facts of a UniqueId we cannot place yet; schedule the lost-dial promotion."""
    if fold(rec.facts, event, own=True):
        repo.save(conn, rec)
    if event.event_type == "hangup" and event.origin == "live":
        state.services.jobs.enqueue(
            "ms.promote_pending", {"unique_id": rec.unique_id}, enterprise_number=tenant.number,
            key=f"ms:{tenant.number}:{rec.unique_id}", delay=state.settings.pending_grace_s, dedupe=True,
            conn=conn)


def promote(state: Any, tenant: Tenant, unique_id: str) -> bool:
    """After the grace period a pending hangup with no start/dial is a call of its own; True if so."""
    with state.services.db.connection() as conn:
        rec = repo.get(conn, tenant.number, unique_id)
        if rec is None or rec.kind != KIND_PENDING or not rec.facts.hung_up:
            return False
        rec.kind = KIND_CALL
        repo.save(conn, rec)
        state.services.journal.write(JournalEntry(
            tenant.number, "ms", "call.promoted", "success", call_unique_id=unique_id, phone=rec.phone,
            response={"reason": "hangup without start/dial after the grace period"}), conn=conn)
    return True
