"""The background originate of a click (job kind ``ms.originate``).

The AMI originate blocks until the employee's extension answers (up to ~30 s), so it never runs on the
webhook's request. Its outcome lands on the ``ms_originates`` row (``dialled`` or ``failed`` with the
PBX adapter's code) and in the journal (``click_to_call.originate``).

Ringing twice is worse than not ringing: an Originate that may have reached the PBX is never repeated.
``sent_at`` is committed before the PBX is contacted, so a re-run after a crash finds it and gives up, and
the only error retried is ``unreachable`` raised while *connecting* (nothing was sent). A click is also
not dialled once it is older than ``MAX_CLICK_AGE_S``: a phone that rings a minute after the user clicked
(a backlog after a restart) only confuses them.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from host_app.integrations.contract import Job, JournalEntry, PbxError, PermanentJobError, RetryLater
from ms_plugin.click_to_call import repo
from ms_plugin.click_to_call.names import sanitize_caller_name
from ms_plugin.click_to_call.service import CODE, JOB_KIND
from ms_plugin.state import PluginState

log = logging.getLogger(__name__)

MAX_CLICK_AGE_S = 45.0
RETRY_DELAYS_S = (1.0, 3.0)  # after a failed connect; the user is still looking at the screen
# Codes that mean the PBX or its settings are broken (the admin must look): the job ends ``failed`` so the
# tenant's status shows it. Anything else (busy, no answer, a value the adapter refused) is a call outcome.
_INFRA_CODES = frozenset(("unreachable", "timeout", "auth_failed", "not_configured"))
# Messages of the host's adapters for an ``unreachable`` raised before a single byte went to the PBX (the
# AMI connect, the HTTP connect timeout). ``unreachable`` is also raised when the connection drops later,
# possibly after the Originate was written; PbxError carries no "sent" flag, so the message decides.
_NOT_SENT_PREFIXES = ("cannot connect to the PBX", "the PBX control service did not accept the connection")


def register(state: PluginState) -> None:
    runner = OriginateJob(state)
    state.services.jobs.register(JOB_KIND, runner.run, integration=CODE, max_attempts=len(RETRY_DELAYS_S) + 2,
                                 max_age=15 * 60.0, lease_seconds=90.0)


def nothing_was_sent(exc: PbxError) -> bool:
    return exc.code == "unreachable" and exc.message.startswith(_NOT_SENT_PREFIXES)


class OriginateJob:
    def __init__(self, state: PluginState) -> None:
        self._state = state
        self._services = state.services

    def run(self, job: Job) -> None:
        ent = job.enterprise_number
        originate_id = int(job.payload["originate_id"])
        if ent is None:
            raise PermanentJobError("ms.originate job without an enterprise")
        with self._services.db.connection() as conn:
            peek = repo.get_originate(conn, ent, originate_id)
        if peek is None or peek["status"] != "pending":
            return  # the enterprise is gone, or the outcome is already recorded
        # The name first: the slow part stays outside the claim, so a worker that dies during the lookup
        # leaves a click that can still be dialled, not one that "may have rung".
        name = sanitize_caller_name(self._customer_name(ent, peek["dest_e164"]), fallback=peek["dest_e164"])
        row = self._claim(ent, originate_id)
        if row is None:
            return
        started = time.monotonic()
        try:
            attempt = self._services.pbx.originate(ent, row["extension"], row["dial_number"], name)
        except PbxError as exc:
            self._failed(ent, row, exc, name, _ms(started))
            return
        with self._services.db.connection() as conn:
            status = repo.finish_originate(conn, ent, originate_id, "dialled", attempt_id=attempt)
            self._journal(ent, row, "success", name, _ms(started), response={"attempt_id": attempt,
                                                                             "status": status}, conn=conn)

    def _claim(self, ent: str, originate_id: int) -> dict[str, Any] | None:
        """The row, marked as being sent (committed); None when there is nothing (more) to do."""
        with self._services.db.connection() as conn:
            row = repo.claim_for_send(conn, ent, originate_id)
            if row is None:
                current = repo.get_originate(conn, ent, originate_id)
                if current is not None and current["status"] == "pending" and current["sent_at"] is not None:
                    # A previous run handed it to the PBX and died before recording the outcome: the
                    # phone may have rung, so it is not tried again.
                    repo.finish_originate(conn, ent, originate_id, "failed", error_code="interrupted",
                                          error="the worker stopped during the originate; not repeated")
                    self._journal(ent, current, "error", None, None, error="interrupted: not repeated",
                                  conn=conn)
                return None
            if row["age_s"] > MAX_CLICK_AGE_S:
                repo.finish_originate(conn, ent, originate_id, "failed", error_code="expired",
                                      error=f"the click is {row['age_s']:.0f} s old; not dialled")
                self._journal(ent, row, "error", None, None, conn=conn,
                              error=f"expired: {row['age_s']:.0f} s after the click")
                return None
        return row

    def _failed(self, ent: str, row: dict[str, Any], exc: PbxError, name: str, duration_ms: int) -> None:
        originate_id = row["id"]
        attempt = int(row["attempts"])
        if nothing_was_sent(exc) and attempt <= len(RETRY_DELAYS_S):
            delay = RETRY_DELAYS_S[attempt - 1]
            if row["age_s"] + duration_ms / 1000 + delay < MAX_CLICK_AGE_S:
                with self._services.db.connection() as conn:
                    repo.release_claim(conn, ent, originate_id, exc.code, exc.message)
                log.info("click-to-call %s of %s: PBX unreachable (%s); retry %d in %.0f s", originate_id, ent,
                         exc.message, attempt, delay)
                raise RetryLater(delay, f"PBX unreachable: {exc.message}", count_attempt=True)
        with self._services.db.connection() as conn:
            repo.finish_originate(conn, ent, originate_id, "failed", error_code=exc.code, error=exc.message)
            self._journal(ent, row, "error", name, duration_ms, error=f"{exc.code}: {exc.message}",
                          response={"code": exc.code, "attempts": attempt}, conn=conn)
        log.warning("click-to-call %s of %s failed: %s (%s)", originate_id, ent, exc.code, exc.message)
        if exc.code in _INFRA_CODES:
            raise PermanentJobError(f"originate failed: {exc.code}: {exc.message}")

    def _customer_name(self, ent: str, e164: str) -> str | None:
        """The client's name for the handset, when a lookup service is there; never fails the call."""
        lookup = self._state.lookup
        if lookup is None:
            return None
        find = getattr(lookup, "customer_name_for", None) or getattr(lookup, "customer_name", None)
        if find is None:
            return None
        try:
            name = find(ent, e164)
        except Exception as exc:  # a lookup failure must not cost the call
            log.warning("click-to-call name lookup for %s failed: %s", ent, exc)
            return None
        return name if isinstance(name, str) else None

    def _journal(self, ent: str, row: dict[str, Any], status: str, name: str | None, duration_ms: int | None, *,
                 response: Any = None, error: str | None = None, conn: Any = None) -> None:
        request = {"originate_id": row["id"], "extension": row["extension"], "dial_number": row["dial_number"],
                   "employee_id": row["employee_id"], "caller_name": name}
        self._services.journal.write(JournalEntry(ent, CODE, "click_to_call.originate", status,
                                                  phone=row["dest_e164"], request=request, response=response,
                                                  error=error, duration_ms=duration_ms), conn=conn)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
