"""The durable job table: enqueue, claim, finish. The runner (``runner.py``) drives it.

Rules the SQL keeps:

* a claim is a lease (``locked_until``, ``CLAIM_SECONDS`` or the kind's own ``lease_seconds``) that the
  runner's heartbeat renews: a worker that dies mid-job loses it and the reaper hands the job to any other
  worker (gunicorn's master does so at once for a worker it saw die, ``host_app.worker_exit``);
* jobs with the same ``key`` never run at once, and one tenant holds at most ``tenant_parallel``
  running jobs *per integration and lane* across the whole deployment, so a flood or a broken tenant
  cannot starve the others, a hanging plugin cannot hold back another plugin of the same tenant, and a
  plugin's slow background lane (JSON API follow-ups) cannot hold back its main lane (ringing cards);
* claims are serialised by a transaction-level advisory lock, so the two rules above hold across
  workers and machines (choosing the candidates and marking them running is one atomic step);
* retries are bounded (``max_attempts``, ``max_age``), also for a job whose worker keeps dying under
  it, and every state is visible in the table.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from psycopg2.extras import Json

from host_app.db import DbPool, dict_cursor
from host_app.integrations.contract import Job
from host_app.worker_exit import redrive

log = logging.getLogger(__name__)

BACKOFF_BASE = 2.0
BACKOFF_CAP = 300.0
WAITING_RECHECK_SECONDS = 600.0
# A claim lasts CLAIM_SECONDS unless renewed; the runner renews its claims every HEARTBEAT_SECONDS, so a
# live worker loses none even when two heartbeats in a row fail, and the jobs of a machine that vanished
# as a whole are re-driven within about CLAIM_SECONDS. A kind's own ``lease_seconds`` replaces
# CLAIM_SECONDS for its jobs and must leave the same room for missed heartbeats.
CLAIM_SECONDS = 30.0
MAIN_LANE = "main"  # jobs.lane's default: call events and whatever a plugin does not put elsewhere
HEARTBEAT_SECONDS = 10.0
MIN_LEASE_SECONDS = 2 * HEARTBEAT_SECONDS
# The claim's expiry for the row being updated: its kind's lease, else %(lease)s.
_CLAIM_UNTIL = """now() + make_interval(secs => coalesce(
    (SELECT l.secs FROM unnest(%(lease_kinds)s::text[], %(lease_secs)s::float8[]) AS l(kind, secs)
     WHERE l.kind = jobs.kind), %(lease)s))"""
_CLAIM_LOCK = 0x4D534A4F42  # "MSJOB": held while one claim statement runs (see ``claim``)
# Statement 2 takes its snapshot after statement 1 got the lock, so it sees every earlier claim: the
# chosen jobs are taken only if their key is still not running and their tenant still has room (a
# chosen job's turn within its tenant counts against the room), else they are left for later.
_TAKE_SQL = """
SELECT pg_advisory_xact_lock(%(lock)s);
WITH running AS (
    SELECT coalesce(enterprise_number, '') AS ent, integration, lane, count(*) AS n FROM jobs
    WHERE state = 'running' AND locked_until > now() GROUP BY 1, 2, 3),
wanted AS (
    SELECT j.id, coalesce(j.enterprise_number, '') AS ent, j.integration, j.lane,
           row_number() OVER (PARTITION BY coalesce(j.enterprise_number, ''), j.integration, j.lane
                              ORDER BY array_position(%(ids)s::bigint[], j.id)) AS turn
    FROM jobs j
    WHERE j.id = ANY(%(ids)s::bigint[]) AND j.state = 'pending'
      AND (j.key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs r WHERE r.key = j.key
                                        AND r.state = 'running' AND r.locked_until > now())))
UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = %(worker)s,
       locked_until = """ + _CLAIM_UNTIL + """, updated_at = now()
WHERE id IN (SELECT id FROM jobs WHERE state = 'pending' AND id IN (
                 SELECT w.id FROM wanted w LEFT JOIN running r
                     ON r.ent = w.ent AND r.integration = w.integration AND r.lane = w.lane
                 WHERE w.turn <= %(cap)s - coalesce(r.n, 0))
             FOR UPDATE SKIP LOCKED)
