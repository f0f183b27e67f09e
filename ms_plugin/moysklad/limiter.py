"""MoySklad rate limits per credential, shared by every worker and machine through PostgreSQL.

Why a sliding window *log* and not a token bucket: a bucket of capacity C refilling at r/s admits
C + r*T requests in a window of length T, which breaks "at most 100 per 5 s in *any* window". The log
admits a request only when the requests of the last window (plus this one) fit, so no window ever holds
more than the capacity. The SQL (``migrations/0002_limits.sql``) keeps the log and the in-flight leases in
one table; see its header for why a request is stamped with its *completion* time (latency-proof).

Per key (``credential_key``: a short sha256, never the credential itself):

* Phone API: ``capacity`` requests per ``window`` (100 per 5 s minus a safety margin) and ``parallel``
  in flight (5); plus a deployment-wide in-flight cap (80; MoySklad allows 100 per IP).
* JSON API: 45 weighted units per 3 s (a user credential's request weighs 2/3/4 by MoySklad's schedule)
  and 5 in flight per user.
* A 429 puts the key into a **cooldown**: no worker sends anything for it until it ends.
* A **circuit breaker**: after N consecutive outages (5xx, timeouts, connection errors) the key is
  refused for 2 s, doubling up to 60 s; then one probe goes through; its success closes the circuit.

``acquire`` waits cooperatively (``time.sleep`` is cooperative under gevent) up to ``max_wait`` and then
raises :class:`LimiterBusy` so that a background job can defer instead of pinning a worker. A database
connection is only borrowed for each short function call, never across an HTTP request or a sleep.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import psycopg2

from host_app.integrations.contract import ApiError, Database
from ms_plugin.moysklad.errors import LimiterBusy
from ms_plugin.moysklad.settings import MsClientSettings

log = logging.getLogger(__name__)

PHONE_DEPLOYMENT_KEY = "phone:deployment"
Result = Literal["ok", "failure", "neutral"]
# Reasons whose wait is a worst case (a lease's expiry): slots usually free up far sooner, so poll.
_POLLED = frozenset({"parallel", "global_parallel", "circuit_half_open"})

__all__ = ["LimitSpec", "Slot", "PgLimiter", "LimitPolicy", "LimiterBusy", "Limiter", "credential_key",
           "PHONE_DEPLOYMENT_KEY"]


def credential_key(api: str, credential: str) -> str:
    """``"phone:3f2a9c0d5e7b41a8"``: 64 bits of sha256, enough to tell credentials apart, useless to
    recover one. For Basic auth pass the login (MoySklad limits per *user*, whatever the password)."""
    digest = hashlib.sha256(f"{api}\0{credential}".encode()).hexdigest()[:16]
    return f"{api}:{digest}"


@dataclass(frozen=True)
class LimitSpec:
    key: str
    window: float
    capacity: int  # units per window
    units: int  # this request's weight
    parallel: int
    global_key: str | None = None
    global_parallel: int = 0


@dataclass(frozen=True)
class Slot:
    key: str
    slot_id: int
    global_slot_id: int | None
    probe: bool  # the half-open circuit's single probe


class Limiter(Protocol):
    def acquire(self, spec: LimitSpec, *, max_wait: float, ttl: float) -> Slot: ...

    def release(self, slot: Slot, result: Result) -> None: ...

    def cooldown(self, key: str, seconds: float) -> float: ...


class LimitPolicy:
    """Builds the :class:`LimitSpec` of a request from the settings (the JSON weight follows the date)."""

    def __init__(self, settings: MsClientSettings, wall_clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._wall = wall_clock

    def phone(self, key: str) -> LimitSpec:
        s = self.settings
        return LimitSpec(key, s.phone_rate_window, s.phone_capacity, 1, s.phone_parallel,
                         PHONE_DEPLOYMENT_KEY, s.phone_deployment_parallel)

    def json(self, key: str) -> LimitSpec:
        s = self.settings
        units = min(s.json_weight_on(self._wall()), s.json_capacity)
        return LimitSpec(key, s.json_window, s.json_capacity, units, s.json_parallel)


class PgLimiter:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] | None = None,
        circuit_threshold: int = 5,
        circuit_base: float = 2.0,
        circuit_max: float = 60.0,
        poll: float = 0.05,
        holder: str | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        """``clock``: epoch seconds for the SQL functions; ``None`` uses PostgreSQL's clock (one clock
        for every machine). ``monotonic`` times ``max_wait`` (defaults to ``clock`` when one is given)."""
        self._db = db
        self._clock = clock
        self._sleep = sleep
        self._mono = monotonic or clock or time.monotonic
        self.circuit_threshold = circuit_threshold
        self.circuit_base = circuit_base
        self.circuit_max = circuit_max
        self.poll = poll
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self._rng = rng

    @classmethod
    def from_settings(cls, db: Database, settings: MsClientSettings, **kw: Any) -> PgLimiter:
        return cls(db, circuit_threshold=settings.circuit_threshold, circuit_base=settings.circuit_base,
                   circuit_max=settings.circuit_max, poll=settings.limiter_poll, **kw)

    def _now(self) -> float | None:
        return self._clock() if self._clock is not None else None

    # -- operations -----------------------------------------------------------------------------

    def acquire(self, spec: LimitSpec, *, max_wait: float, ttl: float) -> Slot:
        """A slot for one request of ``spec.key``, waiting at most ``max_wait`` seconds.

        Raises :class:`LimiterBusy` (with ``retry_after``) when the key is cooling down after a 429, its
        circuit is open, or the window/slots stay full past ``max_wait``; also when PostgreSQL is
        unreachable (sending without the shared limits could break them).
        """
        if spec.units > spec.capacity:
            raise ValueError(f"a request of {spec.units} units can never fit a capacity of {spec.capacity}")
        deadline = self._mono() + max(0.0, max_wait)
        while True:
            row = self._acquire_once(spec, ttl)
            granted, slot_id, global_slot_id, wait, reason, probe = row
            if granted:
                return Slot(spec.key, int(slot_id), int(global_slot_id) if global_slot_id else None, bool(probe))
            wait = max(0.0, float(wait or 0.0))
            remaining = deadline - self._mono()
            if reason in _POLLED:
                if remaining <= 0:
                    raise LimiterBusy(max(self.poll, min(wait, 1.0)), reason, spec.key)
                nap = min(wait, remaining, self.poll * (1.0 + self._rng()))
            else:
                if wait > remaining:
                    raise LimiterBusy(wait, reason, spec.key)
                # A window's wait may be overestimated by in-flight requests (counted until they end):
                # re-check at least every second. A small jitter spreads waiters of the same edge.
                nap = wait if reason != "window" else min(wait, 1.0)
                nap = min(remaining, nap + self.poll * self._rng() * 0.5)
            self._sleep(max(nap, 0.001))

    def _acquire_once(self, spec: LimitSpec, ttl: float) -> tuple[Any, ...]:
        try:
            with self._db.connection() as conn, conn.cursor() as cur:
                cur.execute(
                    "SELECT granted, slot_id, global_slot_id, wait, reason, probe FROM ms_limiter_acquire("
                    "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (spec.key, spec.window, spec.capacity, spec.units, spec.parallel, spec.global_key,
                     spec.global_parallel, ttl, self.holder, self._now()))
                row = cur.fetchone()
        except (psycopg2.Error, ApiError) as exc:
            log.warning("MoySklad limiter unavailable (%s): deferring the request", type(exc).__name__)
            raise LimiterBusy(2.0, "limiter_unavailable", spec.key) from exc
        return tuple(row)

    def release(self, slot: Slot, result: Result) -> None:
        """Give the slot back; ``result`` feeds the circuit breaker. Never raises: a lost release only
        keeps the slot until its lease expires."""
        try:
            with self._db.connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT ms_limiter_release(%s, %s, %s, %s, %s, %s, %s, %s)",
                            (slot.key, slot.slot_id, slot.global_slot_id, result, self.circuit_threshold,
                             self.circuit_base, self.circuit_max, self._now()))
        except Exception as exc:
            log.warning("MoySklad limiter release failed (%s); the slot expires by itself", type(exc).__name__)

    def cooldown(self, key: str, seconds: float) -> float:
        """Pause ``key`` for every worker (after a 429). Returns the pause's end (epoch seconds), or
        0.0 when PostgreSQL is unreachable (the caller still backs off locally)."""
        try:
            with self._db.connection() as conn, conn.cursor() as cur:
                cur.execute("SELECT ms_limiter_cooldown(%s, %s, %s)", (key, seconds, self._now()))
                return float(cur.fetchone()[0])
        except Exception as exc:
            log.warning("MoySklad limiter cooldown failed (%s)", type(exc).__name__)
            return 0.0

    def state(self, key: str, window: float) -> dict[str, Any]:
        """What the limiter knows of ``key`` now (tests, health pages)."""
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "WITH n AS (SELECT coalesce(%s, extract(epoch FROM clock_timestamp())) AS now) "
                "SELECT (SELECT count(*) FROM ms_limit_requests r, n WHERE r.key = %s AND r.done_at IS NULL "
                "         AND r.expires_at > n.now), "
                "       (SELECT coalesce(sum(units), 0) FROM ms_limit_requests r, n WHERE r.key = %s "
                "         AND coalesce(r.done_at, r.expires_at) > n.now - %s), "
                "       k.cooldown_until, k.failures, k.circuit_open_until, k.circuit_interval, n.now "
                "FROM n LEFT JOIN ms_limit_keys k ON k.key = %s",
                (self._now(), key, key, window, key))
            in_flight, units, cooldown_until, failures, open_until, interval, now = cur.fetchone()
        return {"in_flight": int(in_flight), "units_in_window": int(units), "cooldown_until": cooldown_until,
                "failures": int(failures or 0), "circuit_open_until": open_until, "circuit_interval": interval,
                "now": now}
