"""The JSON API follow-up of a call: lookup, the client (created once), its owner, closing earlier
missed-call tasks, the order, the missed-call task.

It runs as its own job under its own lease, so a slow or failing JSON API never holds back a card. What
is due is a pure function of the call's facts and progress (``due_steps``); the card path asks it too,
to know whether a field-only write should wait for the client this follow-up is about to create.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from host_app.integrations.contract import RetryLater
from ms_plugin.calls import metrics
from ms_plugin.calls.context import MAX_STEPS, CallContext
from ms_plugin.calls.effects import Effects
from ms_plugin.calls.model import CallRecord
from ms_plugin.config.schema import TenantConfig
from ms_plugin.moysklad import errors as mserr
from ms_plugin.moysklad.errors import outage_retry_delay

log = logging.getLogger(__name__)


def due_steps(rec: CallRecord, cfg: TenantConfig, *, hidden: bool) -> list[str]:
    """The JSON API steps this call still needs, in order (pure: no I/O)."""
    d, f = rec.done, rec.facts
    actions = cfg.actions(f.direction == "in")
    # Only the lookup may run before the dial (it warms the cache for the first card); the client and the
    # order wait for the dial, which says whose they are (the first ringing employee, or the caller).
    placed = bool(f.hung_up or (f.ringing if f.direction == "in" else f.caller_ext))
    client_settled = d.counterparty_id is not None or d.ambiguous or not actions.create_client or d.client_attempted
    steps = []
    if not d.lookup_done:
        steps.append("lookup")
    if placed and d.lookup_done and not client_settled:
        steps.append("client")
    if d.counterparty_created and d.counterparty_id and not d.owner_moved and f.is_answered:
        steps.append("owner")
    if not d.tasks_closed and (f.direction == "out" or f.is_answered):
        steps.append("close_tasks")
    if (placed and d.lookup_done and client_settled and not d.order_done and actions.create_order != "none"
            and f.live and not hidden):
        steps.append("order")
    if not d.task_done and f.hung_up and f.direction == "in" and not f.is_answered and cfg.missed.create_task:
        steps.append("task")
    return steps


class FollowupRun(CallContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.effects = Effects(self.state)

    def due(self) -> list[str]:
        return due_steps(self.rec, self.tenant.config, hidden=self.hidden) if self.json_possible else []

    def drive(self) -> None:
        """Run every due step; a transient MoySklad failure saves the progress and retries the job later."""
        actions: dict[str, Callable[[], None]] = {
            "lookup": self._lookup, "client": self._client, "owner": self._owner,
            "close_tasks": self._close_tasks, "order": self._order, "task": self._missed_task}
        give_up = {"lookup": "lookup_done", "client": "client_attempted", "owner": "owner_moved",
                   "close_tasks": "tasks_closed", "order": "order_done", "task": "task_done"}
        for _ in range(MAX_STEPS):
            due = self.due()
            if not due:
                return
            name = due[0]
            try:
                actions[name]()
            except mserr.AuthFailed as exc:
                metrics.STEP_FAILURES.labels(name, "auth_failed").inc()
                self.state.tenants.mark_json_invalid(self.tenant, f"JSON API: {exc}")
                return
            except (mserr.Unavailable, mserr.RateLimited, mserr.LimiterBusy, mserr.MalformedResponse) as exc:
                metrics.STEP_FAILURES.labels(name, "postponed").inc()
                self.journal("moysklad.deferred", "error", error=f"{name} postponed: {exc}")
                # An outage or a rate limit uses up no attempt (an outage of any length loses nothing; the
                # job's max age bounds it); a malformed answer does: it may never change.
                count = isinstance(exc, mserr.MalformedResponse)
                raise RetryLater(outage_retry_delay(exc), f"{name} postponed: {exc}", count_attempt=count) from exc
            except mserr.MoySkladError as exc:  # a permanent refusal: noted, never retried
                metrics.STEP_FAILURES.labels(name, "refused").inc()
                self.journal(f"call.{name}_failed", "error", error=str(exc))
                setattr(self.rec.done, give_up[name], True)
            self.record()

    # -- the steps ---------------------------------------------------------------------------------

    def _lookup(self) -> None:
        result = self.state.lookup.find(self.tenant, self.number)
        done = self.rec.done
        if result.status == "unavailable":
            raise mserr.Unavailable(result.error or "client lookup failed")
        if result.status == "found" and result.counterparty is not None:
            done.counterparty_id = result.counterparty.id
        elif result.status == "ambiguous":
            done.ambiguous = True
            self.journal("client.ambiguous", "skipped", response={"candidates": [c.id for c in result.candidates]})
        done.lookup_done = True

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

    def _order(self) -> None:
        done = self.rec.done
        if done.counterparty_id is None:
            self.journal("order.create", "skipped", error="several clients have this number" if done.ambiguous
                         else "unknown caller and client creation is off")
        else:
            owner = self._responsible()
            done.order_id = self.effects.create_order(self.tenant, self.rec, self.number, done.counterparty_id,
                                                      owner)
        done.order_done = True

    def _missed_task(self) -> None:
        assignee = self._responsible()
        if assignee is None:
            self.journal("task.create", "skipped", error="no responsible manager for this number")
        else:
            self.effects.missed_task(self.tenant, self.rec, self.number, self.rec.done.counterparty_id, assignee)
        self.rec.done.task_done = True

    def _initial_owner(self) -> str | None:
        facts = self.rec.facts
        if facts.direction == "out":
            return self.mapping.get(facts.caller_ext or "")
        return next((self.mapping[e] for e in facts.ringing if e in self.mapping), None)

    def _responsible(self) -> str | None:
        answer = self.state.lookup.responsible(self.tenant, self.number, ringing=self.rec.facts.ringing,
                                               exclude_call=self.rec.unique_id, need_extension=False)
        return answer.employee_id if answer is not None else None