RETURNING *
"""


@contextmanager
def autocommit(conn: Any) -> Iterator[None]:
    """Run ``conn`` in autocommit for the block: each message is its own (implicit) transaction, so a
    single statement costs one round trip instead of three (BEGIN, statement, COMMIT)."""
    conn.autocommit = True
    try:
        yield
    finally:
        if not conn.closed:
            conn.autocommit = False  # the pool hands out connections in transaction mode


@dataclass(frozen=True)
class HandlerSpec:
    kind: str
    integration: str
    handler: Callable[[Job], None]
    max_attempts: int
    max_age: float
    lease_seconds: float | None  # the kind's claim length; None: CLAIM_SECONDS
    lane: str = MAIN_LANE  # the tenant cap counts per integration and lane


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with ±20 % jitter: 2, 4, 8 … capped at 5 minutes."""
    base = min(BACKOFF_CAP, BACKOFF_BASE ** max(1, attempts))
    return base * (rng or random).uniform(0.8, 1.2)


def row_to_job(row: Mapping[str, Any]) -> Job:
    return Job(id=row["id"], kind=row["kind"], integration=row["integration"],
               enterprise_number=row["enterprise_number"], key=row["key"], payload=row["payload"] or {},
               attempts=row["attempts"], created_at=row["created_at"])


