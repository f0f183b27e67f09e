"""Driving one call to completion: the ordered steps and what a MoySklad failure means for each.

Order of a pass: an urgent Phone API write first (a card must show or hide now; the first card waits at
most ``hot_lookup_ms`` for the client lookup), then the JSON API work (lookup, the client, its owner,
closing old missed-call tasks, the order, the missed-call task), then the remaining Phone API write
(fields of an ended call). A transient JSON API failure does not hold the call back: the Phone API
write still goes out and the job retries the rest later.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from host_app.integrations.contract import JournalEntry, PermanentJobError, RetryLater, WaitForConfig
from ms_plugin.calls import metrics
from ms_plugin.calls.effects import Effects
from ms_plugin.calls.model import CallRecord
from ms_plugin.calls.plan import PhoneWrite, TenantView, next_write
from ms_plugin.moysklad import errors as mserr
from ms_plugin.moysklad.models import bare_meta
from ms_plugin.phones import PhoneNumber, classify as classify_number
from ms_plugin.tenant import Tenant

log = logging.getLogger(__name__)

MAX_STEPS = 25
MAX_PHONE_FAILURES = 3
ABANDON_AFTER = dt.timedelta(hours=6)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class CallRun:
    def __init__(self, state: Any, tenant: Tenant, rec: CallRecord, save: Callable[[CallRecord], None]) -> None:
        self.state = state
        self.tenant = tenant
        self.rec = rec
        self.save = save
        self.effects = Effects(state)
        self.deferred: BaseException | None = None  # a transient JSON API failure to retry later
        self.skip_json = tenant.json_api is None
        self.number, self.display_number, self.hidden = self._resolve_number()
        if self.number is not None and rec.phone != self.number.e164:
            rec.phone = self.number.e164
        employees = state.directory.get(tenant)
        self.mapping = employees.effective_mapping(tenant.config.employee_mapping)
        self.view = TenantView(
            timezone=tenant.enterprise.timezone, cfg=tenant.config, mapping=self.mapping,
            ms_extension=employees.ms_extensions(),
            employee_ref=lambda emp: bare_meta(self._json_base, "employee", emp),
            counterparty_ref=lambda cp: bare_meta(self._json_base, "counterparty", cp))

    @property
    def _json_base(self) -> str:
        return str(self.state.clients.json_base_url(self.tenant.config))

    def _resolve_number(self) -> tuple[PhoneNumber | None, str | None, bool]:
        """(E.164 number for lookups, what MoySklad's ``number`` shows, hidden?)."""
        raw = self.rec.facts.phone_raw
        found = classify_number(raw, self.tenant.region)
        if found.kind == "phone" and found.phone is not None:
            return found.phone, found.phone.e164, False
        if found.kind == "extension" and found.extension:  # a short service number from a trunk
            return None, found.extension, False
        return None, None, True

    # -- the loop ----------------------------------------------------------------------------------

    def drive(self) -> None:
        for _ in range(MAX_STEPS):
            if not self._step():
                break
        self._maybe_finish()
        if self.deferred is not None:
            raise self._retry_for(self.deferred)

    def _step(self) -> bool:
        write = self._next_write()
        if write is not None and write.urgent:
            if write.create and self._wants_hot_lookup():
                self._lookup(budget=self.state.settings.hot_lookup_ms / 1000.0)
                write = self._next_write() or write
            return self._send(write)
        if not self.skip_json and self.number is not None and self._json_step():
            return True
        write = self._next_write()
        return self._send(write) if write is not None else False

    def _next_write(self) -> PhoneWrite | None:
        return next_write(self.rec, self.view, now=_now(), hidden=self.hidden, number=self.display_number)

    def _wants_hot_lookup(self) -> bool:
        return not self.skip_json and self.number is not None and not self.rec.done.lookup_done

    # -- JSON API steps ----------------------------------------------------------------------------

    def _json_steps(self) -> list[tuple[str, Callable[[], bool], Callable[[], None], Callable[[], None]]]:
        """(name, due?, do it, give up) in order; each "do it" records its own outcome in ``Done``."""
        d, f = self.rec.done, self.rec.facts
        actions = self.tenant.config.actions(f.direction == "in")

        def set_flag(name: str) -> Callable[[], None]:
            return lambda: setattr(d, name, True)

        # Only the lookup runs as soon as the call starts (it warms the cache for the first card); the
        # rest waits for the dial, which tells whose client and whose order it is.
        placed = bool(f.hung_up or (f.ringing if f.direction == "in" else f.caller_ext))
        return [
            ("lookup", lambda: not d.lookup_done, lambda: self._lookup(budget=None), set_flag("lookup_done")),
            ("client", lambda: (placed and d.counterparty_id is None and not d.ambiguous and actions.create_client
                                and not d.client_attempted), self._client, set_flag("client_attempted")),
            ("owner", lambda: (d.counterparty_created and d.counterparty_id is not None and not d.owner_moved
                               and f.is_answered), self._owner, set_flag("owner_moved")),
            ("close_tasks", lambda: not d.tasks_closed and (f.direction == "out" or f.is_answered),
             self._close_tasks, set_flag("tasks_closed")),
            ("order", lambda: placed and not d.order_done and self._order_due(actions), self._order,
             set_flag("order_done")),
            ("task", lambda: not d.task_done and self._task_due(), self._missed_task, set_flag("task_done")),
        ]

    def _json_step(self) -> bool:
        """Run the first pending JSON API side effect; True when it made progress (or gave up for good)."""
        for name, due, do, give_up in self._json_steps():
            if not due():
                continue
            try:
                do()
            except RetryLater:
                raise
            except mserr.AuthFailed as exc:
                metrics.STEP_FAILURES.labels(name, "auth_failed").inc()
                self.state.tenants.mark_json_invalid(self.tenant, f"JSON API: {exc}")
                self.skip_json = True
                return False
            except (mserr.Unavailable, mserr.RateLimited, mserr.LimiterBusy, mserr.MalformedResponse) as exc:
                metrics.STEP_FAILURES.labels(name, "postponed").inc()
                self.deferred = exc
                self.skip_json = True
                self._journal("moysklad.deferred", "error", error=f"{name} postponed: {exc}")
                return False
            except mserr.MoySkladError as exc:  # a permanent refusal: note it, never retry it
                metrics.STEP_FAILURES.labels(name, "refused").inc()
                self._journal(f"call.{name}_failed", "error", error=str(exc))
                give_up()
            return self._record()
        return False

    def _client(self) -> None:
        done = self.rec.done
        cp_id, created = self.effects.ensure_client(self.tenant, self.rec, self.number, self._initial_owner())
        done.counterparty_id, done.counterparty_created, done.client_attempted = cp_id, created, True
        if cp_id is None:
            done.ambiguous = True

    def _owner(self) -> None:
        done, facts = self.rec.done, self.rec.facts
        answerer_emp = self.mapping.get(facts.answerer or "")
        if answerer_emp and answerer_emp != self._initial_owner() and done.counterparty_id:
            self.effects.move_owner(self.tenant, self.rec, self.number, done.counterparty_id, answerer_emp)
        done.owner_moved = True

    def _close_tasks(self) -> None:
        self.effects.close_tasks(self.tenant, self.rec, self.number)
        self.rec.done.tasks_closed = True

    def _lookup(self, *, budget: float | None) -> bool:
        if self.skip_json or self.number is None:
            self.rec.done.lookup_done = True
            return self._record()
        result = self.state.lookup.find(self.tenant, self.number, budget=budget)
        done = self.rec.done
        if result.status == "found" and result.counterparty is not None:
            done.counterparty_id, done.lookup_done = result.counterparty.id, True
        elif result.status == "ambiguous":
            done.ambiguous, done.lookup_done = True, True
            self._journal("client.ambiguous", "skipped",
                          response={"candidates": [c.id for c in result.candidates]})
        elif result.status in ("not_found", "skipped"):
            done.lookup_done = True
        elif budget is None and result.status == "unavailable":
            raise mserr.Unavailable(result.error or "client lookup failed")
        else:  # timed out inside the hot budget: the card goes without it, the lookup finishes later
            return False
        return self._record()

    def _initial_owner(self) -> str | None:
        facts = self.rec.facts
        if facts.direction == "out":
            return self.mapping.get(facts.caller_ext or "")
        return next((self.mapping[e] for e in facts.ringing if e in self.mapping), None)

    def _order_due(self, actions: Any) -> bool:
        """True when an order must be created now; settles (and records) the cases where it never will."""
        done = self.rec.done
        if actions.create_order == "none" or not self.rec.facts.live or self.hidden:
            done.order_done = True  # nothing to do, now or later (replays never create orders)
            self._record()
            return False
        if done.counterparty_id is None:
            if not actions.create_client or done.ambiguous:
                self._journal("order.create", "skipped", error="unknown caller and client creation is off"
                              if not done.ambiguous else "several clients have this number")
                done.order_done = True
                self._record()
            return False
        return True

    def _order(self) -> None:
        owner = self._responsible()
        order_id = self.effects.create_order(self.tenant, self.rec, self.number, self.rec.done.counterparty_id, owner)
        self.rec.done.order_id = order_id
        self.rec.done.order_done = True

    def _task_due(self) -> bool:
        facts = self.rec.facts
        return (facts.hung_up and facts.direction == "in" and not facts.is_answered
                and self.tenant.config.missed.create_task and self.number is not None)

    def _missed_task(self) -> None:
        assignee = self._responsible()
        if assignee is None:
            self._journal("task.create", "skipped", error="no responsible manager for this number")
        else:
            self.effects.missed_task(self.tenant, self.rec, self.number, self.rec.done.counterparty_id, assignee)
        self.rec.done.task_done = True

    def _responsible(self) -> str | None:
        answer = self.state.lookup.responsible(self.tenant, self.number, ringing=self.rec.facts.ringing,
                                               exclude_call=self.rec.unique_id, need_extension=False)
        return answer.employee_id if answer is not None else None

    # -- Phone API writes --------------------------------------------------------------------------

    def _send(self, write: PhoneWrite) -> bool:
        phone = self.tenant.phone
        try:
            if write.create:
                try:
                    call = phone.create_call(write.body)
                except mserr.ValidationFailed as exc:
                    if 3006 not in exc.codes:  # 3006: the externalId exists (an earlier create we lost)
                        raise
                    call = phone.update_call_by_external_id(self.rec.unique_id, _update_body(write.body))
                self.rec.done.ms_call_id = call.id
            else:
                try:
                    phone.update_call_by_external_id(self.rec.unique_id, write.body)
                except mserr.NotFound:
                    # MoySklad lost the call (another account, a deleted test): create it again.
                    self.rec.done.created = False
                    return self._record()
        except mserr.AuthFailed as exc:
            self.state.tenants.mark_credentials_invalid(self.tenant, f"Phone API: {exc}")
            raise WaitForConfig("MoySklad refused the Phone API key") from exc
        except (mserr.RateLimited, mserr.LimiterBusy) as exc:
            raise RetryLater(max(0.2, exc.retry_after or 1.0), str(exc)) from exc
        except (mserr.Forbidden, mserr.FeatureUnavailable) as exc:
            self.state.tenants.mark_credentials_invalid(self.tenant, f"Phone API: {exc}")
            raise WaitForConfig(str(exc)) from exc
        except mserr.ValidationFailed as exc:
            metrics.STEP_FAILURES.labels("phone_write", "refused").inc()
            self.rec.done.failures += 1
            self._record()
            self._journal("call.write_failed", "error", error=str(exc), response={"body": write.body})
            if self.rec.done.failures >= MAX_PHONE_FAILURES:
                raise PermanentJobError(f"MoySklad keeps refusing this call: {exc}") from exc
            raise
        write.apply(self.rec.done)
        for event in write.body.get("events", ()):
            metrics.CARD_EVENTS.labels(event["eventType"]).inc()
        return self._record()

    def _record(self) -> bool:
        self.save(self.rec)
        return True

    def _maybe_finish(self) -> None:
        """The loop ended with nothing left to do: an ended call is finished (unless work was postponed)."""
        rec = self.rec
        if rec.state == "finished" or not rec.facts.hung_up or self.deferred is not None:
            return
        if self._next_write() is not None:
            return
        if rec.done.shown and not rec.done.hide_all:
            return  # an "after" card is up: the stale-card sweeper hides it, then the call is finished
        rec.state = "finished"
        self._record()
        metrics.CALLS.labels(rec.facts.direction or "unknown",
                             "answered" if rec.facts.is_answered else "missed").inc()

    def _retry_for(self, exc: BaseException) -> RetryLater:
        delay = getattr(exc, "retry_after", None) or 5.0
        count = not isinstance(exc, (mserr.RateLimited, mserr.LimiterBusy))
        return RetryLater(float(delay), f"JSON API step postponed: {exc}", count_attempt=count)

    # -- stale cards -------------------------------------------------------------------------------

    def sweep(self) -> None:
        """Called for an open call untouched for the stale time: hide its cards; after long, close it."""
        rec, done = self.rec, self.rec.done
        if done.shown and not done.hide_all:
            body = {"events": [{"eventType": "HIDE_ALL", "sequence": done.sequence + 1}]}
            self._send(PhoneWrite(create=False, body=body, urgent=True,
                                  marks={"hide_all": True, "sequence": done.sequence + 1}))
            self._journal("card.stale_hidden", "success")
            self._maybe_finish()
            return
        updated = rec.updated_at or _now()
        if not rec.facts.hung_up and _now() - updated > ABANDON_AFTER:
            write = next_write(rec, self.view, now=_now(), hidden=self.hidden, number=self.display_number,
                               force_fields=True)
            if write is not None:
                self._send(write)
            rec.state = "finished"
            self._record()
            self._journal("call.abandoned", "skipped", error="no hangup arrived; closed with what is known")

    # -- journal -----------------------------------------------------------------------------------

    def _journal(self, event_type: str, status: str, *, response: Any = None, error: str | None = None) -> None:
        self.state.services.journal.write(JournalEntry(
            self.tenant.number, "ms", event_type, status, call_unique_id=self.rec.unique_id,
            phone=self.rec.phone, response=response, error=error))


def _update_body(create_body: dict[str, Any]) -> dict[str, Any]:
    """A create turned into an update: drop what PUT cannot change (externalId, number, isIncoming)."""
    return {k: v for k, v in create_body.items() if k not in ("externalId", "number", "isIncoming")}
