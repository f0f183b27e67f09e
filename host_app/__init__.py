"""The integrations host: the plumbing every CRM plugin shares (see ``create_app``)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask

from host_app import errors
from host_app.auth import HostAuth
from host_app.background import BoundedSpawner, run_inline
from host_app.config_store import ConfigStore
from host_app.db import DbPool
from host_app.enterprises import EnterpriseDirectory
from host_app.events import EventStore
from host_app.integrations.cache import IntegrationCache
from host_app.integrations.contract import HostServices
from host_app.integrations.registry import load as load_integrations
from host_app.jobs import JobQueue, JobRunner
from host_app.journal import Journal
from host_app.json_values import StorableJSONProvider
from host_app.leases import Leases
from host_app.migrations import migration_sets_for, apply_migrations
from host_app.pbx import PbxRouter
from host_app.settings import load_settings
from host_app.shared_cache import SharedCache
from host_app.state import HostState, register_call_event_jobs, start_background

MAX_BODY = 1024 * 1024  # 1 MiB on every route (contract §4)

log = logging.getLogger(__name__)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the host. ``config`` overrides environment variables (same names), e.g. in tests."""
    environ = {**os.environ, **{k: v for k, v in (config or {}).items() if v is not None}}
    settings = load_settings(environ)
    registry = load_integrations(settings.integrations)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY,
        MAX_FORM_MEMORY_SIZE=MAX_BODY,
        SESSION_COOKIE_NAME="ms_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_is_https,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12),
        TESTING=settings.testing,
    )
    app.json = StorableJSONProvider(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    sets = migration_sets_for(registry)
    db = DbPool(
        settings.database_url, size=settings.db_pool_size, reserved=settings.db_pool_reserved,
        timeout=settings.db_pool_timeout,
        connect_timeout=settings.db_connect_timeout,
        on_first_connect=(lambda _pool: apply_migrations(settings.database_url, sets))
        if settings.auto_migrate else None,
    )
    jobs = JobQueue(db, tenant_parallel=settings.job_tenant_parallel)
    spawner = BoundedSpawner(settings.job_pool_size) if settings.background else None
    integration_cache = IntegrationCache(db, registry)
    config_store = ConfigStore(db)
    config_store.subscribe(lambda ent, _code: integration_cache.invalidate(ent))
    directory = EnterpriseDirectory(db)
    events = EventStore(db, jobs, integration_cache.active_codes)
    services = HostServices(
        db=db, config=config_store, enterprises=directory, journal=Journal(db), jobs=jobs,
        leases=Leases(db), cache=SharedCache(db), events=events,
        pbx=PbxRouter(pbx_config=directory.pbx_config),
        auth=HostAuth(settings, db),
        spawn=spawner.spawn if spawner is not None else run_inline,
        clock=time.time, environ=environ, public_base_url=settings.public_base_url,
        var_dir=settings.var_dir,
    )
    runner = JobRunner(jobs, spawner, poll_interval=settings.job_poll_interval)
    state = HostState(settings=settings, services=services, registry=registry,
                      integrations=integration_cache, runner=runner, events=events)
    app.extensions["host_app"] = state

    errors.init_app(app)
    from host_app.views import register_views

    register_views(app)
    register_call_event_jobs(state)
    for plugin in registry:
        plugin.init_app(app, services)
    if settings.background:
        start_background(state)
    return app
