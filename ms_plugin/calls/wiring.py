"""Wires the call flow into the worker: job kinds and internal routes."""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from flask import Flask

from host_app.integrations.contract import Job
from ms_plugin.calls import repo
from ms_plugin.calls.flow import FOLLOWUP_KIND, SYNC_KIND, CallFlow

log = logging.getLogger(__name__)

SWEEPER_KIND = "ms.sweeper"


class Sweeper:
    """A durable job that re-enqueues itself: hides stale cards and closes abandoned calls.

    It is started lazily by the first call event a worker sees (no I/O at import or init), and the
    dedupe key keeps exactly one pending sweeper for the whole deployment.
    """

    def __init__(self, state: Any, flow: CallFlow) -> None:
        self.state = state
        self.flow = flow
        self._ensured_at = 0.0

    def ensure(self) -> None:
        if time.monotonic() - self._ensured_at < 600:
            return
        self._ensured_at = time.monotonic()
        self.state.services.jobs.enqueue(SWEEPER_KIND, {}, enterprise_number=None, key="ms:sweeper",
                                         delay=self.state.settings.sweep_interval_s, dedupe=True)

    def run(self, job: Job) -> None:
        settings = self.state.settings
        older = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=settings.stale_card_minutes)
        with self.state.services.db.connection() as conn:
            stale = repo.stale_open(conn, older)
        for ent, unique_id in stale:
            self.state.services.jobs.enqueue("ms.sweep_call", {"unique_id": unique_id}, enterprise_number=ent,
                                             key=f"ms:{ent}:{unique_id}", dedupe=True)
        self.state.services.jobs.enqueue(SWEEPER_KIND, {}, enterprise_number=None, key="ms:sweeper",
                                         delay=settings.sweep_interval_s, dedupe=True)


def init(state: Any, app: Flask) -> None:
    flow = CallFlow(state)
    state.flow = flow
    sweeper = Sweeper(state, flow)
    state.extras["sweeper"] = sweeper
    jobs = state.services.jobs
    jobs.register("ms.reprocess_call", lambda job: flow.reprocess(str(job.enterprise_number),
                                                                  str(job.payload["unique_id"])),
                  integration="ms")
    jobs.register("ms.promote_pending", lambda job: flow.promote_pending(str(job.enterprise_number),
                                                                         str(job.payload["unique_id"])),
                  integration="ms")
    jobs.register("ms.sweep_call", lambda job: flow.sweep_call(str(job.enterprise_number),
                                                               str(job.payload["unique_id"])),
                  integration="ms")
    # Follow-ups wait on the JSON API (a client search may take seconds): a lane of their own, so that a
    # tenant's running-job cap, full of them, never delays the card of a call that is ringing now.
    jobs.register(FOLLOWUP_KIND, lambda job: flow.followup(str(job.enterprise_number), str(job.payload["unique_id"])),
                  integration="ms", max_attempts=10, lane="json_api")
    jobs.register(SYNC_KIND, lambda job: flow.sync(str(job.enterprise_number), str(job.payload["unique_id"])),
                  integration="ms", max_attempts=10)
    jobs.register(SWEEPER_KIND, sweeper.run, integration="ms", max_attempts=3)
    from ms_plugin.calls import views  # noqa: F401  (routes on the ms blueprint)
