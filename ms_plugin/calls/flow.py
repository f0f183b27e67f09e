"""The call flow: one PBX event in (from a durable job), MoySklad brought up to date.

For an event: find which call it belongs to (``classify``), take the call's lease (a committed row, so
two workers never drive one call at once and no DB lock is held across HTTP), fold the event into the
call's facts, then repeat "compute the next MoySklad step from facts vs done; do it; record it" until
nothing is left. Every step is recorded before the next, so a crash, a retry or a duplicate event
resumes exactly where the work stopped and never repeats a write.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from host_app.integrations.contract import CallEvent, JournalEntry, PermanentJobError, RetryLater
from ms_plugin.calls import repo
from ms_plugin.calls.classify import classify
from ms_plugin.calls.model import KIND_CALL, KIND_INTERNAL, KIND_LEG, KIND_PENDING, CallRecord, Done, Facts
from ms_plugin.calls.pbx_event import fold
from ms_plugin.calls.steps import CallRun
from ms_plugin.moysklad.context import bind_request_context
from ms_plugin.tenant import Tenant

log = logging.getLogger(__name__)

LEASE_TTL = 300.0
LIVE_WINDOW = dt.timedelta(hours=2)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class CallFlow:
    def __init__(self, state: Any) -> None:
        self.state = state

    @property
    def _services(self) -> Any:
        return self.state.services

    # -- entry points (jobs) ----------------------------------------------------------------------

    def handle_event(self, event: CallEvent) -> None:
        tenant = self._tenant_for(event.enterprise_number, event.unique_id)
        if tenant is None:
            return
        sweeper = self.state.extras.get("sweeper")
        if sweeper is not None:
            sweeper.ensure()
        with bind_request_context(tenant.number, event.unique_id):
            root = self._route(tenant, event)
            if root is not None:
                self.reconcile(tenant, root, event)

    def reprocess(self, enterprise_number: str, unique_id: str) -> None:
        """Run a call's processing again from every stored event (the admin's "send again")."""
        tenant = self._tenant_for(enterprise_number, unique_id)
        if tenant is None:
            return
        with self._services.db.connection() as conn:
            rec = repo.get(conn, enterprise_number, unique_id)
        if rec is None:
            for event in self._services.events.for_call(enterprise_number, [unique_id]):
                self.handle_event(event)
            return
        root = rec.parent_unique_id if rec.kind == KIND_LEG and rec.parent_unique_id else unique_id
        with bind_request_context(tenant.number, root):
            self.reconcile(tenant, root, None, refold=True)

    def promote_pending(self, enterprise_number: str, unique_id: str) -> None:
        """A live hangup whose start/dial never came: after the grace period it is a call of its own."""
        tenant = self._tenant_for(enterprise_number, unique_id)
        if tenant is None:
            return
        with self._services.db.connection() as conn:
            rec = repo.get(conn, enterprise_number, unique_id)
            if rec is None or rec.kind != KIND_PENDING or not rec.facts.hung_up:
                return
            rec.kind = KIND_CALL
            repo.save(conn, rec)
        self._journal(tenant, unique_id, rec.phone, "call.promoted", "success",
                      response={"reason": "hangup without start/dial after the grace period"})
        with bind_request_context(tenant.number, unique_id):
            self.reconcile(tenant, unique_id, None)

    # -- routing -----------------------------------------------------------------------------------

    def _tenant_for(self, ent: str, unique_id: str) -> Tenant | None:
        tenant = self.state.tenants.get(ent)
        if tenant is None:
            return None
        reason = None
        if not tenant.config.enabled:
            reason = "MoySklad integration is off"
        elif tenant.phone is None:
            reason = "no Phone API key"
        if reason:
            self._journal(tenant, unique_id, None, "call.skipped", "skipped", error=reason)
            return None
        self.state.tenants.ensure_usable(tenant)
        return tenant

    def _route(self, tenant: Tenant, event: CallEvent) -> str | None:
        """The UniqueId of the call this event belongs to, or None when it reaches no MoySklad call."""
        ent, uid = tenant.number, event.unique_id
        with self._services.db.connection() as conn:
            rec = repo.get(conn, ent, uid)
            if rec is None or (rec.kind == KIND_PENDING and event.event_type in ("start", "dial")):
                decision = classify(
                    event, region=tenant.region,
                    live_incoming=lambda: repo.live_incoming(conn, ent, _now() - LIVE_WINDOW),
                    originate_matches=lambda ext, phone: self._originate_matches(conn, ent, ext, phone, event))
                if rec is None:
                    facts = Facts(crm_originated=decision.crm_originated)
                    rec = repo.insert(conn, CallRecord(ent, uid, decision.kind, decision.parent, facts, Done(),
                                                       None, "open"))
                else:
                    rec.kind, rec.parent_unique_id = decision.kind, decision.parent
                    rec.facts.crm_originated = rec.facts.crm_originated or decision.crm_originated
                    repo.save(conn, rec)
                if decision.kind != KIND_CALL:
                    self._journal(tenant, uid, None, f"call.{decision.kind}", "skipped",
                                  response={"reason": decision.reason, "parent": decision.parent})
        if rec.kind == KIND_INTERNAL:
            return None
        if rec.kind == KIND_LEG:
            return rec.parent_unique_id
        if rec.kind == KIND_PENDING:
            self._hold_pending(tenant, rec, event)
            return None
        return uid

    @staticmethod
    def _originate_matches(conn: Any, ent: str, ext: str, phone: str, event: CallEvent) -> bool:
        """Is this dial the conversation a MoySklad user asked for (a pending click-to-call)?"""
        from ms_plugin.click_to_call.originates import match_originate

        return bool(match_originate(conn, ent, ext, phone, at=event.received_at, unique_id=event.unique_id))

    def _hold_pending(self, tenant: Tenant, rec: CallRecord, event: CallEvent) -> None:
        """Keep the facts of a UniqueId we cannot place yet; schedule the lost-dial promotion."""
        with self._services.db.connection() as conn:
            current = repo.get(conn, tenant.number, rec.unique_id) or rec
            if fold(current.facts, event, own=True):
                repo.save(conn, current)
            if event.event_type == "hangup" and event.origin == "live":
                self._services.jobs.enqueue(
                    "ms.promote_pending", {"unique_id": rec.unique_id}, enterprise_number=tenant.number,
                    key=f"ms:{tenant.number}:{rec.unique_id}", delay=self.state.settings.pending_grace_s,
                    dedupe=True, conn=conn)

    # -- reconcile ---------------------------------------------------------------------------------

    def reconcile(self, tenant: Tenant, root: str, event: CallEvent | None, *, refold: bool = False) -> None:
        lease = self._services.leases.acquire(f"ms:call:{tenant.number}:{root}", LEASE_TTL)
        if lease is None:
            raise RetryLater(0.2, "another worker is processing this call right now")
        try:
            with self._services.db.connection() as conn:
                rec = repo.get(conn, tenant.number, root)
                if rec is None:
                    return
                changed = False
                if refold:
                    ids = repo.unique_ids_of(conn, tenant.number, root)
                    for stored in self._services.events.for_call(tenant.number, ids):
                        changed |= fold(rec.facts, stored, own=stored.unique_id == root)
                    rec.done.failures = 0
                if event is not None:
                    changed |= fold(rec.facts, event, own=event.unique_id == root)
                if changed:
                    repo.save(conn, rec)
            run = CallRun(self.state, tenant, rec, save=lambda r: self._save(r, lease))
            run.drive()
        finally:
            lease.release()

    def _save(self, rec: CallRecord, lease: Any) -> None:
        with self._services.db.connection() as conn:
            repo.save(conn, rec)
        lease.renew(LEASE_TTL)

    # -- sweeping ------------------------------------------------------------------------------------

    def sweep_call(self, enterprise_number: str, unique_id: str) -> None:
        """Hide the cards of a call with no hangup after the stale time (and close it after long)."""
        tenant = self._tenant_for(enterprise_number, unique_id)
        if tenant is None:
            return
        with bind_request_context(tenant.number, unique_id):
            lease = self._services.leases.acquire(f"ms:call:{tenant.number}:{unique_id}", LEASE_TTL)
            if lease is None:
                raise RetryLater(1.0, "call busy")
            try:
                with self._services.db.connection() as conn:
                    rec = repo.get(conn, tenant.number, unique_id)
                if rec is None or rec.state != "open":
                    return
                if rec.kind != KIND_CALL:  # a bridge of an extension channel, never a call: forget it
                    rec.state = "finished"
                    self._save(rec, lease)
                    return
                CallRun(self.state, tenant, rec, save=lambda r: self._save(r, lease)).sweep()
            finally:
                lease.release()

    # -- journal -----------------------------------------------------------------------------------

    def _journal(self, tenant: Tenant, unique_id: str, phone: str | None, event_type: str, status: str, *,
                 response: Any = None, error: str | None = None) -> None:
        self._services.journal.write(JournalEntry(tenant.number, "ms", event_type, status, call_unique_id=unique_id,
                                                  phone=phone, response=response, error=error))


def permanent(message: str) -> PermanentJobError:
    return PermanentJobError(message)
