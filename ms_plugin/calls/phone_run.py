"""The card path of a call: Phone API writes (cards and the call record), in order, each recorded.

A write with card events goes out at once (the first card waits at most ``hot_lookup_ms`` for the
client lookup). A field-only write (the record of a call that showed no card, a client to link) waits
until the JSON follow-up has had its turn after the hangup, so that one request carries the client it
created; a follow-up that cannot finish (the JSON API is down) still lets the call be logged.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from host_app.integrations.contract import PermanentJobError, RetryLater, WaitForConfig
from ms_plugin.calls import metrics
from ms_plugin.calls.context import MAX_STEPS, CallContext
from ms_plugin.calls.followup import due_steps
from ms_plugin.calls.plan import PhoneWrite, next_write, possibly_shown
from ms_plugin.moysklad import errors as mserr
from ms_plugin.moysklad.errors import outage_retry_delay

log = logging.getLogger(__name__)

MAX_PHONE_FAILURES = 3
ABANDON_AFTER = dt.timedelta(hours=6)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class PhoneRun(CallContext):
    def drive(self) -> None:
        for _ in range(MAX_STEPS):
            write = self._next_write()
            if write is None or not (write.urgent or self.followup_settled()):
                break
            if write.create and write.urgent and self.json_possible and not self.rec.done.lookup_done:
                self._hot_lookup()
                write = self._next_write() or write
            self._send(write)
        self._maybe_finish()

    def followup_pending(self) -> bool:
        """JSON API work is due for this call (the caller enqueues the follow-up job)."""
        return self.json_possible and bool(due_steps(self.rec, self.tenant.config, hidden=self.hidden))

    def followup_settled(self) -> bool:
        return not self.followup_pending() or self.rec.done.followup_after_hangup

    def _next_write(self) -> PhoneWrite | None:
        return next_write(self.rec, self.view, now=_now(), hidden=self.hidden, number=self.display_number)

    def _hot_lookup(self) -> None:
        """The client for the first card, within the hot budget; past it the card goes without (MoySklad
        matches by number) and the lookup finishes in the background for the follow-up."""
        budget = self.state.settings.hot_lookup_ms / 1000.0
        result = self.state.lookup.find(self.tenant, self.number, budget=budget)
        done = self.rec.done
        if result.status == "found" and result.counterparty is not None:
            done.counterparty_id, done.lookup_done = result.counterparty.id, True
        elif result.status == "not_found":
            done.lookup_done = True

    # -- writes ------------------------------------------------------------------------------------

    def _send(self, write: PhoneWrite) -> None:
        phone, done = self.tenant.phone, self.rec.done
        try:
            if write.create:
                if self._created_earlier(write):
                    return
                # Recorded before the request: if the worker dies after MoySklad created the call but
                # before we saw the answer, the next run probes instead of creating it twice.
                done.create_attempted = True
                self.record()
                self._create(write)
            else:
                try:
                    phone.update_call_by_external_id(self.rec.unique_id, write.body)
                except mserr.NotFound:
                    # MoySklad lost the call (another account, a deleted test): create it again.
                    done.created = done.create_attempted = False
                    self.record()
                    return
        except mserr.AuthFailed as exc:
            self.state.tenants.mark_credentials_invalid(self.tenant, f"Phone API: {exc}")
            raise WaitForConfig("MoySklad refused the Phone API key") from exc
        except (mserr.RateLimited, mserr.LimiterBusy) as exc:
            raise RetryLater(max(0.2, exc.retry_after or 1.0), str(exc)) from exc
        except mserr.Unavailable as exc:
            # MoySklad is down (the client's own retries are spent; its circuit breaker keeps the retries
            # of every call cheap): try again soon, without using up the job's attempts, so that an outage
            # of any length loses no call and the backlog drains within seconds of MoySklad's return.
            # The job's max age still bounds it. (The client journaled each failed request.)
            metrics.STEP_FAILURES.labels("phone_write", "postponed").inc()
            raise RetryLater(outage_retry_delay(exc), f"MoySklad unavailable: {exc}") from exc
        except (mserr.Forbidden, mserr.FeatureUnavailable) as exc:
            self.state.tenants.mark_credentials_invalid(self.tenant, f"Phone API: {exc}")
            raise WaitForConfig(str(exc)) from exc
        except mserr.ValidationFailed as exc:
            metrics.STEP_FAILURES.labels("phone_write", "refused").inc()
            done.failures += 1
            self.record()
            self.journal("call.write_failed", "error", error=str(exc), response={"body": write.body})
            if done.failures >= MAX_PHONE_FAILURES:
                raise PermanentJobError(f"MoySklad keeps refusing this call: {exc}") from exc
            raise
        write.apply(done)
        for event in write.body.get("events", ()):
            metrics.CARD_EVENTS.labels(event["eventType"]).inc()
        self.record()

    def _created_earlier(self, write: PhoneWrite) -> bool:
        """A create already sent once without a recorded answer: does MoySklad have the call?

        If so, only the call is recorded, not its fields: they may predate what we know now (the hangup,
        the answerer), so the next write sends them (write-once fields MoySklad already has are ignored).
        Which cards it showed is unknown (it was planned from the facts of its time, and the call may
        have been answered and ended since): every extension it could have shown one to counts as shown,
        so that the call's end hides them (hiding a card never shown changes nothing), and the sequence
        moves past any the lost request could have used.
        """
        done = self.rec.done
        if not done.create_attempted:
            return False
        existing = self.tenant.phone.exists(self.rec.unique_id)
        if existing is None:
            return False
        done.created, done.ms_call_id = True, existing.id
        done.start_time_sent = (existing.start_time or "")[:19] or write.marks.get("start_time_sent")
        could = list(dict.fromkeys([*write.add_shown, *possibly_shown(self.rec.facts, self.view)]))
        done.shown += [x for x in could if x not in done.shown]
        # The lost request carried at most a SHOW and a HIDE per such extension and one STARTTIME.
        done.sequence = max(done.sequence + 2 * len(could) + 1, int(write.marks.get("sequence", 0)))
        self.journal("call.create_recovered", "success", response={"id": existing.id})
        self.record()
        return True

    def _create(self, write: PhoneWrite) -> None:
        phone = self.tenant.phone
        try:
            call = phone.create_call(write.body)
        except mserr.ValidationFailed as exc:
            if 3006 not in exc.codes:  # 3006: the externalId exists (an earlier create we lost)
                raise
            call = phone.update_call_by_external_id(self.rec.unique_id, _update_body(write.body))
        self.rec.done.ms_call_id = call.id

    def _maybe_finish(self) -> None:
        """Nothing left to write: an ended call is finished (its follow-up may still be due)."""
        rec = self.rec
        if rec.state == "finished" or not rec.facts.hung_up or self._next_write() is not None:
            return
        if not self.followup_settled():
            return
        if rec.done.shown and not rec.done.hide_all:
            return  # an "after" card is up: the stale-card sweeper hides it, then the call is finished
        rec.state = "finished"
        self.record()
        metrics.CALLS.labels(rec.facts.direction or "unknown",
                             "answered" if rec.facts.is_answered else "missed").inc()

    # -- stale cards -------------------------------------------------------------------------------

    def sweep(self) -> None:
        """Called for an open call untouched for the stale time: hide its cards; after long, close it."""
        rec, done = self.rec, self.rec.done
        if done.shown and not done.hide_all:
            body = {"events": [{"eventType": "HIDE_ALL", "sequence": done.sequence + 1}]}
            self._send(PhoneWrite(create=False, body=body, urgent=True,
                                  marks={"hide_all": True, "sequence": done.sequence + 1}))
            self.journal("card.stale_hidden", "success")
            self._maybe_finish()
            return
        updated = rec.updated_at or _now()
        if not rec.facts.hung_up and _now() - updated > ABANDON_AFTER:
            write = next_write(rec, self.view, now=_now(), hidden=self.hidden, number=self.display_number,
                               force_fields=True)
            if write is not None:
                self._send(write)
            rec.state = "finished"
            self.record()
            self.journal("call.abandoned", "skipped", error="no hangup arrived; closed with what is known")


def _update_body(create_body: dict[str, Any]) -> dict[str, Any]:
    """A create turned into an update: drop what PUT cannot change (externalId, number, isIncoming)."""
    return {k: v for k, v in create_body.items() if k not in ("externalId", "number", "isIncoming")}
