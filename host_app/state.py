"""What one worker holds (``app.extensions["host_app"]``) and the background it starts."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from host_app.background import Loop
from host_app.db import background_work
from host_app.events import EventStore, call_event_kind
from host_app.integrations.cache import IntegrationCache
from host_app.integrations.contract import HostServices, Job, PermanentJobError
from host_app.integrations.registry import IntegrationRegistry
from host_app.jobs import JobRunner
from host_app.listener import ConfigListener
from host_app.settings import HostSettings

log = logging.getLogger(__name__)

MAINTENANCE_SECONDS = 300.0
LEASE_RELEASE_RETRY_SECONDS = 1.0


@dataclass
class HostState:
    settings: HostSettings
    services: HostServices
    registry: IntegrationRegistry
    integrations: IntegrationCache
    runner: JobRunner
    events: EventStore
    background: list[Any] = field(default_factory=list)


def host_state(app: Flask | None = None) -> HostState:
    return (app or current_app).extensions["host_app"]  # type: ignore[no-any-return]


def register_call_event_jobs(state: HostState) -> None:
    """One job kind per plugin, ``<code>.call_event``: the host's dispatch to that plugin."""
    for plugin in state.registry:
        def handle(job: Job, plugin: Any = plugin) -> None:
            event = state.events.get(int(job.payload["event_id"]))
            if event is None:
                raise PermanentJobError(f"event {job.payload.get('event_id')} no longer exists")
            plugin.handle_call_event(event)

        state.services.jobs.register(call_event_kind(plugin.code), handle, integration=plugin.code,
                                     max_attempts=10)


def _maintenance(state: HostState) -> None:
    with background_work():  # bulk deletes must not take the connections kept for requests
        _prune(state)


def _prune(state: HostState) -> None:
    services = state.services
    days = state.settings.journal_retention_days
    lease = services.leases.acquire("host:maintenance", 240)
    if lease is None:  # another worker does it this round
        return
    try:
        services.journal.prune(days)  # type: ignore[attr-defined]
        state.events.prune(days)
        state.runner.queue.prune_done()
        services.cache.prune()  # type: ignore[attr-defined]
        services.leases.prune()  # type: ignore[attr-defined]
    finally:
        lease.release()


def start_background(state: HostState) -> None:
    """Job runner, config listener and housekeeping; only in real workers (``HOST_BACKGROUND``)."""
    state.runner.start()
    cfg = state.services.config

    def on_change(ent: str, code: str) -> None:
        state.integrations.invalidate(ent)
        cfg.notify_local(ent, code)  # type: ignore[attr-defined]

    def on_reconnect() -> None:
        state.integrations.invalidate(None)
        cfg.notify_local("*", "*")  # type: ignore[attr-defined]

    listener = ConfigListener(state.settings.database_url, on_change, on_reconnect)
    listener.start()
    housekeeping = Loop("host-maintenance", lambda: _maintenance(state), MAINTENANCE_SECONDS)
    housekeeping.start()
    # Leases whose release failed while PostgreSQL was down; nothing to do (no query) when there are none.
    releases = Loop("lease-releases", state.services.leases.retry_releases,  # type: ignore[attr-defined]
                    LEASE_RELEASE_RETRY_SECONDS)
    releases.start()
    state.background.extend([listener, housekeeping, releases])


def stop_background(state: HostState, timeout: float = 25.0) -> None:
    for item in state.background:
        item.stop()
    state.runner.stop(timeout)
