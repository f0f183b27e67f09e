"""JSON API side effects of a call: create the unknown client (once), move its owner to the answerer,
create the order, the missed-call task (or a note), and close missed-call tasks on a later call.

Each function does one MoySklad thing and reports what it did; the flow records it in ``Done`` so that
running the same call again never repeats it. Creates carry a ``syncId`` derived per call (uuid5 of
enterprise, number and UniqueId, never per number): a retried create returns the first one.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from host_app.integrations.contract import JournalEntry, RetryLater
from ms_plugin.calls import metrics
from ms_plugin.calls.model import CallRecord
from ms_plugin.calls.timefmt import MSK, to_msk
from ms_plugin.moysklad.models import href_ref, meta_ref
from ms_plugin.lookup.matching import confirm, decide
from ms_plugin.phones import PhoneNumber, search_forms
from ms_plugin.tenant import Tenant

log = logging.getLogger(__name__)

SYNC_NAMESPACE = uuid.UUID("6a1f7c52-6e0b-4c8e-9a57-3f3d2f1b0c11")
METADATA_TTL = 600.0


def sync_id(ent: str, e164: str, unique_id: str, what: str) -> str:
    return str(uuid.uuid5(SYNC_NAMESPACE, f"{ent}|{e164}|{unique_id}|{what}"))


@dataclass
class Effects:
    """Bound to one worker's plugin state; every method takes the tenant and the call."""

    state: Any  # PluginState

    @property
    def _services(self) -> Any:
        return self.state.services

    def _journal(self, tenant: Tenant, rec: CallRecord, event_type: str, status: str, *,
                 response: Any = None, error: str | None = None) -> None:
        self._services.journal.write(JournalEntry(tenant.number, "ms", event_type, status,
                                                  call_unique_id=rec.unique_id, phone=rec.phone,
                                                  response=response, error=error))

    def _ref(self, tenant: Tenant, kind: str, entity_id: str) -> dict[str, Any]:
        return meta_ref(tenant.json_api.base_url, kind, entity_id)

    # -- the client --------------------------------------------------------------------------------

    def ensure_client(self, tenant: Tenant, rec: CallRecord, number: PhoneNumber,
                      owner_employee: str | None) -> tuple[str | None, bool]:
        """(counterparty id, created by us). One creation per number even for two calls in one second:
        a lease per enterprise+number, then a fresh search under it, then a create with ``syncId``."""
        lease = self._services.leases.acquire(f"ms:client:{tenant.number}:{number.e164}", 60)
        if lease is None:
            raise RetryLater(0.5, "another call is creating this client right now")
        try:
            lookup = self.state.lookup
            # Another call may have created it while we waited for the lease: it cached what it made.
            found = lookup.find(tenant, number)
            if found.status == "found" and found.counterparty is not None:
                return found.counterparty.id, False
            if found.status == "ambiguous":
                return None, False
            if found.status == "unavailable":
                raise RetryLater(5.0, f"client search failed: {found.error}", count_attempt=True)
            # A miss may be a minute old: one fresh search with the form we store numbers in (E.164
            # contains it) catches a client created since, at the cost of a single request.
            fresh = self._fresh_match(tenant, number)
            if fresh is not None:
                return (fresh or None), False
            body: dict[str, Any] = {
                "name": _client_name(number), "phone": number.e164, "companyType": "individual",
                "tags": ["телефония"],
                "description": ("Создан автоматически по " + ("входящему" if rec.facts.direction == "in"
                                                              else "исходящему") + " звонку "
                                + to_msk(dt.datetime.now(dt.timezone.utc)) + " (МСК)"),
            }
            if owner_employee:
                body["owner"] = self._ref(tenant, "employee", owner_employee)
            created = tenant.json_api.create_counterparty(body, sync_id(tenant.number, number.e164,
                                                                        rec.unique_id, "client"))
            lookup.remember(tenant, number, created)
            metrics.CLIENTS_CREATED.inc()
            self._journal(tenant, rec, "client.create", "success", response={"id": created.id,
                                                                           "owner": owner_employee})
            return created.id, True
        finally:
            lease.release()

    def _fresh_match(self, tenant: Tenant, number: PhoneNumber) -> str | None:
        """The id of a client holding the number now ("" when several do), None when nobody does."""
        api = tenant.json_api
        rows = api.search_counterparties(search_forms(number)[0], limit=50, expand_contact_persons=True)
        matches = confirm(rows, number, tenant.region, api.list_contact_persons)
        if not matches:
            return None
        result = decide(matches)
        return result.counterparty.id if result.status == "found" and result.counterparty else ""

    def move_owner(self, tenant: Tenant, rec: CallRecord, number: PhoneNumber, counterparty_id: str,
                   employee_id: str) -> None:
        tenant.json_api.update_counterparty(counterparty_id, {"owner": self._ref(tenant, "employee", employee_id)})
        self.state.lookup.invalidate(tenant.number, number)
        self._journal(tenant, rec, "client.owner", "success", response={"id": counterparty_id,
                                                                       "owner": employee_id})

    # -- orders ------------------------------------------------------------------------------------

    def create_order(self, tenant: Tenant, rec: CallRecord, number: PhoneNumber, counterparty_id: str,
                     owner_employee: str | None) -> str | None:
        actions = tenant.config.actions(rec.facts.direction == "in")
        api = tenant.json_api
        meta = self.order_metadata(tenant)
        # A client created by this very call has no orders yet: no need to ask (JSON API limits are tight).
        if actions.create_order == "if_no_open" and not rec.done.counterparty_created:
            final = set(meta["final_states"])
            for order in api.list_customer_orders(counterparty_id, limit=20):
                if order.state_id not in final:
                    self._journal(tenant, rec, "order.create", "skipped",
                                  response={"reason": "the client has an open order", "order": order.id})
                    return None
        org = tenant.config.organization_id or meta["organization"]
        if not org:
            self._journal(tenant, rec, "order.create", "error",
                          error="no organization: the account has several; choose one in the settings")
            return None
        body: dict[str, Any] = {
            "organization": self._ref(tenant, "organization", org),
            "agent": self._ref(tenant, "counterparty", counterparty_id),
            "description": f"Заказ по {'входящему' if rec.facts.direction == 'in' else 'исходящему'} звонку "
                           f"{number.e164} ({rec.unique_id})",
        }
        state_id = meta["states"].get(actions.order_status)
        if state_id:
            body["state"] = href_ref(f"{api.base_url}/entity/customerorder/metadata/states/{state_id}", "state")
        else:
            self._journal(tenant, rec, "order.state", "error",
                          error=f"order state «{actions.order_status}» not found; the account's default is used")
        channel = self.sales_channel(tenant, actions.order_source)
        if channel:
            body["salesChannel"] = self._ref(tenant, "saleschannel", channel)
        if owner_employee:
            body["owner"] = self._ref(tenant, "employee", owner_employee)
        order = api.create_customer_order(body, sync_id(tenant.number, number.e164, rec.unique_id, "order"))
        metrics.ORDERS_CREATED.inc()
        self._journal(tenant, rec, "order.create", "success", response={"id": order.id, "owner": owner_employee})
        return str(order.id)

    def order_metadata(self, tenant: Tenant) -> dict[str, Any]:
        """Order states (name -> id), final state ids and the default organization, cached per config."""
        key = f"ms:ordermeta:{tenant.number}:{tenant.version}"
        cached = self._services.cache.get(key)
        if cached:
            return dict(cached)
        api = tenant.json_api
        states = api.customer_order_states()
        orgs = [o for o in api.list_organizations() if not o.archived]
        meta = {"states": {s.name: s.id for s in states},
                "final_states": [s.id for s in states if s.is_final],
                "organization": orgs[0].id if len(orgs) == 1 else None}
        self._services.cache.set(key, meta, METADATA_TTL)
        return meta

    def sales_channel(self, tenant: Tenant, name: str) -> str | None:
        key = f"ms:saleschannel:{tenant.number}:{tenant.version}:{name}"
        cached = self._services.cache.get(key)
        if cached:
            return str(cached)
        api = tenant.json_api
        channel = api.find_sales_channel(name)
        if channel is None:
            lease = self._services.leases.acquire(f"ms:saleschannel:{tenant.number}", 30)
            if lease is None:
                raise RetryLater(0.5, "the sales channel is being created")
            try:
                channel = api.find_sales_channel(name) or api.create_sales_channel(name, "DIRECT_SALES")
            finally:
                lease.release()
        self._services.cache.set(key, channel.id, METADATA_TTL)
        return str(channel.id)

    # -- missed-call tasks -------------------------------------------------------------------------

    def missed_task(self, tenant: Tenant, rec: CallRecord, number: PhoneNumber, counterparty_id: str | None,
                    assignee: str) -> None:
        from ms_plugin.moysklad.errors import FeatureUnavailable

        when = rec.facts.hangup_time or dt.datetime.now(dt.timezone.utc)
        due = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=tenant.config.missed.task_due_minutes)
        text = (f"Пропущенный звонок от {number.e164} в {when.astimezone(MSK):%d.%m %H:%M} (МСК). "
                "Перезвоните клиенту.")
        body: dict[str, Any] = {"description": text, "assignee": self._ref(tenant, "employee", assignee),
                                "dueToDate": to_msk(due), "done": False}
        if counterparty_id:
            body["agent"] = self._ref(tenant, "counterparty", counterparty_id)
        try:
            task = tenant.json_api.create_task(body)
        except FeatureUnavailable as exc:
            # No CRM option on the account: a note on the client keeps the missed call visible.
            if not counterparty_id:
                self._journal(tenant, rec, "task.create", "skipped",
                              error=f"tasks unavailable ({exc}) and no client to note it on")
                return
            note = tenant.json_api.add_counterparty_note(counterparty_id, text)
            self._record_task(tenant, rec, number, str(note.id), "note")
            self._journal(tenant, rec, "task.note", "success", response={"note": note.id,
                                                                         "reason": "no task option"})
            return
        self._record_task(tenant, rec, number, str(task.id), "task")
        self._journal(tenant, rec, "task.create", "success", response={"id": task.id, "assignee": assignee})

    def _record_task(self, tenant: Tenant, rec: CallRecord, number: PhoneNumber, task_id: str, kind: str) -> None:
        metrics.TASKS_CREATED.labels(kind).inc()
        with self._services.db.connection() as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO ms_tasks (enterprise_number, task_id, phone, call_unique_id, kind) "
                        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        (tenant.number, task_id, number.e164, rec.unique_id, kind))

    def close_tasks(self, tenant: Tenant, rec: CallRecord, number: PhoneNumber) -> int:
        with self._services.db.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT task_id, kind FROM ms_tasks WHERE enterprise_number = %s AND phone = %s "
                        "AND closed_at IS NULL AND call_unique_id <> %s", (tenant.number, number.e164,
                                                                          rec.unique_id))
            open_tasks = cur.fetchall()
        closed = 0
        for task_id, kind in open_tasks:
            if kind == "task" and tenant.json_api is not None:
                tenant.json_api.update_task(task_id, {"done": True})
            with self._services.db.connection() as conn, conn.cursor() as cur:
                cur.execute("UPDATE ms_tasks SET closed_at = now(), closed_by_call = %s WHERE "
                            "enterprise_number = %s AND task_id = %s", (rec.unique_id, tenant.number, task_id))
            closed += 1
            self._journal(tenant, rec, "task.close", "success", response={"id": task_id, "kind": kind})
        return closed


def _client_name(number: PhoneNumber) -> str:
    import phonenumbers

    try:
        return phonenumbers.format_number(phonenumbers.parse(number.e164, None),
                                          phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return number.e164