class JobQueue:
    def __init__(self, db: DbPool, tenant_parallel: int = 4) -> None:
        self._db = db
        self.tenant_parallel = tenant_parallel
        self.handlers: dict[str, HandlerSpec] = {}
        self._wake: Callable[[Sequence[int]], None] | None = None

    # -- declaration -------------------------------------------------------------------------------

    def register(self, kind: str, handler: Callable[[Job], None], *, integration: str,
                 max_attempts: int = 8, max_age: float = 24 * 3600.0, lease_seconds: float | None = None,
                 lane: str = MAIN_LANE) -> None:
        if kind in self.handlers:
            raise ValueError(f"job kind {kind!r} is registered twice")
        if lease_seconds is not None and lease_seconds < MIN_LEASE_SECONDS:
            raise ValueError(f"lease_seconds of {kind!r} must be at least {MIN_LEASE_SECONDS:g} "
                             f"(the heartbeat renews claims every {HEARTBEAT_SECONDS:g} s)")
        self.handlers[kind] = HandlerSpec(kind, integration, handler, max_attempts, max_age, lease_seconds, lane)

    def _lease_params(self, default: float) -> dict[str, Any]:
        own = {kind: spec.lease_seconds for kind, spec in self.handlers.items() if spec.lease_seconds is not None}
        return {"lease_kinds": list(own), "lease_secs": list(own.values()), "lease": default}

    def set_waker(self, wake: Callable[[Sequence[int]], None] | None) -> None:
        self._wake = wake

    # -- producing ---------------------------------------------------------------------------------

    def job_defaults(self, kind: str, integration: str | None = None) -> tuple[str, int]:
        """(owning integration, max attempts) of a job of ``kind``, as ``enqueue`` stores them."""
        spec = self.handlers.get(kind)
        owner = integration or (spec.integration if spec else None)
        if owner is None:
            raise ValueError(f"unknown job kind {kind!r}")
        return owner, spec.max_attempts if spec else 8

    def enqueue(self, kind: str, payload: Mapping[str, Any], *, enterprise_number: str | None,
                key: str | None = None, delay: float = 0.0, dedupe: bool = False,
                conn: Any = None, integration: str | None = None) -> int | None:
        owner, max_attempts = self.job_defaults(kind, integration)
        spec = self.handlers.get(kind)
        sql = (
            "INSERT INTO jobs (integration, kind, enterprise_number, key, dedupe, payload, max_attempts, run_at, "
            "lane) VALUES (%s, %s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s), %s) "
            + ("ON CONFLICT (kind, key) WHERE state = 'pending' AND dedupe DO NOTHING " if dedupe else "")
            + "RETURNING id"
        )
        params = (owner, kind, enterprise_number, key, dedupe, Json(dict(payload)), max_attempts, delay,
                  spec.lane if spec else MAIN_LANE)
        if conn is not None:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                row = cur.fetchone()
            return row[0] if row else None
        with self._db.connection() as own, own.cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
        return row[0] if row else None

    def run_soon(self, job_ids: Sequence[int]) -> None:
        if self._wake is not None and job_ids:
            self._wake(list(job_ids))

    # -- claiming ----------------------------------------------------------------------------------

    def claim(self, limit: int, worker: str, *, ids: Sequence[int] | None = None,
              keys: Sequence[str] | None = None, lease_seconds: float = CLAIM_SECONDS) -> list[dict[str, Any]]:
        """Claim up to ``limit`` due jobs this process can run, fairly across tenants, for ``lease_seconds``
        (or the kind's own ``lease_seconds``).

        Choosing (turns across tenants, one job per key, the tenant cap) reads without any lock; taking
        re-checks the key and cap rules and marks the jobs running in one message, ``lock; update``,
        which PostgreSQL runs as one implicit transaction (autocommit). So the claim lock is held only
        while that statement runs on the server, never across a round trip to a worker: under load a
        worker is slow to send its next statement, and every other claimer queued behind the lock
        while holding a pool connection that the dispatch route was waiting for.
        """
        kinds = list(self.handlers)
        if limit <= 0 or not kinds:
            return []
        with self._db.connection() as conn, autocommit(conn):
            candidates = self._candidates(conn, kinds, limit, ids, keys)
            if not candidates:
                return []
            with dict_cursor(conn) as cur:
                cur.execute(_TAKE_SQL, {"lock": _CLAIM_LOCK, "ids": candidates, "cap": self.tenant_parallel,
                                        "worker": worker, **self._lease_params(lease_seconds)})
                return [dict(r) for r in cur.fetchall()]

    def _candidates(self, conn: Any, kinds: list[str], limit: int, ids: Sequence[int] | None,
                    keys: Sequence[str] | None = None) -> list[int]:
        cap = self.tenant_parallel
        with conn.cursor() as cur:
            cur.execute(
                "SELECT coalesce(enterprise_number, ''), integration, lane, count(*) FROM jobs "
                "WHERE state = 'running' AND locked_until > now() GROUP BY 1, 2, 3")
            running = {(ent, integration, lane): n for ent, integration, lane, n in cur.fetchall()}
            # Per tenant, integration and lane, its oldest due jobs whose key is not running right now.
            cur.execute(
                "SELECT c.id, coalesce(t.ent, ''), t.integration, t.lane, c.key FROM "
                " (SELECT DISTINCT enterprise_number AS ent, integration, lane FROM jobs "
                "   WHERE state = 'pending' AND run_at <= now() AND kind = ANY(%(kinds)s)"
                "   AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))"
                "   AND (%(keys)s::text[] IS NULL OR key = ANY(%(keys)s))) t, "
                " LATERAL (SELECT j.id, j.key FROM jobs j "
                "   WHERE j.enterprise_number IS NOT DISTINCT FROM t.ent "
                "     AND j.integration = t.integration AND j.lane = t.lane AND j.state = 'pending' "
                "     AND j.run_at <= now() AND j.kind = ANY(%(kinds)s) "
                "     AND (%(ids)s::bigint[] IS NULL OR j.id = ANY(%(ids)s)) "
                "     AND (%(keys)s::text[] IS NULL OR j.key = ANY(%(keys)s)) "
                "     AND (j.key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs r WHERE r.key = j.key "
                "          AND r.state = 'running' AND r.locked_until > now())) "
                "   ORDER BY j.run_at, j.id LIMIT %(cap)s) c",
                {"kinds": kinds, "ids": list(ids) if ids else None, "keys": list(keys) if keys else None,
                 "cap": cap},
            )
            rows = cur.fetchall()
        # Round-robin across tenants so each gets a turn before any gets a second one.
        per_tenant: dict[tuple[str, str, str], list[tuple[int, str | None]]] = {}
        for job_id, ent, integration, lane, key in rows:
            per_tenant.setdefault((ent, integration, lane), []).append((job_id, key))
        chosen: list[int] = []
        keys: set[str] = set()
        room = {group: cap - running.get(group, 0) for group in per_tenant}
        depth = 0
        while len(chosen) < limit and any(depth < len(v) for v in per_tenant.values()):
            for group, items in per_tenant.items():
                if depth >= len(items) or room[group] <= 0 or len(chosen) >= limit:
                    continue
                job_id, key = items[depth]
                if key is not None and key in keys:
                    continue
                if key is not None:
                    keys.add(key)
                chosen.append(job_id)
                room[group] -= 1
            depth += 1
        return chosen

    # -- finishing ---------------------------------------------------------------------------------

    def finish(self, job_id: int, worker: str) -> None:
        self._update(job_id, worker, "state = 'done', finished_at = now(), last_error = NULL")

    def fail(self, job_id: int, worker: str, error: str) -> None:
        self._update(job_id, worker, "state = 'failed', finished_at = now(), last_error = %s", (error[:2000],))

    def retry(self, job_id: int, worker: str, delay: float, error: str, *, count_attempt: bool) -> None:
        self._update(
            job_id, worker,
            "state = 'pending', run_at = now() + make_interval(secs => %s), last_error = %s, "
            "attempts = attempts - %s",
            (delay, error[:2000], 0 if count_attempt else 1),
        )

    def park(self, job_id: int, worker: str, reason: str) -> None:
        self._update(job_id, worker, "state = 'waiting', last_error = %s, attempts = attempts - 1",
                     (reason[:2000],))

    def _update(self, job_id: int, worker: str, assignments: str, params: tuple[Any, ...] = ()) -> None:
        with self._db.connection() as conn, conn.cursor() as cur:
            # "AND locked_by = worker": a job whose lease expired and was re-driven elsewhere is no
            # longer ours to finish.
            cur.execute(
                f"UPDATE jobs SET {assignments}, locked_by = NULL, locked_until = NULL, updated_at = now() "
                "WHERE id = %s AND state = 'running' AND locked_by = %s",
                (*params, job_id, worker),
            )

    def heartbeat(self, job_ids: Sequence[int], worker: str, lease_seconds: float = CLAIM_SECONDS) -> None:
        """Renew ``worker``'s claims on ``job_ids`` as ``claim`` made them (the kind's own lease wins)."""
        if not job_ids:
            return
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute(
                f"UPDATE jobs SET locked_until = {_CLAIM_UNTIL} "
                "WHERE id = ANY(%(ids)s) AND state = 'running' AND locked_by = %(worker)s",
                {"ids": list(job_ids), "worker": worker, **self._lease_params(lease_seconds)})

    def hand_back(self, job_ids: Sequence[int], worker: str) -> int:
        """Re-queue jobs ``worker`` ran but could not record the outcome of (the database was down then).

        Only while they are still ``worker``'s: a job whose claim expired meanwhile was re-driven by the
        reaper already. Attempts as in ``reap_stale``. Re-running is safe: handlers are idempotent.
        """
        if not job_ids:
            return 0
        with self._db.connection() as conn, conn.cursor() as cur:
            return redrive(cur, "id = ANY(%(ids)s) AND state = 'running' AND locked_by = %(worker)s",
                           {"why": "its outcome could not be recorded", "ids": list(job_ids), "worker": worker})

    def make_due(self) -> int:
        """Tests and tools: pull every delayed pending job forward to now."""
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("UPDATE jobs SET run_at = now() WHERE state = 'pending' AND run_at > now()")
            return int(cur.rowcount)

    def reap_stale(self) -> int:
        """Hand jobs whose worker died (lease expired) back to the queue.

        Every claim counted an attempt, so a job that kills its worker each time (a poison event) is
        failed once its attempts are spent instead of taking workers down forever.
        """
        with self._db.connection() as conn, conn.cursor() as cur:
            reaped = redrive(cur, "state = 'running' AND locked_until < now()", {"why": "expired claim"})
            # A job parked for a config change that landed while it was being parked would wait for
            # the next change; waking parked jobs now and then closes that gap (the handler parks
            # itself again at once, without any request, while its tenant is still marked).
            cur.execute(
                "UPDATE jobs SET state = 'pending', run_at = now(), updated_at = now() "
                "WHERE state = 'waiting' AND updated_at < now() - make_interval(secs => %s)",
                (WAITING_RECHECK_SECONDS,))
            return reaped

    def prune_done(self, older_than_days: int = 7) -> int:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM jobs WHERE state = 'done' "
                        "AND finished_at < now() - make_interval(days => %s)", (older_than_days,))
            return int(cur.rowcount)

    # -- visibility --------------------------------------------------------------------------------

    def counts(self, integration: str, enterprise_number: str | None = None) -> dict[str, int]:
        out = {"pending": 0, "running": 0, "waiting": 0, "failed": 0}
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT state, count(*) FROM jobs WHERE integration = %s "
                "AND (%s::text IS NULL OR enterprise_number = %s) AND state <> 'done' GROUP BY state",
                (integration, enterprise_number, enterprise_number))
            for state, n in cur.fetchall():
                out[state] = int(n)
        return out

    def all_counts(self) -> list[tuple[str, str, int]]:
        with self._db.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT integration, state, count(*) FROM jobs WHERE state <> 'done' GROUP BY 1, 2")
            return [(i, s, int(n)) for i, s, n in cur.fetchall()]

    def age_expired(self, row: Mapping[str, Any]) -> bool:
        spec = self.handlers.get(row["kind"])
        max_age = spec.max_age if spec else 24 * 3600.0
        created: dt.datetime = row["created_at"]
        return (dt.datetime.now(dt.timezone.utc) - created).total_seconds() > max_age
