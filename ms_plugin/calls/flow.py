"""The call flow's entry points (each runs from a durable job).

* ``handle_event``: route the event to its call, fold it into the call's facts and drive the card path
  (Phone API writes) under the call's lease; then, if JSON API work is due, enqueue the follow-up.
* ``followup``: the JSON API work (client, order, tasks) under its own lease; when it changed something
  an ended call's record needs, it enqueues ``sync`` (the card path again, without an event).
* ``reprocess`` (the admin's "send again"), ``promote_pending`` (a hangup whose dial never came),
  ``sweep_call`` (stale cards).

Leases are committed rows with an expiry (never a DB lock held across HTTP); every step is recorded
before the next, so crashes, retries and duplicate events resume where the work stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from host_app.integrations.contract import CallEvent, JournalEntry, RetryLater
from ms_plugin.calls import repo, routing
from ms_plugin.calls.followup import FollowupRun
from ms_plugin.calls.model import KIND_CALL, KIND_LEG, CallRecord
from ms_plugin.calls.pbx_event import fold
from ms_plugin.calls.phone_run import PhoneRun
from ms_plugin.moysklad.context import bind_request_context
from ms_plugin.tenant import Tenant

log = logging.getLogger(__name__)

LEASE_TTL = 60.0  # renewed on every save; a holder that died frees the call within a minute
FOLLOWUP_KIND, SYNC_KIND = "ms.call_followup", "ms.call_sync"


class Session:
    """One path's hold on a call: ``load`` it, ``save`` only what changed since (the other path of the
    call may be writing its own keys meanwhile); every save renews the lease.

    Only the card path owns the facts (it folds events under the call's lease). The follow-up's copy of
    them goes stale while a client search runs for seconds: it saves its ``done`` keys alone, or a hangup
    folded meanwhile would be rolled back and the call never finished."""

    def __init__(self, services: Any, lease: Any, *, owns_facts: bool = True) -> None:
        self._services = services
        self._lease = lease
        self._owns_facts = owns_facts
        self._saved: dict[int, dict[str, Any]] = {}

    def load(self, ent: str, unique_id: str) -> CallRecord | None:
        with self._services.db.connection() as conn:
            rec = repo.get(conn, ent, unique_id)
        if rec is not None:
            self._saved[id(rec)] = rec.done.to_json()
        return rec

    def save(self, rec: CallRecord) -> None:
        before = self._saved.get(id(rec))
        with self._services.db.connection() as conn:
            if self._owns_facts:
                repo.save(conn, rec, done_before=before)
            else:
                repo.save_done(conn, rec.enterprise_number, rec.unique_id, repo.done_patch(rec, before))
        self._saved[id(rec)] = rec.done.to_json()
        self._lease.renew(LEASE_TTL)


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
            root = routing.route(self.state, tenant, event)
            if root is not None:
                self.reconcile(tenant, root, event)

    def sync(self, enterprise_number: str, unique_id: str) -> None:
        """The card path without a new event (after the follow-up changed what the record needs)."""
        tenant = self._tenant_for(enterprise_number, unique_id)
        if tenant is not None:
            with bind_request_context(tenant.number, unique_id):
                self.reconcile(tenant, unique_id, None)

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
        tenant = self._tenant_for(enterprise_number, unique_id)
        if tenant is not None and routing.promote(self.state, tenant, unique_id):
            with bind_request_context(tenant.number, unique_id):
                self.reconcile(tenant, unique_id, None)

    def followup(self, enterprise_number: str, unique_id: str) -> None:
        tenant = self._tenant_for(enterprise_number, unique_id)
        if tenant is None:
            return
        with bind_request_context(tenant.number, unique_id), self._lease(f"ms:followup:{tenant.number}:{unique_id}",
                                                                          0.5, owns_facts=False) as session:
            rec, save = session.load(tenant.number, unique_id), session.save
            if rec is None or rec.kind != KIND_CALL:
                return
            ended_before = rec.facts.hung_up and rec.done.followup_after_hangup
            counterparty = rec.done.counterparty_id
            run = FollowupRun(self.state, tenant, rec, save=save)
            try:
                run.drive()
            finally:
                if rec.facts.hung_up:
                    rec.done.followup_after_hangup = True
                    save(rec)
                    if not ended_before or rec.done.counterparty_id != counterparty:
                        self._enqueue(SYNC_KIND, tenant.number, unique_id, key=f"ms:{tenant.number}:{unique_id}")

    def sweep_call(self, enterprise_number: str, unique_id: str) -> None:
        """Hide the cards of a call with no hangup after the stale time (and close it after long)."""
        tenant = self._tenant_for(enterprise_number, unique_id)
        if tenant is None:
            return
        with bind_request_context(tenant.number, unique_id), self._lease(f"ms:call:{tenant.number}:{unique_id}",
                                                                          1.0) as session:
            rec, save = session.load(tenant.number, unique_id), session.save
            if rec is None or rec.state != "open":
                return
            if rec.kind != KIND_CALL:  # a bridge of an extension channel, never a call: forget it
                rec.state = "finished"
                save(rec)
                return
            PhoneRun(self.state, tenant, rec, save=save).sweep()

    # -- the card path -------------------------------------------------------------------------------

    def reconcile(self, tenant: Tenant, root: str, event: CallEvent | None, *, refold: bool = False) -> None:
        with self._lease(f"ms:call:{tenant.number}:{root}", 0.2) as session:
            rec, save = session.load(tenant.number, root), session.save
            if rec is None:
                return
            changed = False
            if refold:
                with self._services.db.connection() as conn:
                    ids = repo.unique_ids_of(conn, tenant.number, root)
                for stored in self._services.events.for_call(tenant.number, ids):
                    changed |= fold(rec.facts, stored, own=stored.unique_id == root)
                rec.done.failures = 0
            if event is not None:
                changed |= fold(rec.facts, event, own=event.unique_id == root)
            if changed:
                save(rec)
            run = PhoneRun(self.state, tenant, rec, save=save)
            try:
                run.drive()
            finally:
                if run.followup_pending() or refold:
                    self._enqueue(FOLLOWUP_KIND, tenant.number, root, key=f"ms:followup:{tenant.number}:{root}")

    # -- plumbing ------------------------------------------------------------------------------------

    @contextmanager
    def _lease(self, key: str, busy_retry: float, *, owns_facts: bool = True) -> Iterator[Session]:
        lease = self._services.leases.acquire(key, LEASE_TTL)
        if lease is None:
            raise RetryLater(busy_retry, "another worker is processing this call right now")
        try:
            yield Session(self._services, lease, owns_facts=owns_facts)
        finally:
            lease.release()

    def _enqueue(self, kind: str, ent: str, unique_id: str, *, key: str) -> None:
        self._services.jobs.enqueue(kind, {"unique_id": unique_id}, enterprise_number=ent, key=key, dedupe=True)

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
            self._services.journal.write(JournalEntry(tenant.number, "ms", "call.skipped", "skipped",
                                                      call_unique_id=unique_id, error=reason))
            return None
        self.state.tenants.ensure_usable(tenant)
        return tenant
